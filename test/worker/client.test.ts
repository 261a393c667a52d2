import { exports, env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SealtrailClient, SealtrailError, verifyReceipt } from "../../src/client";
import { publishedKeys } from "../../src/durable/checkpoint-keys";
import { api, BASE, event, tenantWithKeys, mirroredDbOf } from "./helpers";

/** fetch into the real Worker, with scripted faults: "lost" = processed, then a 503 is returned. */
function faultyFetch(script: ("ok" | "lost" | "busy" | "down")[]) {
  const calls: string[] = [];
  const f: typeof fetch = async (input, init) => {
    const fault = script.shift() ?? "ok";
    calls.push(fault);
    if (fault === "down") throw new TypeError("network down");
    if (fault === "busy")
      return new Response(JSON.stringify({ error: { code: "overloaded", message: "busy" } }), {
        status: 503,
        headers: { "retry-after": "2" },
      });
    const res = await exports.default.fetch(new Request(input as string, init));
    if (fault === "lost") return new Response("upstream reset", { status: 503 });
    return res;
  };
  return { f, calls };
}

describe("client SDK", () => {
  it("batches by size and time, retries lost responses, busy answers and network errors, and never duplicates", async () => {
    const { tenant, appendKey, base } = await tenantWithKeys();
    const { f, calls } = faultyFetch(["lost", "busy", "ok", "down", "ok", "ok"]);
    const slept: number[] = [];
    const client = new SealtrailClient({
      baseUrl: BASE,
      tenant,
      key: appendKey,
      fetch: f,
      maxBatchDelayMs: 5,
      sleep: async (ms) => void slept.push(ms),
      random: () => 0.5,
    });
    const receipts = await Promise.all(Array.from({ length: 250 }, (_, i) => client.log(event({ metadata: { i } }) as never)));
    await client.flush();
    // Batches: 100 (lost, busy, ok), 100 (down, ok), 50 (ok).
    expect(calls).toEqual(["lost", "busy", "ok", "down", "ok", "ok"]);
    expect(slept).toContain(2000); // Retry-After honoured
    const seqs = receipts.map((r) => r.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 250 }, (_, i) => base + i));
    const stored = await (await mirroredDbOf(tenant))
      .prepare("SELECT count(*) AS n FROM audit_events WHERE tenant_id = ? AND action = 'user.login'")
      .bind(tenant)
      .first<{ n: number }>();
    expect(stored!.n).toBe(250);
  });

  it("sends a partial batch after the delay, and rejects without retrying a 4xx", async () => {
    const { tenant, appendKey, base } = await tenantWithKeys();
    const { f, calls } = faultyFetch([]);
    const client = new SealtrailClient({ baseUrl: BASE, tenant, key: appendKey, fetch: f, maxBatchDelayMs: 5 });
    const r = await client.log(event() as never);
    expect(r.seq).toBe(base);
    const bad = client.log(event({ outcome: "maybe" }) as never);
    await expect(bad).rejects.toBeInstanceOf(SealtrailError);
    await expect(bad).rejects.toMatchObject({ status: 400, code: "invalid_event" });
    expect(calls).toHaveLength(2);
  });

  it("gives up after maxAttempts and rejects every event of the batch", async () => {
    const { tenant, appendKey } = await tenantWithKeys();
    const { f } = faultyFetch(["busy", "busy", "busy"]);
    const client = new SealtrailClient({
      baseUrl: BASE,
      tenant,
      key: appendKey,
      fetch: f,
      maxAttempts: 3,
      maxBatchDelayMs: 1,
      sleep: async () => {},
    });
    const results = await Promise.allSettled([client.log(event() as never), client.log(event() as never)]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
  });

  it("verifies a receipt offline against the pinned key, and rejects a tampered entry", async () => {
    const { tenant, appendKey, readKey, base } = await tenantWithKeys();
    const client = new SealtrailClient({
      baseUrl: BASE,
      tenant,
      key: appendKey,
      fetch: (i, init) => exports.default.fetch(new Request(i as string, init)),
      maxBatchDelayMs: 1,
    });
    const receipt = await client.log(event() as never);
    const entry = (
      (await (await api(`/v1/tenants/${tenant}/events/${receipt.seq}`, { headers: { "x-api-key": readKey } })).json()) as { entry: string }
    ).entry;
    const proof = await (await api(`/v1/tenants/${tenant}/events/${receipt.seq}/proof`, { headers: { "x-api-key": readKey } })).text();
    const pinned = publishedKeys(env, tenant).map((k) => k.verifier_key);
    expect(verifyReceipt(receipt, entry, proof, pinned)).toMatchObject({ ok: true, seq: base });
    expect(verifyReceipt(receipt, entry.replace("user.login", "user.logon"), proof, pinned)).toMatchObject({
      ok: false,
      error: { reason: "receipt_mismatch" },
    });
    const other = await tenantWithKeys();
    expect(
      verifyReceipt(
        receipt,
        entry,
        proof,
        publishedKeys(env, other.tenant).map((k) => k.verifier_key),
      ).ok,
    ).toBe(false);
  });
});
