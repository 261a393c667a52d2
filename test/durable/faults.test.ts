import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { TenantLog } from "../../src/durable/tenant-log";
import { api, bearer, createKey, event, logOf, logSize, postEvent, tenantWithKeys } from "../worker/helpers";
import { failingR2 } from "./faults";
import { runVerification } from "./log-helpers";

const verifyOk = async (tenant: string, key: string) => (await runVerification(tenant, key)).report!;

async function d1Seqs(tenant: string) {
  const { results } = await env.DB.prepare("SELECT seq FROM audit_events WHERE tenant_id = ? ORDER BY seq").bind(tenant).all<{ seq: number }>();
  return results.map((r) => r.seq);
}

describe("the Durable Object aborted mid-flush", () => {
  it("the caller gets a 503; a retry with the same key lands exactly once; chain and tree stay consistent", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const verifyKey = await createKey(owner, tenant, ["verify"]);
    const base = await logSize(owner, tenant); // the keys' creation entries
    await postEvent(tenant, appendKey, event());
    // Abort the object between its commit and its reply (inside the D1 mirror step).
    await runInDurableObject(logOf(tenant), (log: TenantLog, state) => {
      log.mirrorDb = new Proxy(log.mirrorDb, {
        get(target, prop) {
          if (prop === "batch") return async () => state.abort("injected abort between commit and reply");
          const v = Reflect.get(target, prop) as unknown;
          return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    });
    const body = event({ action: "payment.captured", metadata: { amount: 42 } });
    const first = await postEvent(tenant, appendKey, body, { "idempotency-key": "pay-42" });
    expect(first.status).toBe(503);
    expect(first.headers.get("retry-after")).not.toBeNull();
    const retry = await postEvent(tenant, appendKey, body, { "idempotency-key": "pay-42" });
    expect(retry.status).toBe(201);
    const receipt = await retry.json();
    const again = await postEvent(tenant, appendKey, body, { "idempotency-key": "pay-42" });
    expect(await again.json()).toEqual(receipt);
    await logOf(tenant).drainMirror();
    // D1 holds the key as the log stores it: scoped by the credential, "<type>:<id> pay-42".
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM audit_events WHERE tenant_id = ? AND idempotency_key LIKE '% pay-42'").bind(tenant).first<{ n: number }>();
    expect(rows!.n).toBe(1);
    expect(await d1Seqs(tenant)).toEqual(Array.from({ length: base + 2 }, (_, i) => i));
    expect(await verifyOk(tenant, verifyKey)).toMatchObject({ ok: true });
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
        sends.push(jitter().then(() => postEvent(tenant, appendKey, event({ metadata: { i } }), i < 100 ? { "idempotency-key": `k-${i}` } : {})));
      }
    }
    expect(sends).toHaveLength(1_000);
    const responses = await Promise.all(sends);
    const receipts = await Promise.all(responses.map(async (r) => { expect(r.status).toBe(201); return (await r.json()) as { seq: number; leaf_hash: string }; }));
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
    await runInDurableObject(stub, (log: TenantLog) => {
      log.bucket = failingR2(env.BUCKET, "before", /./, 3, { list: true, get: true });
    });
    for (let i = 0; i < 2; i++) {
      const r = await stub.reconcile(tenant);
      expect(r).toBe(false);
    }
    const stats = await stub.stats();
    expect(stats.last_seal_error).toMatch(/reconcile: R2 unavailable/);
    expect(stats.refusal).toBeNull();
    // Nothing is signed while R2 could not be read to rule out a newer or conflicting seal
    // (the checkpoint call tries R2 once more: the third injected failure).
    const signed = await stub.checkpoint(tenant);
    expect(signed).toMatchObject({ ok: false, error: { reason: "not_reconciled" } });
    // Appends go on while R2 is down.
    expect((await postEvent(tenant, appendKey, event())).status).toBe(201);
    // R2 is back (the wrapper's three failures are spent).
    expect(await stub.reconcile(tenant)).toBe(true);
    expect((await api(`/v1/tenants/${tenant}/seal`, { method: "POST", headers: bearer(owner) })).status).toBe(200);
    expect(await verifyOk(tenant, verifyKey)).toMatchObject({ ok: true, checked: { seals: 2 } });
  });
});
