import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { GENESIS_PREV } from "../../src/core/entry";
import type { Hash } from "../../src/core/hash";
import { openManifest, verifyBundle, verifySealLink, type Manifest } from "../../src/core/manifest";
import { CompactRange } from "../../src/core/merkle";
import { openCheckpoint, type Checkpoint } from "../../src/core/checkpoint";
import { parseVerifierKey, type NoteVerifier } from "../../src/core/note";
import { publishedKeys } from "../../src/durable/checkpoint-keys";
import { sealKeys, sealPrefix } from "../../src/core/seal";
import { kvLatestKey, putCreateOnly } from "../../src/durable/seal-objects";
import { SEAL_AFTER_ENTRIES } from "../../src/durable/sealer";
import type { TenantLog } from "../../src/durable/tenant-log";
import { toHttp } from "../../src/worker/errors";
import { api, bearer, createKey, event, logOf, logSize, postEvent, tenantWithKeys, dbOf, bucketOf } from "../worker/helpers";
import { appendVia, failingR2, withLog } from "./faults";
import { appendN } from "./log-helpers";

function keysOf(tenant: string): { origin: string; verifiers: NoteVerifier[] } {
  const keys = publishedKeys(env, tenant);
  return { origin: keys[0]!.origin, verifiers: keys.map((k) => (parseVerifierKey(k.verifier_key) as { value: NoteVerifier }).value) };
}

const sealNow = (tenant: string, owner: Parameters<typeof bearer>[0]) =>
  api(`/v1/tenants/${tenant}/seal`, { method: "POST", headers: bearer(owner) });

async function r2Text(key: string, tenant?: string): Promise<string | undefined> {
  return (await (tenant === undefined ? env.BUCKET : await bucketOf(tenant)).get(key))?.text();
}

async function sealIdsInR2(tenant: string): Promise<string[]> {
  const listed = await (await bucketOf(tenant)).list({ prefix: sealPrefix(tenant) });
  return listed.objects.map((o) => o.key.slice(sealPrefix(tenant).length)).sort();
}

/** Verifies every seal in R2 from scratch, as an auditor would: returns the manifests. */
async function verifyChainInR2(tenant: string): Promise<Manifest[]> {
  const { origin, verifiers } = keysOf(tenant);
  const { results } = await (await dbOf(tenant))
    .prepare("SELECT entry FROM audit_events WHERE tenant_id = ? ORDER BY seq")
    .bind(tenant)
    .all<{ entry: string }>();
  const manifests: Manifest[] = [];
  let prev: { manifest: Manifest; note: string; checkpoint: Checkpoint } | undefined;
  const range = new CompactRange();
  let prevLeaf: Hash = GENESIS_PREV;
  for (let id = 0; ; id++) {
    const note = await r2Text(sealKeys(tenant, id).manifest, tenant);
    if (note === undefined) break;
    const m = openManifest(note, origin, verifiers);
    expect(m.ok, JSON.stringify(m)).toBe(true);
    if (!m.ok) throw new Error("manifest");
    const link = verifySealLink(m.value, verifiers, prev);
    expect(link.ok, JSON.stringify(link)).toBe(true);
    if (!link.ok) throw new Error("link");
    const bundle = (await r2Text(m.value.bundle_key, tenant))!;
    const checked = verifyBundle(bundle, m.value, range, prevLeaf);
    expect(checked.ok, JSON.stringify(checked)).toBe(true);
    if (checked.ok) prevLeaf = checked.value;
    // The bundle's lines are exactly D1's entry bytes for the range.
    expect(bundle).toBe(
      results
        .slice(m.value.from, m.value.to)
        .map((r) => `${r.entry}\n`)
        .join(""),
    );
    // The checkpoint object is the one the manifest embeds.
    expect(await r2Text(sealKeys(tenant, id).checkpoint, tenant)).toBe(m.value.checkpoint);
    expect(openCheckpoint(m.value.checkpoint, origin, verifiers).ok).toBe(true);
    manifests.push(m.value);
    prev = { manifest: m.value, note, checkpoint: link.value };
  }
  return manifests;
}

describe("R2 create-only writes", () => {
  it("a put with onlyIf etagDoesNotMatch '*' to an existing key returns null and does not overwrite", async () => {
    const key = `test/create-only/${crypto.randomUUID()}`;
    expect(await env.BUCKET.put(key, "first", { onlyIf: { etagDoesNotMatch: "*" } })).not.toBeNull();
    expect(await env.BUCKET.put(key, "second", { onlyIf: { etagDoesNotMatch: "*" } })).toBeNull();
    expect(await r2Text(key)).toBe("first");
  });

  it("putCreateOnly accepts the same bytes again and refuses different ones, leaving the object as it was", async () => {
    const key = `test/create-only/${crypto.randomUUID()}`;
    expect(await putCreateOnly(env.BUCKET, key, "payload", "text/plain")).toEqual({ ok: true, value: "created" });
    expect(await putCreateOnly(env.BUCKET, key, "payload", "text/plain")).toEqual({ ok: true, value: "existed" });
    expect(await putCreateOnly(env.BUCKET, key, "other", "text/plain")).toMatchObject({ ok: false, error: { reason: "r2_conflict", key } });
    expect(await r2Text(key)).toBe("payload");
  });
});

describe("sealing", () => {
  it("seals on demand: bundle equals D1's bytes, manifest and checkpoint verify, seals chain, KV points at the latest", async () => {
    // The first seal also covers the keys' creation entries (seq 0..base-1).
    const { owner, tenant, appendKey, base } = await tenantWithKeys();
    await appendN(tenant, appendKey, 25);
    const first = await sealNow(tenant, owner);
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ sealed: [{ id: "000000000000", from: 0, to: base + 25 }] });
    await appendN(tenant, appendKey, 12);
    const second = (await (await sealNow(tenant, owner)).json()) as { sealed: { id: string; from: number; to: number }[] };
    expect(second.sealed).toMatchObject([{ id: "000000000001", from: base + 25, to: base + 37 }]);
    // Nothing waiting: sealing again makes nothing.
    expect(await (await sealNow(tenant, owner)).json()).toEqual({ sealed: [] });

    const manifests = await verifyChainInR2(tenant);
    expect(manifests.map((m) => [m.from, m.to])).toEqual([
      [0, base + 25],
      [base + 25, base + 37],
    ]);
    expect(manifests[1]!.consistency.length).toBeGreaterThan(0);
    const latest = JSON.parse((await env.KV.get(kvLatestKey(tenant)))!) as { id: string; to: number };
    expect(latest).toMatchObject({ id: "000000000001", to: base + 37 });
    expect((await logOf(tenant).stats()).sealed_to).toBe(base + 37);
  });

  it(`seals from the alarm once ${SEAL_AFTER_ENTRIES} entries wait; an alarm delivered twice makes one snapshot per range`, async () => {
    const { tenant, appendKey, base } = await tenantWithKeys();
    await appendN(tenant, appendKey, SEAL_AFTER_ENTRIES);
    const stub = logOf(tenant);
    await runInDurableObject(stub, async (log: TenantLog) => {
      await log.alarm();
      await log.alarm();
    });
    await runDurableObjectAlarm(stub);
    expect(await sealIdsInR2(tenant)).toEqual(["000000000000/bundle.jsonl", "000000000000/checkpoint", "000000000000/manifest"]);
    expect((await verifyChainInR2(tenant)).map((m) => [m.from, m.to])).toEqual([[0, base + SEAL_AFTER_ENTRIES]]);
  });

  it("before the interval has passed, a few entries wait and the alarm is armed for the interval", async () => {
    const { tenant, appendKey } = await tenantWithKeys();
    await appendN(tenant, appendKey, 3);
    const stub = logOf(tenant);
    await runInDurableObject(stub, async (log: TenantLog, state) => {
      await log.alarm();
      expect(await sealIdsInR2(tenant)).toEqual([]);
      const at = await state.storage.getAlarm();
      expect(at).not.toBeNull();
      expect(at! - Date.now()).toBeGreaterThan(30_000); // the 60 s default interval, minus test time
    });
  });

  for (const mode of ["before", "after"] as const) {
    it(`an R2 put failing ${mode} the object lands is completed by the next alarm: nothing duplicated or lost`, async () => {
      const { owner, tenant, appendKey, base } = await tenantWithKeys();
      await appendN(tenant, appendKey, 10);
      const stub = logOf(tenant);
      // The log's parts over this object's storage, with an R2 whose checkpoint puts fail twice.
      await withLog(stub, tenant, { bucket: failingR2(await bucketOf(tenant), mode, /\/checkpoint$/, 2) }, async (log) => {
        const failed = await log.sealer.seal(tenant, true); // what POST /seal runs
        expect(failed).toMatchObject({ ok: false, error: { reason: "seal_failed" } });
        expect(toHttp(failed.ok ? { reason: "internal" } : failed.error).status).toBe(503);
        const stats = log.sealer.stats(tenant);
        expect(stats.seal_failures).toBe(1);
        expect(stats.last_seal_error).toMatch(/r2_unavailable/);
        // Appends go on while sealing fails.
        for (let i = 0; i < 5; i++) {
          expect(await appendVia(log, tenant, event({ metadata: { i } }))).toMatchObject({ ok: true });
        }
        // What the alarm runs: the second injected failure, then R2 answers.
        expect(await log.sealer.seal(tenant, false)).toMatchObject({ ok: false });
        expect(await log.sealer.seal(tenant, false)).toMatchObject({ ok: true });
        expect(log.sealer.stats(tenant).seal_failures).toBe(0);
      });
      expect(await sealIdsInR2(tenant)).toEqual(["000000000000/bundle.jsonl", "000000000000/checkpoint", "000000000000/manifest"]);
      const manifests = await verifyChainInR2(tenant);
      // The planned range is published as planned; the entries appended later wait for the next seal.
      expect(manifests.map((m) => [m.from, m.to])).toEqual([[0, base + 10]]);
      expect(await (await sealNow(tenant, owner)).json()).toMatchObject({ sealed: [{ from: base + 10, to: base + 15 }] });
      expect((await verifyChainInR2(tenant)).length).toBe(2);
      expect((await stub.stats()).seal_failures).toBe(0);
    });
  }

  it("entries leave DO storage only once they are in D1 and sealed in R2, and stay readable", async () => {
    const { owner, tenant, appendKey, readKey, base } = await tenantWithKeys();
    await appendN(tenant, appendKey, 8);
    const stub = logOf(tenant);
    const count = () =>
      runInDurableObject(stub, (_l: TenantLog, s) => Number(s.storage.sql.exec("SELECT count(*) AS n FROM entries").one().n));
    expect(await count()).toBe(base + 8);
    await sealNow(tenant, owner);
    expect(await count()).toBe(0);
    await appendN(tenant, appendKey, 2);
    expect(await count()).toBe(2);
    const one = await api(`/v1/tenants/${tenant}/events/3`, { headers: { "x-api-key": readKey } });
    expect(one.status).toBe(200);
    expect(((await one.json()) as { seq: number }).seq).toBe(3);
    // A row lost from D1 after eviction is never served from elsewhere: the log holds entry 4,
    // so its absence is an integrity error naming it (issue #13), not a 404.
    const db = await dbOf(tenant);
    await db.batch([
      db.prepare("DROP TRIGGER audit_events_no_delete"),
      db.prepare("DELETE FROM audit_events WHERE tenant_id = ? AND seq = 4").bind(tenant),
      db.prepare(
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
      ),
    ]);
    const lost = await api(`/v1/tenants/${tenant}/events/4`, { headers: { "x-api-key": readKey } });
    expect(lost.status).toBe(502);
    expect(await lost.json()).toMatchObject({ error: { code: "integrity_error", message: expect.stringContaining("entry 4") } });
    // Proofs still work after eviction: the tree keeps every leaf hash.
    expect((await api(`/v1/tenants/${tenant}/events/3/proof`, { headers: { "x-api-key": readKey } })).status).toBe(200);
  });
});

describe("reconcile with R2 on start (invariant 10)", () => {
  async function sealedTenant() {
    const t = await tenantWithKeys();
    await appendN(t.tenant, t.appendKey, 6);
    expect((await sealNow(t.tenant, t.owner)).status).toBe(200);
    return t;
  }

  async function expectRefusing(tenant: string, appendKey: string, readKey: string, reason: string, base: number) {
    const before = await sealIdsInR2(tenant);
    const append = await postEvent(tenant, appendKey, event());
    expect(append.status).toBe(503);
    expect(await append.json()).toMatchObject({ error: { code: "log_unavailable" } });
    const cp = await api(`/v1/tenants/${tenant}/checkpoint`, { headers: { "x-api-key": readKey } });
    expect(cp.status).toBe(503);
    const stats = await logOf(tenant).stats();
    expect(stats.refusal?.reason).toBe(reason);
    expect(stats.size).toBe(base + 6);
    expect(await sealIdsInR2(tenant)).toEqual(before);
  }

  it("R2 holding a newer seal than the log: appends refused, no checkpoint signed", async () => {
    const { tenant, appendKey, readKey, base } = await sealedTenant();
    await (await bucketOf(tenant)).put(sealKeys(tenant, 1).manifest, "a manifest this log never signed\n");
    await evictDurableObject(logOf(tenant));
    await expectRefusing(tenant, appendKey, readKey, "r2_ahead", base);
  });

  it("R2 holding a conflicting checkpoint at the same size: appends refused, no checkpoint signed", async () => {
    const { tenant, appendKey, readKey, base } = await sealedTenant();
    const key = sealKeys(tenant, 0).checkpoint;
    const original = (await r2Text(key, tenant))!;
    // An out-of-band change (the application has no delete path; an operator console does).
    await (await bucketOf(tenant)).delete(key);
    await (await bucketOf(tenant)).put(
      key,
      original.replace(/\n([A-Za-z0-9+/]{43}=)\n/, "\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"),
    );
    await evictDurableObject(logOf(tenant));
    await expectRefusing(tenant, appendKey, readKey, "r2_conflict", base);
  });

  it("R2 behind the log (an object lost): the seal is published again on start", async () => {
    const { tenant, appendKey } = await sealedTenant();
    const key = sealKeys(tenant, 0).manifest;
    const original = await r2Text(key, tenant);
    await (await bucketOf(tenant)).delete(key);
    await evictDurableObject(logOf(tenant));
    expect((await postEvent(tenant, appendKey, event())).status).toBe(201);
    expect(await r2Text(key, tenant)).toBe(original);
  });
});

describe("snapshot downloads", () => {
  it("lists from KV, falls back to R2 when KV lags, downloads manifest and bundle, and logs each download", async () => {
    const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
    const verifyKey = await createKey(owner, tenant, ["verify"]);
    const base = await logSize(owner, tenant); // the keys' creation entries, in the first seal
    await appendN(tenant, appendKey, 4);
    await sealNow(tenant, owner);
    await appendN(tenant, appendKey, 3);
    await sealNow(tenant, owner);
    const get = (path: string, key = verifyKey) => api(`/v1/tenants/${tenant}${path}`, { headers: { "x-api-key": key } });

    const listed = (await (await get("/snapshots")).json()) as { snapshots: { id: string; from: number; to: number }[]; source: string };
    expect(listed.source).toBe("kv");
    expect(listed.snapshots.map((s) => [s.id, s.from, s.to])).toEqual([
      ["000000000000", 0, base + 4],
      ["000000000001", base + 4, base + 7],
    ]);

    // KV lags (an index, never the truth): the list comes from R2.
    await env.KV.delete(`${sealPrefix(tenant)}000000000001`);
    const fallback = (await (await get("/snapshots")).json()) as { snapshots: { id: string }[]; source: string };
    expect(fallback.source).toBe("r2");
    expect(fallback.snapshots.map((s) => s.id)).toEqual(["000000000000", "000000000001"]);

    const sizeBefore = (await logOf(tenant).stats()).size;
    const manifest = await get("/snapshots/000000000001");
    expect(manifest.status).toBe(200);
    const { origin, verifiers } = keysOf(tenant);
    expect(openManifest(await manifest.text(), origin, verifiers)).toMatchObject({ ok: true, value: { from: base + 4, to: base + 7 } });
    const bundle = await get("/snapshots/000000000001/bundle");
    expect(bundle.status).toBe(200);
    const bytes = await bundle.text();
    const digest = btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(bytes)))));
    expect(bundle.headers.get("x-sealtrail-bundle-sha256")).toBe(digest);
    expect(bytes.split("\n").length).toBe(4);

    // Each download is an entry in the tenant's log, naming who downloaded what.
    const stats = await logOf(tenant).stats();
    expect(stats.size).toBe(sizeBefore + 2);
    const last = (await (await api(`/v1/tenants/${tenant}/events/${stats.size - 1}`, { headers: { "x-api-key": readKey } })).json()) as {
      event: { action: string; targets: { id: string }[]; metadata: { part: string } };
    };
    expect(last.event).toMatchObject({
      action: "sealtrail.snapshot.downloaded",
      targets: [{ id: "000000000001", type: "snapshot" }],
      metadata: { part: "bundle" },
    });

    expect((await get("/snapshots/000000000009")).status).toBe(404);
    expect((await get("/snapshots/%2e%2e%2Fkeys")).status).toBe(404);
    expect((await get("/snapshots", readKey)).status).toBe(403);
    expect((await get("/snapshots/000000000000/bundle", appendKey)).status).toBe(403);
    expect((await api(`/v1/tenants/${tenant}/seal`, { method: "POST", headers: { "x-api-key": verifyKey } })).status).toBe(403);
  });
});

describe("settings", () => {
  it("admins change the seal interval, retention and clock-skew bound; each change is logged; bounds are enforced", async () => {
    const { owner, tenant, readKey, base } = await tenantWithKeys();
    const put = (body: unknown, headers: Record<string, string> = bearer(owner)) =>
      api(`/v1/tenants/${tenant}/settings`, {
        method: "PUT",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    expect(await (await api(`/v1/tenants/${tenant}/settings`, { headers: { "x-api-key": readKey } })).json()).toEqual({
      seal_interval_seconds: 60,
      retention_days: 7 * 365,
      legal_hold: false,
      max_clock_skew_seconds: 300,
      witnesses: null,
      witness_quorum: null,
      public_log: false,
      audit_interval_hours: 24,
      full_audit_interval_days: 7,
      personal_fields: [],
      max_elevation_seconds: 14400,
    });
    const res = await put({ seal_interval_seconds: 300, max_clock_skew_seconds: 600 });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      settings: { seal_interval_seconds: 300, retention_days: 7 * 365, legal_hold: false, max_clock_skew_seconds: 600 },
      receipt: { seq: base },
    });
    const entry = (await (await api(`/v1/tenants/${tenant}/events/${base}`, { headers: { "x-api-key": readKey } })).json()) as {
      event: unknown;
    };
    expect(entry.event).toMatchObject({
      action: "sealtrail.settings.updated",
      actor: { id: owner.userId, type: "user" },
      metadata: {
        before: { seal_interval_seconds: 60, max_clock_skew_seconds: 300 },
        after: { seal_interval_seconds: 300, max_clock_skew_seconds: 600 },
      },
    });
    for (const bad of [
      { seal_interval_seconds: 5 },
      { seal_interval_seconds: 86_401 },
      { retention_years: 0 },
      { retention_days: 0 },
      { retention_days: 36_501 },
      { retention_days: 30, retention_years: 1 },
      { legal_hold: "yes" },
      {},
      { delete_after: 1 },
    ]) {
      expect((await put(bad)).status, JSON.stringify(bad)).toBe(400);
    }
    expect((await put({ retention_years: 10 }, { "x-api-key": readKey })).status).toBe(403);
    // retention_years (replaced by retention_days) is still accepted, as 365 days a year.
    const years = await put({ retention_years: 8 });
    expect(years.status).toBe(200);
    expect(await years.json()).toMatchObject({ settings: { retention_days: 2920 } });
    // After the keys' creation: the settings changes, and the read of one above (reads are logged).
    expect((await logOf(tenant).stats()).size).toBe(base + 3);
  });
});
