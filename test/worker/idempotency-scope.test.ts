/**
 * Issue #13, finding 5: an Idempotency-Key belongs to the credential that used it (per tenant).
 * Whoever holds the public browser key must not be able to claim a backend's key first.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { eventDigest, type JsonObject } from "../../src/core/entry";
import type { TenantLog } from "../../src/durable/tenant-log";
import { api, bearer, createKey, createTenant, event, logOf, postEvent, signUp, mirroredDbOf } from "./helpers";

const APP = "https://app.example.com";

interface Receipt {
  seq: number;
  leaf_hash: string;
  received_at: string;
  tree_size: number;
}

/** A tenant with a backend (secret) key, a publishable browser key and its owner's session. */
async function tenantWithCredentials() {
  const owner = await signUp();
  const tenant = await createTenant(owner);
  const backend = await createKey(owner, tenant, ["append"], "backend");
  const res = await api(`/v1/tenants/${tenant}/keys`, {
    method: "POST",
    headers: { "content-type": "application/json", ...bearer(owner) },
    body: JSON.stringify({ name: "web", permissions: ["append"], allowed_origins: [APP] }),
  });
  expect(res.status).toBe(201);
  const publishable = ((await res.json()) as { key: string }).key;
  // Creating the two keys is logged: the test's own entries start at `base`.
  const base = (await logOf(tenant).stats()).size;
  return { owner, tenant, backend, publishable, base };
}

const d1Keys = async (tenant: string) =>
  (
    await (
      await mirroredDbOf(tenant)
    )
      .prepare("SELECT seq, idempotency_key FROM audit_events WHERE tenant_id = ? ORDER BY seq")
      .bind(tenant)
      .all<{ seq: number; idempotency_key: string | null }>()
  ).results;

describe("idempotency keys are scoped by credential", () => {
  it("the same Idempotency-Key from two credentials gives two entries, and each retry gets its own receipt", async () => {
    const { owner, tenant, backend, publishable, base } = await tenantWithCredentials();
    const headers = { "idempotency-key": "order-42" };
    // The browser key's holder uses the backend's next key first, with another body…
    const attacker = await postEvent(tenant, publishable, event({ action: "order.forged" }), { ...headers, origin: APP });
    expect(attacker.status).toBe(201);
    const forged = (await attacker.json()) as Receipt;
    // …and the same body, to try to take the backend's receipt.
    const same = await postEvent(tenant, publishable, event(), { ...headers, origin: APP });
    expect(same.status).toBe(409);
    // The backend's own key is its own: a new entry, not a 409 and not the attacker's receipt.
    const first = await postEvent(tenant, backend, event(), headers);
    expect(first.status).toBe(201);
    const mine = (await first.json()) as Receipt;
    expect(mine.seq).not.toBe(forged.seq);
    // A signed-in person is a third credential with the same key.
    const person = await api(`/v1/tenants/${tenant}/events`, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(owner), ...headers },
      body: JSON.stringify(event()),
    });
    expect(person.status).toBe(201);
    const theirs = (await person.json()) as Receipt;
    expect(new Set([forged.seq, mine.seq, theirs.seq]).size).toBe(3);

    // Retries: each credential gets its own original receipt back, and nothing new is stored.
    expect(await (await postEvent(tenant, backend, event(), headers)).json()).toEqual(mine);
    expect(await (await postEvent(tenant, publishable, event({ action: "order.forged" }), { ...headers, origin: APP })).json()).toEqual(
      forged,
    );
    const again = await api(`/v1/tenants/${tenant}/events`, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(owner), ...headers },
      body: JSON.stringify(event()),
    });
    expect(await again.json()).toEqual(theirs);
    // A different body with the same key and credential is still a conflict.
    const conflict = await postEvent(tenant, backend, event({ outcome: "failure" }), headers);
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toMatchObject({ error: { code: "idempotency_conflict" } });

    // D1 holds the three entries (its unique column holds the key per credential and per use: "<type>:<id> <key> @<seq>").
    const rows = (await d1Keys(tenant)).filter((r) => r.seq >= base);
    expect(rows.map((r) => r.seq)).toEqual([base, base + 1, base + 2]);
    expect(new Set(rows.map((r) => r.idempotency_key)).size).toBe(3);
    expect(rows.every((r) => / order-42 @\d+$/.test(r.idempotency_key ?? ""))).toBe(true);
    expect((await logOf(tenant).stats()).mirror_failures).toBe(0);
  });

  it("per-event keys of a batch are scoped the same way", async () => {
    const { tenant, backend, publishable, base } = await tenantWithCredentials();
    const batch = { events: [event({ idempotency_key: "b-1" }), event({ idempotency_key: "b-2" })] };
    const a = (await (await postEvent(tenant, publishable, batch, { origin: APP })).json()) as { receipts: Receipt[] };
    const b = (await (await postEvent(tenant, backend, batch)).json()) as { receipts: Receipt[] };
    expect(a.receipts.map((r) => r.seq)).toEqual([base, base + 1]);
    expect(b.receipts.map((r) => r.seq)).toEqual([base + 2, base + 3]);
    expect(await (await postEvent(tenant, backend, batch)).json()).toEqual(b);
  });

  it("a key stored before keys were scoped still answers its retry: the original receipt, or 409", async () => {
    const { tenant, backend, base } = await tenantWithCredentials();
    const body = event({ action: "legacy.event" });
    const res = await postEvent(tenant, backend, body);
    const original = (await res.json()) as Receipt;
    // As an older version stored it: the key as sent, unscoped, beside the receipt.
    await runInDurableObject(logOf(tenant), (_log: TenantLog, state) => {
      const { seq, leaf_hash } = original;
      const leaf = Uint8Array.from(atob(leaf_hash), (ch) => ch.charCodeAt(0));
      state.storage.sql.exec(
        "INSERT INTO idempotency (key, digest, seq, leaf_hash, received_at, tree_size) VALUES (?, ?, ?, ?, ?, ?)",
        "legacy-1",
        eventDigest(body as JsonObject),
        seq,
        leaf,
        Date.parse(original.received_at),
        original.tree_size,
      );
    });
    const retry = await postEvent(tenant, backend, body, { "idempotency-key": "legacy-1" });
    expect(retry.status).toBe(201);
    expect(await retry.json()).toEqual(original);
    expect((await postEvent(tenant, backend, event(), { "idempotency-key": "legacy-1" })).status).toBe(409);
    expect((await logOf(tenant).stats()).size).toBe(base + 1);
  });

  it("the verification job's own key still makes its log entry once, per requester", async () => {
    const { tenant, base } = await tenantWithCredentials();
    const stub = logOf(tenant);
    const ev = { action: "sealtrail.log.verified", actor: { id: "k1", type: "api_key" }, targets: [], outcome: "success" };
    const prov = { principal_type: "api_key", principal_id: "k1", key_id: "k1" };
    const first = await stub.append(tenant, [{ event: ev, idempotencyKey: "verify:job-1" }], prov);
    const again = await stub.append(tenant, [{ event: ev, idempotencyKey: "verify:job-1" }], { ...prov, request_id: "another request" });
    expect(first.ok && again.ok).toBe(true);
    if (!first.ok || !again.ok) return;
    expect(again.receipts).toEqual(first.receipts);
    expect((await stub.stats()).size).toBe(base + 1);
  });
});
