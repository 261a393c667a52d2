import { describe, expect, it } from "vitest";
import { canonicalize, type JsonValue } from "../../src/core/jcs";
import { api, mirroredDbOf, event, logOf, postEvent, tenantWithKeys } from "./helpers";

interface Receipt {
  seq: number;
  leaf_hash: string;
  received_at: string;
  tree_size: number;
}

const b64 = (bytes: ArrayBuffer | Uint8Array) => btoa(String.fromCharCode(...new Uint8Array(bytes)));

/** RFC 6962 leaf hash computed here independently, with WebCrypto rather than the core. */
async function leafHashOf(entry: string): Promise<string> {
  const bytes = new TextEncoder().encode(entry);
  const input = new Uint8Array(bytes.length + 1);
  input.set(bytes, 1);
  return b64(await crypto.subtle.digest("SHA-256", input));
}

const d1Rows = async (tenant: string) =>
  (await mirroredDbOf(tenant))
    .prepare("SELECT seq, entry, leaf_hash FROM audit_events WHERE tenant_id = ? ORDER BY seq")
    .bind(tenant)
    .all<{ seq: number; entry: string; leaf_hash: string }>()
    .then((r) => r.results);

/** The rows of the events the test appended (not the service's own `sealtrail.*` entries, such as key creations). */
const d1Events = async (tenant: string) =>
  (await mirroredDbOf(tenant))
    .prepare("SELECT seq, entry, leaf_hash FROM audit_events WHERE tenant_id = ? AND action NOT LIKE 'sealtrail.%' ORDER BY seq")
    .bind(tenant)
    .all<{ seq: number; entry: string; leaf_hash: string }>()
    .then((r) => r.results);

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe("append", () => {
  it("500 concurrent appends get sequence numbers base..base+499 exactly once, chained, matching the head", async () => {
    const { tenant, appendKey, base } = await tenantWithKeys();
    const responses = await Promise.all(Array.from({ length: 500 }, (_, i) => postEvent(tenant, appendKey, event({ metadata: { i } }))));
    const receipts = await Promise.all(
      responses.map(async (r) => {
        expect(r.status).toBe(201);
        return (await r.json()) as Receipt;
      }),
    );
    expect(receipts.map((r) => r.seq).sort((a, b) => a - b)).toEqual(range(base, 500));

    // Every acknowledged entry is in D1, and the chain recomputed from D1's bytes holds.
    const rows = await d1Rows(tenant);
    expect(rows.map((r) => r.seq)).toEqual(range(0, base + 500));
    let prev = b64(new Uint8Array(32));
    for (const row of rows) {
      const parsed = JSON.parse(row.entry) as { seq: number; prev: string; tenant: string };
      expect(parsed.seq).toBe(row.seq);
      expect(parsed.tenant).toBe(tenant);
      expect(parsed.prev).toBe(prev);
      const leaf = await leafHashOf(row.entry);
      expect(row.leaf_hash).toBe(leaf);
      prev = leaf;
    }
    const stats = await logOf(tenant).stats();
    expect(stats.size).toBe(base + 500);
    expect(stats.head_leaf_hash).toBe(prev);
    // Receipts agree with what was stored.
    const bySeq = new Map(rows.map((r) => [r.seq, r.leaf_hash]));
    for (const r of receipts) expect(r.leaf_hash).toBe(bySeq.get(r.seq));
  });

  it("stores canonical (RFC 8785) entry bytes with server time, never decreasing, apart from the client's time", async () => {
    const { tenant, appendKey, readKey, base } = await tenantWithKeys();
    // Client times deliberately out of order: order must follow sequence numbers regardless.
    for (const occurred of ["2030-01-01T00:00:00Z", "1999-01-01T00:00:00Z", "2020-06-01T12:00:00+02:00"]) {
      const res = await postEvent(tenant, appendKey, event({ occurred_at: occurred }));
      expect(res.status).toBe(201);
    }
    const rows = await d1Events(tenant);
    let last = 0;
    for (const [i, row] of rows.entries()) {
      expect(canonicalize(JSON.parse(row.entry) as JsonValue)).toBe(row.entry);
      const parsed = JSON.parse(row.entry) as { received_at: string; event: { occurred_at: string } };
      const received = Date.parse(parsed.received_at);
      expect(received).toBeGreaterThanOrEqual(last);
      expect(Math.abs(received - Date.now())).toBeLessThan(60_000);
      last = received;
      expect(parsed.event.occurred_at).toBe(["2030-01-01T00:00:00Z", "1999-01-01T00:00:00Z", "2020-06-01T12:00:00+02:00"][i]);
    }
    const one = await api(`/v1/tenants/${tenant}/events/${base + 1}`, { headers: { "x-api-key": readKey } });
    const body = (await one.json()) as { entry: string; leaf_hash: string };
    expect(body.entry).toBe(rows[1]!.entry);
    expect(body.leaf_hash).toBe(await leafHashOf(body.entry));
  });

  it("a retry with the same Idempotency-Key and body returns the original receipt and stores nothing new", async () => {
    const { tenant, appendKey } = await tenantWithKeys();
    const first = await postEvent(tenant, appendKey, event(), { "idempotency-key": "order-42" });
    expect(first.status).toBe(201);
    const original = (await first.json()) as Receipt;
    await postEvent(tenant, appendKey, event({ action: "other.event" }));
    // Same body with another key order and whitespace is the same body.
    const reordered = `{ "outcome": "success", "targets": [{"type":"application","id":"app-1"}],
      "actor": {"name":"Ada","type":"user","id":"user-1"}, "action": "user.login" }`;
    const retry = await postEvent(tenant, appendKey, reordered, { "idempotency-key": "order-42" });
    expect(retry.status).toBe(201);
    expect(await retry.json()).toEqual(original);
    expect(await d1Events(tenant)).toHaveLength(2);
  });

  it("the same Idempotency-Key with a different body is 409 and stores nothing", async () => {
    const { tenant, appendKey } = await tenantWithKeys();
    expect((await postEvent(tenant, appendKey, event(), { "idempotency-key": "k1" })).status).toBe(201);
    const conflict = await postEvent(tenant, appendKey, event({ outcome: "failure" }), { "idempotency-key": "k1" });
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toMatchObject({ error: { code: "idempotency_conflict" } });
    expect(await d1Events(tenant)).toHaveLength(1);
  });

  it("idempotency keys are scoped per tenant", async () => {
    const a = await tenantWithKeys();
    const b = await tenantWithKeys();
    const ra = (await (await postEvent(a.tenant, a.appendKey, event(), { "idempotency-key": "shared" })).json()) as Receipt;
    const rb = await postEvent(b.tenant, b.appendKey, event({ outcome: "failure" }), { "idempotency-key": "shared" });
    expect(rb.status).toBe(201);
    expect(ra.seq).toBe(a.base);
    expect(((await rb.json()) as Receipt).seq).toBe(b.base);
  });

  it("a batch is appended contiguously, with per-event idempotency keys", async () => {
    const { tenant, appendKey, base } = await tenantWithKeys();
    await postEvent(tenant, appendKey, event());
    const batch = { events: [event({ idempotency_key: "b-1" }), event({ action: "user.logout" }), event({ idempotency_key: "b-3" })] };
    const res = await postEvent(tenant, appendKey, batch);
    expect(res.status).toBe(201);
    const { receipts } = (await res.json()) as { receipts: Receipt[] };
    expect(receipts.map((r) => r.seq)).toEqual(range(base + 1, 3));
    expect(receipts.every((r) => r.tree_size === base + 4)).toBe(true);
    // Retrying the batch returns the same receipts for keyed events; the unkeyed one is new.
    const again = (await (await postEvent(tenant, appendKey, batch)).json()) as { receipts: Receipt[] };
    expect(again.receipts[0]).toEqual(receipts[0]);
    expect(again.receipts[2]).toEqual(receipts[2]);
    expect(again.receipts[1]!.seq).toBe(base + 4);
  });

  it("a batch with one conflicting key is refused whole: none of its events is stored", async () => {
    const { tenant, appendKey, base } = await tenantWithKeys();
    await postEvent(tenant, appendKey, event(), { "idempotency-key": "taken" });
    const res = await postEvent(tenant, appendKey, {
      events: [event({ action: "a.one" }), event({ action: "a.two", idempotency_key: "taken" })],
    });
    expect(res.status).toBe(409);
    expect(await d1Events(tenant)).toHaveLength(1);
    expect((await logOf(tenant).stats()).size).toBe(base + 1);
  });

  it("two tenants' logs are independent", async () => {
    const a = await tenantWithKeys();
    const b = await tenantWithKeys();
    await Promise.all([
      ...Array.from({ length: 20 }, () => postEvent(a.tenant, a.appendKey, event())),
      ...Array.from({ length: 7 }, () => postEvent(b.tenant, b.appendKey, event())),
    ]);
    const [ra, rb] = [await d1Rows(a.tenant), await d1Rows(b.tenant)];
    expect(ra.map((r) => r.seq)).toEqual(range(0, a.base + 20));
    expect(rb.map((r) => r.seq)).toEqual(range(0, b.base + 7));
    expect(rb.every((r) => (JSON.parse(r.entry) as { tenant: string }).tenant === b.tenant)).toBe(true);
    expect((await logOf(a.tenant).stats()).size).toBe(a.base + 20);
    expect((await logOf(b.tenant).stats()).size).toBe(b.base + 7);
  });

  it("lists with filters and cursor pagination in sequence order", async () => {
    const { tenant, appendKey, readKey, base } = await tenantWithKeys();
    for (let i = 0; i < 7; i++) {
      await postEvent(
        tenant,
        appendKey,
        event({
          action: i % 2 ? "doc.read" : "user.login",
          actor: { id: `u${i % 3}`, type: "user" },
          targets: [{ id: `t${i}`, type: "doc" }],
          outcome: i === 6 ? "denied" : "success",
        }),
      );
    }
    const list = async (q: string) =>
      (await (await api(`/v1/tenants/${tenant}/events?${q}`, { headers: { "x-api-key": readKey } })).json()) as {
        events: { seq: number }[];
        next_cursor: string | null;
      };
    // Sequence numbers relative to the first event the test appended.
    const seqs = async (q: string) => (await list(q)).events.map((e) => e.seq - base);
    expect(await seqs("action=doc.read")).toEqual([1, 3, 5]);
    expect(await seqs("actor=u0")).toEqual([0, 3, 6]);
    expect(await seqs("target=t4")).toEqual([4]);
    expect(await seqs("outcome=denied")).toEqual([6]);
    expect(await seqs("actor=u0&action=doc.read")).toEqual([3]);
    expect(await seqs("since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z")).toEqual([]);
    // Reads are logged too (actor type api_key), and so are key creations (target type
    // api_key): page through the events about documents only.
    const page1 = await list("target_type=doc&limit=3");
    expect(page1.events.map((e) => e.seq - base)).toEqual([0, 1, 2]);
    const page2 = await list(`target_type=doc&limit=3&cursor=${page1.next_cursor}`);
    expect(page2.events.map((e) => e.seq - base)).toEqual([3, 4, 5]);
    const page3 = await list(`target_type=doc&limit=3&cursor=${page2.next_cursor}`);
    expect(page3).toMatchObject({ next_cursor: null });
    expect(page3.events.map((e) => e.seq - base)).toEqual([6]);
    const bad = await api(`/v1/tenants/${tenant}/events?cursor=nonsense`, { headers: { "x-api-key": readKey } });
    expect(bad.status).toBe(400);
    const missing = await api(`/v1/tenants/${tenant}/events/99`, { headers: { "x-api-key": readKey } });
    expect(missing.status).toBe(404);
  });
});
