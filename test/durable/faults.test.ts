import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../src/core/entry";
import { LogStore } from "../../src/durable/log-store";
import type { TenantLog } from "../../src/durable/tenant-log";
import { api, bearer, createKey, event, logOf, logSize, postEvent, tenantWithKeys, dbOf, bucketOf, mirrored } from "../worker/helpers";
import { appendVia, failingR2, withLog } from "./faults";
import { runVerification } from "./log-helpers";

const verifyOk = async (tenant: string, key: string) => (await runVerification(tenant, key)).report!;

async function d1Seqs(tenant: string) {
  const { results } = await (await dbOf(tenant))
    .prepare("SELECT seq FROM audit_events WHERE tenant_id = ? ORDER BY seq")
    .bind(tenant)
    .all<{ seq: number }>();
  return results.map((r) => r.seq);
}

describe("the Durable Object aborted mid-flush", () => {
  it("an acknowledged entry whose D1 copy dies with the object is mirrored after the restart; a retry with the same key lands exactly once", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const verifyKey = await createKey(owner, tenant, ["verify"]);
    const base = await logSize(owner, tenant); // the keys' creation entries
    const body = event({ action: "payment.captured", metadata: { amount: 42 } });
    expect((await postEvent(tenant, appendKey, body)).status).toBe(201);
    await mirrored(tenant);
    // The event and provenance the Worker stamps for this key (its idempotency keys are scoped by it).
    const sent = await runInDurableObject(logOf(tenant), (_log: TenantLog, state) => {
      return JSON.parse(new LogStore(state.storage.sql).entry(base)!.entry) as { event: JsonObject; provenance: JsonObject };
    });
    // Abort the object inside the D1 mirror's write, after the entry was acknowledged at its
    // commit: the outbox's progress in memory is lost with it.
    const shard = await dbOf(tenant);
    const aborting = (state: DurableObjectState) => ({
      db: new Proxy(shard, {
        get(target, prop) {
          if (prop === "batch") return async () => state.abort("injected abort in the D1 write");
          const v = Reflect.get(target, prop) as unknown;
          return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      }),
    });
    let acked: unknown;
    const first = withLog(logOf(tenant), tenant, aborting, async (log) => {
      acked = await log.commit.enqueue(tenant, {
        req: { items: [{ event: sent.event, idempotencyKey: "pay-42" }], provenance: sent.provenance },
      });
      await log.mirror.copy();
    });
    await expect(first).rejects.toThrow();
    expect(acked).toMatchObject({ ok: true, receipts: [{ seq: base + 1 }] });
    const retry = await postEvent(tenant, appendKey, body, { "idempotency-key": "pay-42" });
    expect(retry.status).toBe(201);
    const receipt = await retry.json();
    expect(receipt).toMatchObject({ seq: base + 1 });
    const again = await postEvent(tenant, appendKey, body, { "idempotency-key": "pay-42" });
    expect(await again.json()).toEqual(receipt);
    await mirrored(tenant);
    // D1 holds the key as the log stores it: scoped by the credential and the entry's seq, "<type>:<id> pay-42 @<seq>".
    const rows = await (await dbOf(tenant))
      .prepare("SELECT count(*) AS n FROM audit_events WHERE tenant_id = ? AND idempotency_key LIKE '% pay-42 @%'")
      .bind(tenant)
      .first<{ n: number }>();
    expect(rows!.n).toBe(1);
    expect(await d1Seqs(tenant)).toEqual(Array.from({ length: base + 2 }, (_, i) => i));
    expect(await verifyOk(tenant, verifyKey)).toMatchObject({ ok: true });
  });
});

describe("a Durable Object call that fails", () => {
  it("is answered 503 log_unavailable with Retry-After (src/worker/tenant-log.ts failClosed), never a 500", async () => {
    const { tenant, appendKey, readKey } = await tenantWithKeys();
    expect((await postEvent(tenant, appendKey, event())).status).toBe(201);
    // A fault in the object's own storage: a leaf the proof of entry 0 reads is gone, so the call throws.
    await runInDurableObject(logOf(tenant), (_log: TenantLog, state) => {
      state.storage.sql.exec("DELETE FROM tree_nodes WHERE level = 0 AND idx = 1");
    });
    const res = await api(`/v1/tenants/${tenant}/events/0/proof`, { headers: { "x-api-key": readKey } });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).not.toBeNull();
    expect(await res.json()).toMatchObject({ error: { code: "log_unavailable" } });
  });
});

describe("1,000 concurrent appends with forced interleaving", () => {
  it("contiguous sequence numbers, one entry per idempotency key even with concurrent retries, head equals recomputed head", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const verifyKey = await createKey(owner, tenant, ["verify"]);
    const base = await logSize(owner, tenant); // the keys' creation entries
    const jitter = () => new Promise((r) => setTimeout(r, Math.random() * 15));
    // 800 distinct events, 100 of them sent three times at once with the same key.
    const sends: Promise<Response>[] = [];
    for (let i = 0; i < 800; i++) {
      const copies = i < 100 ? 3 : 1;
      for (let c = 0; c < copies; c++) {
        sends.push(
          jitter().then(() => postEvent(tenant, appendKey, event({ metadata: { i } }), i < 100 ? { "idempotency-key": `k-${i}` } : {})),
        );
      }
    }
    expect(sends).toHaveLength(1_000);
    const responses = await Promise.all(sends);
    const receipts = await Promise.all(
      responses.map(async (r) => {
        expect(r.status).toBe(201);
        return (await r.json()) as { seq: number; leaf_hash: string };
      }),
    );
    const unique = new Map(receipts.map((r) => [r.seq, r.leaf_hash]));
    expect(unique.size).toBe(800);
    expect([...unique.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 800 }, (_, i) => base + i));
    // Copies sent with one key got one receipt.
    for (let i = 0; i < 100; i++) expect(new Set(receipts.slice(i * 3, i * 3 + 3).map((r) => r.seq)).size).toBe(1);
    expect(await verifyOk(tenant, verifyKey)).toMatchObject({ ok: true, checked: { entries: base + 800 } });
  });
});

describe("R2 failing during reconcile", () => {
  it("sealing stops and says why while R2 is down, then recovers with nothing missing", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const verifyKey = await createKey(owner, tenant, ["verify"]);
    await postEvent(tenant, appendKey, event());
    expect((await api(`/v1/tenants/${tenant}/seal`, { method: "POST", headers: bearer(owner) })).status).toBe(200);
    await postEvent(tenant, appendKey, event());
    const stub = logOf(tenant);
    // R2's list and get fail four times: at start, in two reconciles, and when asked to sign.
    await withLog(stub, tenant, { bucket: failingR2(await bucketOf(tenant), "before", /./, 4, { list: true, get: true }) }, async (log) => {
      for (let i = 0; i < 2; i++) expect(await log.sealer.reconcileAgain(tenant)).toBe(false);
      const stats = log.sealer.stats(tenant);
      expect(stats.last_seal_error).toMatch(/reconcile: R2 unavailable/);
      expect(stats.refusal).toBeNull();
      // Nothing is signed while R2 could not be read to rule out a newer or conflicting seal
      // (the checkpoint call tries R2 once more: the fourth injected failure).
      expect(await log.reads.checkpoint(tenant)).toMatchObject({ ok: false, error: { reason: "not_reconciled" } });
      // Appends go on while R2 is down.
      expect(await appendVia(log, tenant, event())).toMatchObject({ ok: true });
      // R2 is back (the wrapper's failures are spent).
      expect(await log.sealer.reconcileAgain(tenant)).toBe(true);
      expect(await log.reads.checkpoint(tenant)).toMatchObject({ ok: true });
    });
    expect((await api(`/v1/tenants/${tenant}/seal`, { method: "POST", headers: bearer(owner) })).status).toBe(200);
    expect(await verifyOk(tenant, verifyKey)).toMatchObject({ ok: true, checked: { seals: 2 } });
  });
});
