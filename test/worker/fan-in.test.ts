/**
 * Fan-in (docs/design.md "Fan-in"): single-event appends through Batcher objects keep
 * invariants 1, 5, 7 and 8. The key append tests run with fan-in off and on (the Worker with
 * SEALTRAIL_FANIN_BATCHERS set); the batcher's own failures are injected into real bindings.
 */
import { createExecutionContext, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../src/core/entry";
import { BatchQueue, FORWARDS_IN_FLIGHT, type Forward, MAX_WAITING_EVENTS } from "../../src/durable/batcher";
import type { AppendResult } from "../../src/durable/log-types";
import type { TenantLog } from "../../src/durable/tenant-log";
import { app } from "../../src/worker/app";
import { batcherName, fanInBatchers, MAX_FANIN_BATCHERS } from "../../src/worker/fan-in";
import { failingObjects } from "../durable/faults";
import { BASE, createKey, event, logOf, tenantWithKeys } from "./helpers";

interface Receipt {
  seq: number;
  leaf_hash: string;
  received_at: string;
  tree_size: number;
}

const K = 4;

/** The Worker with SEALTRAIL_FANIN_BATCHERS = `batchers` and, optionally, other bindings. */
const worker =
  (batchers: string, bindings: Partial<Env> = {}) =>
  (tenant: string, key: string, body: unknown, headers: Record<string, string> = {}) =>
    app.fetch(
      new Request(`${BASE}/v1/tenants/${tenant}/events`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": key, ...headers },
        body: JSON.stringify(body),
      }),
      { ...env, SEALTRAIL_FANIN_BATCHERS: batchers, ...bindings },
      createExecutionContext(),
    );

/** Forwards and forwarded requests summed over the tenant's K batchers (tests send no cf.colo). */
async function batcherStats(tenant: string) {
  let forwards = 0;
  let forwarded = 0;
  for (let n = 0; n < K; n++) {
    const s = await env.BATCHER.get(env.BATCHER.idFromName(batcherName(tenant, undefined, n))).stats();
    forwards += s.forwards;
    forwarded += s.forwarded;
  }
  return { forwards, forwarded };
}

/** The entry bytes and leaf hash the log stores at `seq`. */
const stored = (tenant: string, seq: number) => logOf(tenant).entry(seq);

describe.each([
  ["off", "0"],
  ["on", String(K)],
])("single-event appends with fan-in %s", (mode, batchers) => {
  const post = worker(batchers);

  it("300 concurrent appends: contiguous seqs, each caller its own receipt for its own event", async () => {
    const { tenant, appendKey, base } = await tenantWithKeys();
    const n = 300;
    const responses = await Promise.all(Array.from({ length: n }, (_, i) => post(tenant, appendKey, event({ metadata: { i } }))));
    const receipts = await Promise.all(
      responses.map(async (r) => {
        expect(r.status).toBe(201);
        return (await r.json()) as Receipt;
      }),
    );
    expect(receipts.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => base + i));
    // Each receipt names the entry of the event its caller sent, as stored.
    for (const [i, r] of receipts.entries()) {
      const entry = await stored(tenant, r.seq);
      expect(entry?.leaf_hash).toBe(r.leaf_hash);
      expect((JSON.parse(entry!.entry) as { event: { metadata: { i: number } } }).event.metadata.i).toBe(i);
      expect(r.tree_size).toBeGreaterThan(r.seq);
    }
    const stats = await batcherStats(tenant);
    if (mode === "off") {
      expect(stats).toEqual({ forwards: 0, forwarded: 0 });
    } else {
      // Every request went through a batcher, and batchers coalesced them.
      expect(stats.forwarded).toBe(n);
      expect(stats.forwards).toBeLessThan(n);
    }
  });

  it("concurrent retries with one Idempotency-Key store one entry and all get its receipt", async () => {
    const { tenant, appendKey, base } = await tenantWithKeys();
    const body = event({ metadata: { once: true } });
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(tenant, appendKey, body, { "idempotency-key": "retry-1" })));
    const receipts = await Promise.all(
      answers.map(async (r) => {
        expect(r.status).toBe(201);
        return (await r.json()) as Receipt;
      }),
    );
    expect(new Set(receipts.map((r) => JSON.stringify(r))).size).toBe(1);
    expect(receipts[0]!.seq).toBe(base);
    // A later retry gets the same receipt; nothing new is stored.
    const later = await post(tenant, appendKey, body, { "idempotency-key": "retry-1" });
    expect(await later.json()).toEqual(receipts[0]);
    expect((await logOf(tenant).stats()).size).toBe(base + 1);
  });

  it("a conflicting key is 409 for its caller while the requests around it are stored", async () => {
    const { tenant, appendKey, base } = await tenantWithKeys();
    expect((await post(tenant, appendKey, event({ metadata: { v: 1 } }), { "idempotency-key": "dup" })).status).toBe(201);
    const sends = Array.from({ length: 121 }, (_, i) =>
      i === 60
        ? post(tenant, appendKey, event({ metadata: { v: 2 } }), { "idempotency-key": "dup" })
        : post(tenant, appendKey, event({ metadata: { i } })),
    );
    const answers = await Promise.all(sends);
    for (const [i, r] of answers.entries()) expect(r.status, `request ${i}`).toBe(i === 60 ? 409 : 201);
    expect(await answers[60]!.json()).toMatchObject({ error: { code: "idempotency_conflict" } });
    expect((await logOf(tenant).stats()).size).toBe(base + 121);
  });

  it("the tenant comes from the credential: one tenant's key cannot append to another's log", async () => {
    const a = await tenantWithKeys();
    const b = await tenantWithKeys();
    const r = await post(b.tenant, a.appendKey, event());
    expect(r.status).toBe(404);
    expect((await logOf(b.tenant).stats()).size).toBe(b.base);
    expect((await logOf(a.tenant).stats()).size).toBe(a.base);
  });

  it("keys are scoped per credential: the same key from two keys gives two entries", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const other = await createKey(owner, tenant, ["append"], "second writer");
    const base = (await logOf(tenant).stats()).size;
    const [a, b] = await Promise.all([
      post(tenant, appendKey, event({ metadata: { who: "a" } }), { "idempotency-key": "shared" }),
      post(tenant, other, event({ metadata: { who: "b" } }), { "idempotency-key": "shared" }),
    ]);
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    const seqs = [((await a.json()) as Receipt).seq, ((await b.json()) as Receipt).seq].sort();
    expect(seqs).toEqual([base, base + 1]);
  });
});

describe("fan-in on: what does not go through a batcher", () => {
  it("a batch request goes straight to the TenantLog, in one piece", async () => {
    const { tenant, appendKey, base } = await tenantWithKeys();
    const events = Array.from({ length: 5 }, (_, i) => event({ metadata: { i } }));
    const r = await worker(String(K))(tenant, appendKey, { events });
    expect(r.status).toBe(201);
    const { receipts } = (await r.json()) as { receipts: Receipt[] };
    expect(receipts.map((x) => x.seq)).toEqual([0, 1, 2, 3, 4].map((i) => base + i));
    expect(await batcherStats(tenant)).toEqual({ forwards: 0, forwarded: 0 });
  });
});

describe("a batcher's forward", () => {
  /** A BatchQueue forwarding to the tenant's real TenantLog, recording each forward. */
  function queueOf(tenant: string, via: DurableObjectStub<TenantLog> = logOf(tenant)) {
    const sent: number[][] = [];
    let n = 0;
    const forward: Forward = (t, requests) => {
      sent.push(requests.map(() => n++));
      return via.appendMany(t, requests);
    };
    return { queue: new BatchQueue(tenant, forward), sent };
  }
  const item = (metadata: JsonObject, idempotencyKey?: string) => ({
    items: [{ event: event({ metadata }) as JsonObject, ...(idempotencyKey === undefined ? {} : { idempotencyKey }) }],
    provenance: { principal_type: "api_key", principal_id: "k-test" },
  });

  it("answers each request on its own: one refused request in a forward leaves the others committed", async () => {
    const { tenant } = await tenantWithKeys();
    const first = await logOf(tenant).append(tenant, [{ event: event({ metadata: { v: 1 } }) as JsonObject, idempotencyKey: "dup" }], {
      principal_type: "api_key",
      principal_id: "k-test",
    });
    expect(first.ok).toBe(true);
    const size = (await logOf(tenant).stats()).size;
    const { queue, sent } = queueOf(tenant);
    // Submitted in one turn: the first FORWARDS_IN_FLIGHT go at once, the rest wait and go together.
    const requests = [
      ...Array.from({ length: FORWARDS_IN_FLIGHT }, (_, i) => item({ early: i })),
      item({ i: 0 }),
      item({ v: 2 }, "dup"),
      item({ i: 1 }),
      item({ v: 1 }, "dup"),
      item({ i: 2 }),
    ];
    const answers = await Promise.all(requests.map((r) => queue.submit(r)));
    // The conflicting request shared its forward with the others.
    expect(sent).toEqual([
      ...Array.from({ length: FORWARDS_IN_FLIGHT }, (_, i) => [i]),
      [2, 3, 4, 5, 6].map((x) => x + FORWARDS_IN_FLIGHT - 2),
    ]);
    const conflict = answers[FORWARDS_IN_FLIGHT + 1]!;
    expect(conflict).toEqual({ ok: false, error: { reason: "idempotency_conflict", key: "dup" } });
    // The retry with the original body gets the original receipt (its own idempotency outcome).
    const replay = answers[FORWARDS_IN_FLIGHT + 3] as Extract<AppendResult, { ok: true }>;
    expect(replay.receipts[0]!.seq).toBe((first as Extract<AppendResult, { ok: true }>).receipts[0]!.seq);
    const fresh = answers.filter((_, i) => i !== FORWARDS_IN_FLIGHT + 1 && i !== FORWARDS_IN_FLIGHT + 3);
    const seqs = fresh.map((a) => (a as Extract<AppendResult, { ok: true }>).receipts[0]!.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: fresh.length }, (_, i) => size + i));
    expect((await logOf(tenant).stats()).size).toBe(size + fresh.length);
  });

  it("past MAX_WAITING_EVENTS waiting, refuses with overloaded (503 + Retry-After); what it took is committed", async () => {
    const { tenant } = await tenantWithKeys();
    const size = (await logOf(tenant).stats()).size;
    // The sequencer is slow: the first forward waits until released, the others queue behind it.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const real = logOf(tenant);
    const queue = new BatchQueue(tenant, async (t, requests) => {
      await gate;
      return real.appendMany(t, requests);
    });
    const taken = Array.from({ length: FORWARDS_IN_FLIGHT + MAX_WAITING_EVENTS }, (_, i) => queue.submit(item({ i })));
    expect(await queue.submit(item({ refused: true }))).toEqual({ ok: false, error: { reason: "overloaded", retryAfterSeconds: 1 } });
    release();
    const answers = await Promise.all(taken);
    expect(answers.every((a) => a.ok)).toBe(true);
    expect((await logOf(tenant).stats()).size).toBe(size + taken.length);
  });

  it("that fails answers every caller log_unavailable, and acknowledges nothing", async () => {
    const { tenant } = await tenantWithKeys();
    const size = (await logOf(tenant).stats()).size;
    const broken = failingObjects(env.TENANT_LOG, ["appendMany"]);
    const { queue } = queueOf(tenant, broken.get(broken.idFromName(tenant)));
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => queue.submit(item({ i }))));
    for (const a of answers) expect(a).toEqual({ ok: false, error: { reason: "log_unavailable" } });
    expect((await logOf(tenant).stats()).size).toBe(size);
  });
});

describe("SEALTRAIL_FANIN_BATCHERS", () => {
  it("is k for a whole number 1..MAX_FANIN_BATCHERS, and off (0) for anything else", () => {
    expect(fanInBatchers({})).toBe(0);
    for (const v of ["0", "", "x", "-1", "1.5", String(MAX_FANIN_BATCHERS + 1), "1e9"])
      expect(fanInBatchers({ SEALTRAIL_FANIN_BATCHERS: v }), v).toBe(0);
    for (const k of [1, 4, MAX_FANIN_BATCHERS]) expect(fanInBatchers({ SEALTRAIL_FANIN_BATCHERS: String(k) })).toBe(k);
  });
});

describe("fan-in fails closed", () => {
  const on = String(K);

  it("a sequencer that cannot commit: every caller through the batchers gets 503 with Retry-After, nothing is stored", async () => {
    const { tenant, appendKey, base } = await tenantWithKeys();
    await runInDurableObject(logOf(tenant), (_log: TenantLog, state) => {
      state.storage.sql.exec("CREATE TRIGGER refuse_entries BEFORE INSERT ON entries BEGIN SELECT RAISE(ABORT, 'injected'); END");
    });
    const post = worker(on);
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => post(tenant, appendKey, event({ metadata: { i } }))));
    for (const r of answers) {
      expect(r.status).toBe(503);
      expect(r.headers.get("retry-after")).not.toBeNull();
      expect(await r.json()).toMatchObject({ error: { code: "log_unavailable" } });
    }
    expect((await batcherStats(tenant)).forwarded).toBe(30);
    await runInDurableObject(logOf(tenant), (_log: TenantLog, state) => {
      state.storage.sql.exec("DROP TRIGGER refuse_entries");
    });
    expect((await logOf(tenant).stats()).size).toBe(base);
    // Once it commits again, the same requests are stored.
    expect((await post(tenant, appendKey, event())).status).toBe(201);
  });

  it("a batcher that fails: 503 log_unavailable with Retry-After, never a 2xx", async () => {
    const { tenant, appendKey, base } = await tenantWithKeys();
    const post = worker(on, { BATCHER: failingObjects(env.BATCHER, ["append"]) });
    const r = await post(tenant, appendKey, event(), { "idempotency-key": "after-failure" });
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).not.toBeNull();
    expect((await logOf(tenant).stats()).size).toBe(base);
    // The retry through a working batcher stores it once.
    const retry = await worker(on)(tenant, appendKey, event(), { "idempotency-key": "after-failure" });
    expect(retry.status).toBe(201);
    expect(((await retry.json()) as Receipt).seq).toBe(base);
  });

  it("a batcher serves one tenant: asked for another, it refuses (503), and forwards nothing", async () => {
    const a = await tenantWithKeys();
    const b = await tenantWithKeys();
    const stub = env.BATCHER.get(env.BATCHER.idFromName(batcherName(a.tenant, undefined, 0)));
    const provenance = { principal_type: "api_key", principal_id: "k" };
    expect((await stub.append(a.tenant, [{ event: event() as JsonObject }], provenance)).ok).toBe(true);
    expect(await stub.append(b.tenant, [{ event: event() as JsonObject }], provenance)).toEqual({
      ok: false,
      error: { reason: "log_unavailable" },
    });
    expect((await logOf(b.tenant).stats()).size).toBe(b.base);
  });
});
