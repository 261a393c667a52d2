/**
 * Issue #18.1, log streams, against real destinations on loopback (test/streams/receivers.ts,
 * started by test/streams/global-setup.ts): an HTTP receiver told to fail, go down or answer
 * slowly; an HTTPS one with a certificate for another host; s3rver (an S3-compatible server that
 * checks SigV4). Streams are created, changed and resumed through the API, and delivered by the
 * tenant's LogStreams object on its own alarm.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it, vi } from "vitest";
import { fromBase64, toBase64, utf8 } from "../../src/core/bytes";
import { entryLeafHash } from "../../src/core/entry";
import type { LogStreams } from "../../src/durable/log-streams";
import { StreamStore } from "../../src/durable/stream-store";
import { api, bearer, dbOf, event, logOf, mirroredDbOf, postEvent, tenantWithKeys, type Session } from "./helpers";

const receiver = () => inject("streamReceiver");
const json = { "content-type": "application/json" };

interface Status {
  id: string;
  cursor: number;
  delivered: number;
  lag_entries: number;
  lag_seconds: number;
  paused: boolean;
  failures: number;
  last_error: string | null;
  destination: Record<string, unknown>;
}
interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
  status: number;
}

let channels = 0;
const channelName = (what: string) => `${what}-${Date.now().toString(36)}-${channels++}`;
const control = (channel: string, cmd: object) =>
  fetch(`${receiver()}/control/${channel}`, { method: "POST", body: JSON.stringify(cmd) }).then((r) => r.text());
const received = async (channel: string): Promise<Received[]> => (await fetch(`${receiver()}/log/${channel}`)).json();

const createStream = async (owner: Session, tenant: string, body: object) => {
  const res = await api(`/v1/tenants/${tenant}/streams`, {
    method: "POST",
    headers: { ...json, ...bearer(owner) },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    body: (await res.json()) as { stream: Status; secret?: string; receipt: { seq: number }; error?: { code: string; message: string } },
  };
};
const streamOf = async (owner: Session, tenant: string, id: string): Promise<Status> =>
  (await api(`/v1/tenants/${tenant}/streams/${id}`, { headers: bearer(owner) })).json();

async function appendMany(tenant: string, key: string, n: number, tag: string) {
  for (let i = 0; i < n; i += 100) {
    const count = Math.min(100, n - i);
    const res = await postEvent(tenant, key, { events: Array.from({ length: count }, (_, j) => event({ metadata: { tag, i: i + j } })) });
    expect(res.status).toBe(201);
  }
}

const logSize = async (owner: Session, tenant: string) =>
  ((await (await api(`/v1/tenants/${tenant}/stats`, { headers: bearer(owner) })).json()) as { size: number }).size;

/** An independent Standard Webhooks check (WebCrypto HMAC-SHA256, not the code under test). */
async function signatureValid(secret: string, r: Received): Promise<boolean> {
  const key = await crypto.subtle.importKey("raw", fromBase64(secret.slice("whsec_".length))!, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const signed = `${r.headers["webhook-id"]}.${r.headers["webhook-timestamp"]}.${r.body}`;
  const mac = toBase64(new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8(signed))));
  return r.headers["webhook-signature"]!.split(" ").includes(`v1,${mac}`);
}

interface NativeBody {
  type: string;
  data: { stream: string; from: number; to: number; entries: { seq: number; leaf_hash: string; entry: string }[] };
}

/** The s3rver bucket's keys under `prefix` (ListObjectsV2, unsigned: s3rver allows it). */
async function s3Keys(prefix: string): Promise<string[]> {
  const xml = await (await fetch(`${inject("s3Endpoint")}/streams?list-type=2&prefix=${encodeURIComponent(prefix)}`)).text();
  return [...xml.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]!);
}
async function gunzip(bytes: ArrayBuffer): Promise<string> {
  return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
}
const S3_DESTINATION = (endpoint: string) => ({
  type: "s3",
  endpoint,
  bucket: "streams",
  region: "us-east-1",
  access_key_id: "S3RVER",
  secret_access_key: "S3RVER",
});

describe("webhook streams", () => {
  it("deliver every entry in order across a receiver outage (webhook and S3): duplicates carry the same webhook-id, signatures verify", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const channel = channelName("outage");
    const bucketChannel = channelName("outage-s3");
    await control(channel, { fail: 2 });
    await control(bucketChannel, { fail: 2 });
    const created = await createStream(owner, tenant, {
      name: "siem",
      destination: { type: "webhook", url: `${receiver()}/r/${channel}` },
    });
    expect(created.status).toBe(201);
    const { stream, secret, receipt } = created.body;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(stream.cursor).toBe(receipt.seq);
    // The same log to an S3-compatible bucket behind a proxy that can go down (receivers.ts).
    const bucket = await createStream(owner, tenant, {
      destination: S3_DESTINATION(`${receiver()}/s3/${bucketChannel}`),
      start: "beginning",
    });
    expect(bucket.status).toBe(201);
    await appendMany(tenant, appendKey, 1000, "a");
    await control(channel, { down: true });
    await control(bucketChannel, { down: true });
    await appendMany(tenant, appendKey, 1000, "b");
    await vi.waitFor(
      async () => {
        expect((await received(channel)).filter((r) => r.status === 503).length).toBeGreaterThan(3);
        expect((await received(bucketChannel)).filter((r) => r.status === 503).length).toBeGreaterThan(3);
      },
      { timeout: 20_000, interval: 200 },
    );
    await control(channel, { down: false });
    await control(bucketChannel, { down: false });
    const size = await logSize(owner, tenant);
    await vi.waitFor(
      async () => {
        expect((await streamOf(owner, tenant, stream.id)).cursor).toBe(size);
        expect((await streamOf(owner, tenant, bucket.body.stream.id)).cursor).toBe(size);
      },
      { timeout: 40_000, interval: 250 },
    );

    // S3: objects named by their ranges, in key order, hold every entry from 0, gzipped, in order.
    const keys = await s3Keys(`sealtrail/${tenant}/${bucket.body.stream.id}/`);
    expect([...keys].sort()).toEqual(keys);
    const stored: number[] = [];
    for (const key of keys) {
      const text = await gunzip(await (await fetch(`${inject("s3Endpoint")}/streams/${key}`)).arrayBuffer());
      for (const line of text.trim().split("\n")) stored.push((JSON.parse(line) as { seq: number }).seq);
    }
    expect(stored).toEqual(Array.from({ length: size }, (_, i) => i));

    const all = await received(channel);
    const ok = all.filter((r) => r.status === 200);
    // Every attempt is signed, and each batch id always names the same body.
    const bodies = new Map<string, string>();
    for (const r of all) {
      expect(await signatureValid(secret!, r)).toBe(true);
      const id = r.headers["webhook-id"]!;
      if (bodies.has(id)) expect(r.body).toBe(bodies.get(id));
      bodies.set(id, r.body);
    }
    // Failed attempts were retried with the same id.
    const failedIds = new Set(all.filter((r) => r.status === 503).map((r) => r.headers["webhook-id"]));
    const okIds = new Set(ok.map((r) => r.headers["webhook-id"]));
    for (const id of failedIds) expect(okIds.has(id)).toBe(true);
    // Nothing lost, nothing reordered: acknowledged batches, deduplicated by id, are contiguous from the creation entry.
    const seen = new Set<string>();
    const seqs: number[] = [];
    for (const r of ok) {
      if (seen.has(r.headers["webhook-id"]!)) continue;
      seen.add(r.headers["webhook-id"]!);
      const body = JSON.parse(r.body) as NativeBody;
      expect(body.type).toBe("sealtrail.entries");
      expect(r.headers["webhook-id"]).toBe(`msg_${stream.id}_${body.data.from}_${body.data.to}`);
      for (const e of body.data.entries) {
        // The stored bytes as they are: the leaf hash is computed from them.
        expect(toBase64(entryLeafHash(e.entry))).toBe(e.leaf_hash);
        expect((JSON.parse(e.entry) as { seq: number }).seq).toBe(e.seq);
        seqs.push(e.seq);
      }
    }
    expect(seqs).toEqual(Array.from({ length: size - receipt.seq }, (_, i) => receipt.seq + i));
    const after = await streamOf(owner, tenant, stream.id);
    expect(after).toMatchObject({ paused: false, failures: 0, lag_entries: 0, delivered: size - receipt.seq });
    expect(after.last_error).toMatch(/HTTP 503/);
  });

  it("time out a slow receiver and retry the same batch", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const channel = channelName("slow");
    await control(channel, { delayMs: 3_000, delays: 1 });
    const { body } = await createStream(owner, tenant, {
      destination: { type: "webhook", url: `${receiver()}/r/${channel}` },
      timeout_seconds: 1,
    });
    await appendMany(tenant, appendKey, 10, "slow");
    const size = await logSize(owner, tenant);
    await vi.waitFor(async () => expect((await streamOf(owner, tenant, body.stream.id)).cursor).toBe(size), {
      timeout: 20_000,
      interval: 200,
    });
    const s = await streamOf(owner, tenant, body.stream.id);
    expect(s.last_error).toBe("timed out");
    // The slow answer arrives (and is logged by the receiver) after the retry's: the first batch
    // was sent twice, with the same webhook-id (how many batches follow depends on timing).
    const first = `msg_${body.stream.id}_${body.receipt.seq}_`;
    const firstIds = async () => (await received(channel)).map((r) => r.headers["webhook-id"]!).filter((id) => id.startsWith(first));
    await vi.waitFor(async () => expect((await firstIds()).length).toBe(2), { timeout: 10_000 });
    expect(new Set(await firstIds()).size).toBe(1);
  });

  it("never hold appends back: entries are committed while a delivery hangs at the receiver", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const channel = channelName("hang");
    await control(channel, { delayMs: 15_000, delays: 1 });
    const { body } = await createStream(owner, tenant, {
      destination: { type: "webhook", url: `${receiver()}/r/${channel}` },
      timeout_seconds: 30,
    });
    const inflight = async () => Number(await (await fetch(`${receiver()}/inflight/${channel}`)).text());
    await vi.waitFor(async () => expect(await inflight()).toBe(1), { timeout: 10_000, interval: 100 });
    const before = await logSize(owner, tenant);
    await appendMany(tenant, appendKey, 200, "hang");
    expect(await logSize(owner, tenant)).toBe(before + 200);
    // The delivery is still held by the receiver: the appends did not wait for it.
    expect(await inflight()).toBe(1);
    expect((await streamOf(owner, tenant, body.stream.id)).cursor).toBe(body.receipt.seq);
  });

  it("show a clear error for a certificate that is self-signed and for another host", async () => {
    const { owner, tenant } = await tenantWithKeys();
    const { body } = await createStream(owner, tenant, { destination: { type: "webhook", url: `${inject("streamTlsReceiver")}/hook` } });
    await vi.waitFor(async () => expect((await streamOf(owner, tenant, body.stream.id)).last_error).not.toBeNull(), {
      timeout: 20_000,
      interval: 200,
    });
    const s = await streamOf(owner, tenant, body.stream.id);
    expect(s.last_error).toMatch(/^could not connect over TLS \(is the certificate valid for this host\?\) or the network failed/);
    expect(s.cursor).toBe(body.receipt.seq);
  });
});

describe("S3-compatible streams", () => {
  it("put gzipped JSONL objects whose keys sort by seq, in order, SigV4-signed", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const { status, body } = await createStream(owner, tenant, {
      destination: S3_DESTINATION(inject("s3Endpoint")),
      format: "cloudevents",
    });
    expect(status).toBe(201);
    expect(body.secret).toBeUndefined();
    await appendMany(tenant, appendKey, 300, "s3");
    const size = await logSize(owner, tenant);
    await vi.waitFor(async () => expect((await streamOf(owner, tenant, body.stream.id)).cursor).toBe(size), {
      timeout: 30_000,
      interval: 250,
    });
    const keys = await s3Keys(`sealtrail/${tenant}/${body.stream.id}/`);
    expect(keys.length).toBeGreaterThan(0);
    expect([...keys].sort()).toEqual(keys);
    const seqs: number[] = [];
    for (const key of keys) {
      const res = await fetch(`${inject("s3Endpoint")}/streams/${key}`);
      const bytes = await res.arrayBuffer();
      expect([...new Uint8Array(bytes).slice(0, 2)]).toEqual([0x1f, 0x8b]); // gzip
      for (const line of (await gunzip(bytes)).trim().split("\n")) {
        const ce = JSON.parse(line) as {
          specversion: string;
          id: string;
          source: string;
          sequence: string;
          type: string;
          data: { seq: number };
        };
        expect(ce).toMatchObject({ specversion: "1.0", id: `${tenant}:${ce.data.seq}`, source: `sealtrail.localhost/${tenant}` });
        expect(ce.sequence).toBe(String(ce.data.seq));
        seqs.push(ce.data.seq);
      }
    }
    expect(seqs).toEqual(Array.from({ length: size - body.receipt.seq }, (_, i) => body.receipt.seq + i));
  });

  it("show the bucket's refusal of unknown credentials as the stream's last error", async () => {
    const { owner, tenant } = await tenantWithKeys();
    const { body } = await createStream(owner, tenant, {
      destination: { ...S3_DESTINATION(inject("s3Endpoint")), access_key_id: "NOT-A-KEY" },
    });
    // s3rver checks the access key id of a SigV4 request (not the signature itself: aws4fetch computes that).
    await vi.waitFor(
      async () => expect((await streamOf(owner, tenant, body.stream.id)).last_error ?? "").toMatch(/HTTP 403.*InvalidAccessKeyId/s),
      {
        timeout: 20_000,
        interval: 200,
      },
    );
  });
});

describe("Splunk HEC and Datadog streams", () => {
  it("Splunk: batched HEC events with the token; OCSF records by class", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const channel = channelName("splunk");
    const { body } = await createStream(owner, tenant, {
      destination: { type: "splunk", url: `${receiver()}/r/${channel}`, token: "hec-token-1", index: "audit" },
      format: "ocsf",
    });
    await postEvent(tenant, appendKey, event({ action: "user.login" }));
    await postEvent(tenant, appendKey, event({ action: "invoice.created" }));
    const size = await logSize(owner, tenant);
    await vi.waitFor(async () => expect((await streamOf(owner, tenant, body.stream.id)).cursor).toBe(size), {
      timeout: 20_000,
      interval: 200,
    });
    const reqs = (await received(channel)).filter((r) => r.status === 200);
    expect(reqs.every((r) => r.path === `/r/${channel}/services/collector/event` && r.headers.authorization === "Splunk hec-token-1")).toBe(
      true,
    );
    const events = reqs.flatMap((r) => r.body.split("\n").map((l) => JSON.parse(l) as { index: string; event: Record<string, unknown> }));
    expect(events.every((e) => e.index === "audit")).toBe(true);
    const byAction = new Map(events.map((e) => [(e.event.unmapped as { sealtrail: { action: string } }).sealtrail.action, e.event]));
    expect(byAction.get("sealtrail.stream.created")).toMatchObject({ class_uid: 6003, activity_id: 1, type_uid: 600301 });
    expect(byAction.get("user.login")).toMatchObject({ class_uid: 3002, activity_id: 1, type_uid: 300201, status_id: 1 });
    expect(byAction.get("invoice.created")).toMatchObject({ class_uid: 6003, api: { operation: "invoice.created" } });
  });

  it("personal fields leave a stream encrypted, in every format: the destination never holds a plaintext erasure could not reach", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const put = await api(`/v1/tenants/${tenant}/settings`, {
      method: "PUT",
      headers: { ...json, ...bearer(owner) },
      body: JSON.stringify({ personal_fields: ["metadata.email"] }),
    });
    expect(put.status).toBe(200);
    const sinks = ["native", "cloudevents", "ocsf"].map((format) => ({ format, channel: channelName(`personal-${format}`) }));
    const ids: string[] = [];
    for (const { format, channel } of sinks) {
      const { status, body } = await createStream(owner, tenant, {
        destination: { type: "webhook", url: `${receiver()}/r/${channel}` },
        format,
      });
      expect(status).toBe(201);
      ids.push(body.stream.id);
    }
    await postEvent(tenant, appendKey, event({ action: "user.login", metadata: { email: "ada.personal@example.org" } }));
    const size = await logSize(owner, tenant);
    for (const id of ids) {
      await vi.waitFor(async () => expect((await streamOf(owner, tenant, id)).cursor).toBe(size), { timeout: 20_000, interval: 200 });
    }
    for (const { channel } of sinks) {
      const bodies = (await received(channel)).filter((r) => r.status === 200).map((r) => r.body);
      const all = bodies.join("\n");
      expect(all).toContain("user.login");
      expect(all).toContain("sealtrail:enc:v1:");
      expect(all).not.toContain("ada.personal@example.org");
    }
  });

  it("entries below the tenant's retention floor are skipped, never sent: a stream from the beginning starts at the floor", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    await appendMany(tenant, appendKey, 30, "floor");
    // The floor row the retention sweep writes first (migrations/0009), here without the sweep.
    await (await mirroredDbOf(tenant))
      .prepare("INSERT INTO retention_floor (tenant_id, floor, set_at) VALUES (?, ?, ?)")
      .bind(tenant, 12, Date.now())
      .run();
    const channel = channelName("floor");
    const { body } = await createStream(owner, tenant, {
      destination: { type: "webhook", url: `${receiver()}/r/${channel}` },
      start: "beginning",
    });
    const size = await logSize(owner, tenant);
    await vi.waitFor(async () => expect((await streamOf(owner, tenant, body.stream.id)).cursor).toBe(size), {
      timeout: 20_000,
      interval: 200,
    });
    const seqs = (await received(channel))
      .filter((r) => r.status === 200)
      .flatMap((r) => (JSON.parse(r.body) as { data: { entries: { seq: number }[] } }).data.entries.map((e) => e.seq));
    expect(seqs[0]).toBe(12);
    expect(seqs).toEqual(Array.from({ length: size - 12 }, (_, i) => 12 + i));
  });

  it("Datadog: a JSON array to /api/v2/logs with DD-API-KEY", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const channel = channelName("dd");
    const { body } = await createStream(owner, tenant, {
      destination: { type: "datadog", url: `${receiver()}/r/${channel}`, api_key: "dd-key-1", service: "billing" },
    });
    await postEvent(tenant, appendKey, event());
    const size = await logSize(owner, tenant);
    await vi.waitFor(async () => expect((await streamOf(owner, tenant, body.stream.id)).cursor).toBe(size), {
      timeout: 20_000,
      interval: 200,
    });
    const reqs = (await received(channel)).filter((r) => r.status === 200);
    expect(reqs.every((r) => r.path === `/r/${channel}/api/v2/logs` && r.headers["dd-api-key"] === "dd-key-1")).toBe(true);
    const logs = reqs.flatMap((r) => JSON.parse(r.body) as { ddsource: string; service: string; seq: number; message: string }[]);
    expect(logs.map((l) => l.seq)).toEqual(Array.from({ length: size - body.receipt.seq }, (_, i) => body.receipt.seq + i));
    expect(logs[0]).toMatchObject({ ddsource: "sealtrail", service: "billing" });
    expect((JSON.parse(logs[0]!.message) as { seq: number }).seq).toBe(body.receipt.seq);
  });
});

describe("hostile destinations", () => {
  it("are refused at creation: private, link-local, metadata, credentials in the URL", async () => {
    const { owner, tenant } = await tenantWithKeys();
    for (const url of [
      "http://10.0.0.7/hook",
      "http://192.168.1.2/hook",
      "http://169.254.169.254/latest/meta-data",
      "http://[fe80::1]/hook",
      "https://metadata.google.internal/computeMetadata",
      "https://user:pass@hooks.example.com/x",
      "ftp://hooks.example.com/x",
    ]) {
      const res = await createStream(owner, tenant, { destination: { type: "webhook", url } });
      expect(res.status, url).toBe(400);
      expect(res.body.error?.code, url).toBe("invalid_destination");
    }
    const s3 = await createStream(owner, tenant, { destination: { ...S3_DESTINATION("http://172.16.0.1:9000") } });
    expect(s3.body.error?.code).toBe("invalid_destination");
    // Nothing was created, nor logged.
    const list = (await (await api(`/v1/tenants/${tenant}/streams`, { headers: bearer(owner) })).json()) as { streams: unknown[] };
    expect(list.streams).toEqual([]);
  });

  it("are refused at delivery: a redirect, an oversized answer, a private address planted in storage pause the stream at once", async () => {
    const { owner, tenant } = await tenantWithKeys();
    const redirect = channelName("redirect");
    const huge = channelName("huge");
    await control(redirect, { redirect: true });
    await control(huge, { huge: true });
    const a = await createStream(owner, tenant, { destination: { type: "webhook", url: `${receiver()}/r/${redirect}` } });
    const b = await createStream(owner, tenant, { destination: { type: "webhook", url: `${receiver()}/r/${huge}` } });
    const c = await createStream(owner, tenant, { destination: { type: "webhook", url: `${receiver()}/r/planted` } });
    // A destination accepted under other rules, now refused: written straight into the object's storage.
    const stub = env.LOG_STREAMS.get(env.LOG_STREAMS.idFromName(tenant));
    await runInDurableObject(stub, (_o: LogStreams, state) => {
      const store = new StreamStore(state.storage.sql);
      const row = store.get(c.body.stream.id)!;
      store.reconfigure(row.id, { ...row.config, destination: { type: "webhook", url: "http://10.1.2.3/hook" } }, row.secrets);
    });
    const expected: [string, RegExp][] = [
      [a.body.stream.id, /^redirect \(307\) not followed$/],
      [b.body.stream.id, /^response larger than 65536 bytes$/],
      [c.body.stream.id, /^refused URL: the host is a private address$/],
    ];
    for (const [id, error] of expected) {
      await vi.waitFor(async () => expect((await streamOf(owner, tenant, id)).paused).toBe(true), { timeout: 20_000, interval: 200 });
      const s = await streamOf(owner, tenant, id);
      expect(s.last_error).toMatch(error);
      expect(s.failures).toBe(1);
    }
  });
});

interface Entry {
  seq: number;
  event: { action: string; targets: { id: string }[]; metadata?: Record<string, unknown> };
  entry: string;
}
const entriesOf = async (owner: Session, tenant: string, action: string): Promise<Entry[]> =>
  ((await (await api(`/v1/tenants/${tenant}/events?action=${action}&limit=100`, { headers: bearer(owner) })).json()) as { events: Entry[] })
    .events;

describe("pause and resume", () => {
  it("pauses after STREAM_PAUSE_AFTER_FAILURES failures, shows it (API, /stats, alert source), logs it; resume continues from the cursor", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const channel = channelName("pause");
    await control(channel, { down: true });
    const { body } = await createStream(owner, tenant, {
      name: "alerts",
      destination: { type: "webhook", url: `${receiver()}/r/${channel}` },
    });
    const id = body.stream.id;
    await appendMany(tenant, appendKey, 20, "p");
    await vi.waitFor(async () => expect((await streamOf(owner, tenant, id)).paused).toBe(true), { timeout: 40_000, interval: 250 });
    const paused = await streamOf(owner, tenant, id);
    expect(paused).toMatchObject({ paused: true, failures: 15, cursor: body.receipt.seq });
    expect(paused.last_error).toMatch(/^HTTP 503 from the destination/);
    expect((await received(channel)).length).toBe(15);
    // /stats shows the lag and the pause.
    const stats = (await (await api(`/v1/tenants/${tenant}/stats`, { headers: bearer(owner) })).json()) as {
      size: number;
      streams: { id: string; paused: boolean; lag_entries: number; lag_seconds: number; last_error: string }[];
    };
    expect(stats.streams).toEqual([
      expect.objectContaining({ id, paused: true, lag_entries: stats.size - body.receipt.seq, last_error: paused.last_error }),
    ]);
    // The pause is an entry of the log, and a `stream_paused` condition for the alert engine.
    await vi.waitFor(async () => expect((await entriesOf(owner, tenant, "sealtrail.stream.paused")).length).toBe(1));
    const [entry] = await entriesOf(owner, tenant, "sealtrail.stream.paused");
    expect(entry!.event.targets[0]!.id).toBe(id);
    expect(entry!.event.metadata).toMatchObject({ failures: 15, cursor: body.receipt.seq });
    const report = await logOf(tenant).streamReport();
    expect(report.streams).toBe(1);
    expect(report.paused).toEqual([expect.objectContaining({ kind: "stream_paused", key: id })]);

    await control(channel, { down: false });
    const resumed = await api(`/v1/tenants/${tenant}/streams/${id}/resume`, { method: "POST", headers: bearer(owner) });
    expect(resumed.status).toBe(200);
    const size = await logSize(owner, tenant);
    await vi.waitFor(async () => expect((await streamOf(owner, tenant, id)).cursor).toBe(size), { timeout: 20_000, interval: 200 });
    const seqs = (await received(channel))
      .filter((r) => r.status === 200)
      .flatMap((r) => (JSON.parse(r.body) as NativeBody).data.entries.map((e) => e.seq));
    expect(seqs).toEqual(Array.from({ length: size - body.receipt.seq }, (_, i) => body.receipt.seq + i));
    expect((await entriesOf(owner, tenant, "sealtrail.stream.resumed")).length).toBe(1);
    expect((await logOf(tenant).streamReport()).paused).toEqual([]);
  });

  it("a stream survives its object being reset: the cursor and the batch in flight are in storage, the alarm carries on", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const channel = channelName("reset");
    await control(channel, { down: true });
    const { body } = await createStream(owner, tenant, { destination: { type: "webhook", url: `${receiver()}/r/${channel}` } });
    await appendMany(tenant, appendKey, 50, "r");
    await vi.waitFor(async () => expect((await streamOf(owner, tenant, body.stream.id)).failures).toBeGreaterThan(1), { timeout: 20_000 });
    const stub = env.LOG_STREAMS.get(env.LOG_STREAMS.idFromName(tenant));
    const aborted = await runInDurableObject(stub, (_o: LogStreams, state) => state.abort("reset by the test")).then(
      () => "ok",
      (e) => String(e),
    );
    expect(aborted).toMatch(/reset by the test/);
    await control(channel, { down: false });
    const size = await logSize(owner, tenant);
    await vi.waitFor(async () => expect((await streamOf(owner, tenant, body.stream.id)).cursor).toBe(size), {
      timeout: 30_000,
      interval: 250,
    });
    const okIds = (await received(channel)).filter((r) => r.status === 200).map((r) => r.headers["webhook-id"]);
    const failedIds = new Set((await received(channel)).filter((r) => r.status === 503).map((r) => r.headers["webhook-id"]));
    expect(failedIds.size).toBe(1); // every failed attempt, before and after the reset, was the same batch
    expect(okIds).toContain([...failedIds][0]);
  });
});

describe("configuration", () => {
  it("secrets are returned once at most, never listed, never written into the log", async () => {
    const { owner, tenant } = await tenantWithKeys();
    const secrets = ["splunk-token-SECRET-1", "dd-api-key-SECRET-2", "s3-key-id-SECRET-3", "s3-secret-SECRET-4"];
    const hook = await createStream(owner, tenant, { destination: { type: "webhook", url: `${receiver()}/r/${channelName("sec")}` } });
    await createStream(owner, tenant, { destination: { type: "splunk", url: `${receiver()}/r/x`, token: secrets[0] } });
    const dd = await createStream(owner, tenant, { destination: { type: "datadog", url: `${receiver()}/r/y`, api_key: secrets[1] } });
    await createStream(owner, tenant, {
      destination: { ...S3_DESTINATION(inject("s3Endpoint")), access_key_id: secrets[2], secret_access_key: secrets[3] },
    });
    const rotated = await api(`/v1/tenants/${tenant}/streams/${hook.body.stream.id}`, {
      method: "PATCH",
      headers: { ...json, ...bearer(owner) },
      body: JSON.stringify({ rotate_secret: true, format: "ocsf" }),
    });
    const newSecret = ((await rotated.json()) as { secret: string }).secret;
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(hook.body.secret);
    const changed = await api(`/v1/tenants/${tenant}/streams/${dd.body.stream.id}`, {
      method: "PATCH",
      headers: { ...json, ...bearer(owner) },
      body: JSON.stringify({ destination: { type: "datadog", url: `${receiver()}/r/z`, api_key: "dd-api-key-SECRET-5" } }),
    });
    expect(changed.status).toBe(200);
    secrets.push(hook.body.secret!, newSecret, "dd-api-key-SECRET-5");
    const listed = await (await api(`/v1/tenants/${tenant}/streams`, { headers: bearer(owner) })).text();
    const one = await (await api(`/v1/tenants/${tenant}/streams/${dd.body.stream.id}`, { headers: bearer(owner) })).text();
    const db = await mirroredDbOf(tenant);
    const { results } = await db.prepare("SELECT entry FROM audit_events WHERE tenant_id = ?").bind(tenant).all<{ entry: string }>();
    const stored = results.map((r) => r.entry).join("\n");
    for (const s of secrets) {
      expect(listed).not.toContain(s);
      expect(one).not.toContain(s);
      expect(stored).not.toContain(s);
    }
    expect(JSON.parse(one)).toMatchObject({ destination: { type: "datadog", secret_set: true } });
    // The change is logged with before and after, and says a secret changed, without it.
    const updates = await entriesOf(owner, tenant, "sealtrail.stream.updated");
    expect(updates.map((u) => u.event.metadata?.secret_changed)).toEqual([true, true]);
    expect(updates[0]!.event.metadata).toMatchObject({ before: { format: "native" }, after: { format: "ocsf" } });
    expect((await entriesOf(owner, tenant, "sealtrail.stream.created")).length).toBe(4);
    expect(await dbOf(tenant)).toBeDefined();
  });

  it("an alert destination is a stream filtered to sealtrail.alert.; only admins manage streams; deletion is logged", async () => {
    const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
    const channel = channelName("filter");
    const { body } = await createStream(owner, tenant, {
      destination: { type: "webhook", url: `${receiver()}/r/${channel}` },
      actions: ["sealtrail.stream."],
    });
    await appendMany(tenant, appendKey, 30, "f");
    const paused = await api(`/v1/tenants/${tenant}/streams/${body.stream.id}/pause`, { method: "POST", headers: bearer(owner) });
    expect(paused.status).toBe(200);
    await api(`/v1/tenants/${tenant}/streams/${body.stream.id}/resume`, { method: "POST", headers: bearer(owner) });
    const size = await logSize(owner, tenant);
    await vi.waitFor(async () => expect((await streamOf(owner, tenant, body.stream.id)).cursor).toBe(size), {
      timeout: 20_000,
      interval: 200,
    });
    const actions = (await received(channel))
      .filter((r) => r.status === 200)
      .flatMap((r) => (JSON.parse(r.body) as NativeBody).data.entries.map((e) => (JSON.parse(e.entry) as Entry).event.action));
    expect(actions).toEqual(["sealtrail.stream.created", "sealtrail.stream.paused", "sealtrail.stream.resumed"]);
    expect((await streamOf(owner, tenant, body.stream.id)).delivered).toBe(3);

    for (const [method, path] of [
      ["GET", ""],
      ["POST", ""],
      ["GET", `/${body.stream.id}`],
      ["DELETE", `/${body.stream.id}`],
    ] as const) {
      const res = await api(`/v1/tenants/${tenant}/streams${path}`, {
        method,
        headers: { ...json, "x-api-key": readKey },
        ...(method === "POST" ? { body: "{}" } : {}),
      });
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    const deleted = await api(`/v1/tenants/${tenant}/streams/${body.stream.id}`, { method: "DELETE", headers: bearer(owner) });
    expect(deleted.status).toBe(200);
    expect((await api(`/v1/tenants/${tenant}/streams/${body.stream.id}`, { headers: bearer(owner) })).status).toBe(404);
    expect((await entriesOf(owner, tenant, "sealtrail.stream.deleted")).map((e) => e.event.targets[0]!.id)).toEqual([body.stream.id]);
    expect((await logOf(tenant).streamReport()).streams).toBe(0);
  });
});
