import { env } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/d1";
import { and } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { auditEvents } from "../../src/db/audit-schema";
import { filterConditions, type EventFilter } from "../../src/worker/event-query";
import { api, event, postEvent, tenantWithKeys, mirroredDbOf } from "./helpers";

interface Listed {
  events: { seq: number; event: { action: string } }[];
  next_cursor: string | null;
  prev_cursor: string | null;
}

/**
 * A log whose events differ along every filter: 12 events, after the keys' creation entries.
 * `seqs` and `rel` give sequence numbers relative to the first event (0..11); `span` is the
 * from_seq/to_seq pair that selects exactly the 12 events (keeping out the access events the
 * test's own reads append).
 */
async function seeded() {
  const t = await tenantWithKeys();
  const actions = ["user.login", "user.logout", "doc.read", "doc.write", "user.mfa.enabled", "billing.charge"];
  const events = Array.from({ length: 12 }, (_, i) =>
    event({
      action: actions[i % actions.length],
      actor: { id: `u${i % 4}`, type: i % 3 === 0 ? "service" : "user" },
      targets: [{ id: `t${i % 5}`, type: i % 2 ? "document" : "account" }],
      outcome: i === 11 ? "denied" : i % 4 === 3 ? "failure" : "success",
    }),
  );
  const res = await postEvent(t.tenant, t.appendKey, { events });
  expect(res.status).toBe(201);
  const list = async (q: string): Promise<Listed> => {
    const r = await api(`/v1/tenants/${t.tenant}/events?${q}`, { headers: { "x-api-key": t.readKey } });
    expect(r.status, q).toBe(200);
    return (await r.json()) as Listed;
  };
  const rel = (l: Listed) => l.events.map((e) => e.seq - t.base);
  return { ...t, list, rel, span: `from_seq=${t.base}&to_seq=${t.base + 12}`, seqs: async (q: string) => rel(await list(q)) };
}

describe("filters", () => {
  it("each filter, alone and combined, selects exactly the matching events", async () => {
    const { seqs, span, base } = await seeded();
    const q = (s: string) => seqs(`${span}&${s}`);
    expect(await q("action=user.login")).toEqual([0, 6]);
    expect(await q("action=user.*")).toEqual([0, 1, 4, 6, 7, 10]);
    expect(await q("action=user.mfa.*")).toEqual([4, 10]);
    expect(await q("action=doc.*")).toEqual([2, 3, 8, 9]);
    expect(await q("actor=u1")).toEqual([1, 5, 9]);
    expect(await q("actor_type=service")).toEqual([0, 3, 6, 9]);
    expect(await q("target=t2")).toEqual([2, 7]);
    expect(await q("target_type=document")).toEqual([1, 3, 5, 7, 9, 11]);
    expect(await q("outcome=failure")).toEqual([3, 7]);
    expect(await q("outcome=denied")).toEqual([11]);
    expect(await seqs(`from_seq=${base + 4}&to_seq=${base + 7}`)).toEqual([4, 5, 6]);
    expect(await q("action=user.*&target_type=document&actor_type=user")).toEqual([1, 7]);
    expect(await q("action=doc.*&outcome=failure")).toEqual([3]);
    expect(await q(`since=${new Date(Date.now() - 600_000).toISOString()}`)).toHaveLength(12);
    expect(await q(`until=${new Date(Date.now() - 600_000).toISOString()}`)).toEqual([]);
    expect(await q("action=nothing.here")).toEqual([]);
    expect(await q("target=t2&target_type=document")).toEqual([7]);
  });

  it("refuses malformed filters with 400", async () => {
    const { tenant, readKey } = await seeded();
    for (const q of [
      "action=user.*.x",
      "action=",
      "outcome=maybe",
      "since=yesterday",
      "from_seq=-1",
      "limit=0",
      "limit=101",
      "colour=red",
      "cursor=bad",
    ]) {
      const r = await api(`/v1/tenants/${tenant}/events?${q}`, { headers: { "x-api-key": readKey } });
      expect(r.status, q).toBe(400);
    }
  });
});

describe("cursor pagination", () => {
  it("pages forward and back in sequence order, with stable cursors at both edges", async () => {
    const { list, rel, span } = await seeded();
    const base = `${span}&limit=5`;
    const p1 = await list(base);
    expect(rel(p1)).toEqual([0, 1, 2, 3, 4]);
    expect(p1.prev_cursor).toBeNull();
    const p2 = await list(`${base}&cursor=${p1.next_cursor}`);
    expect(rel(p2)).toEqual([5, 6, 7, 8, 9]);
    const p3 = await list(`${base}&cursor=${p2.next_cursor}`);
    expect(rel(p3)).toEqual([10, 11]);
    expect(p3.next_cursor).toBeNull();
    const back = await list(`${base}&cursor=${p3.prev_cursor}`);
    expect(rel(back)).toEqual([5, 6, 7, 8, 9]);
    const front = await list(`${base}&cursor=${back.prev_cursor}`);
    expect(rel(front)).toEqual([0, 1, 2, 3, 4]);
    expect(front.prev_cursor).toBeNull();
    expect(front.next_cursor).not.toBeNull();
    // A filter that matches nothing: an empty page with no cursors.
    expect(await list("action=none.such")).toEqual({ events: [], next_cursor: null, prev_cursor: null, pruned: null });
  });

  it("new events never shift a page: a cursor names a sequence number", async () => {
    const { tenant, appendKey, list } = await seeded();
    const p1 = await list("actor_type=user&limit=4");
    await postEvent(tenant, appendKey, event());
    const p2 = await list(`actor_type=user&limit=4&cursor=${p1.next_cursor}`);
    expect(p2.events[0]!.seq).toBeGreaterThan(p1.events[3]!.seq);
  });
});

describe("reads are logged", () => {
  it("listing and reading one entry each append an access event with the reader's identity, and logging them logs nothing more", async () => {
    const { tenant, readKey, list, base } = await seeded();
    await list("action=doc.*");
    await api(`/v1/tenants/${tenant}/events/${base + 3}`, { headers: { "x-api-key": readKey } });
    const { results } = await (await mirroredDbOf(tenant))
      .prepare("SELECT entry FROM audit_events WHERE tenant_id = ? AND seq >= ? ORDER BY seq")
      .bind(tenant, base + 12)
      .all<{ entry: string }>();
    const logged = results.map(
      (r) =>
        JSON.parse(r.entry) as { event: { action: string; actor: { type: string }; metadata?: { query?: object; returned?: number } } },
    );
    expect(logged.map((e) => e.event.action)).toEqual(["sealtrail.events.listed", "sealtrail.event.read"]);
    expect(logged[0]!.event).toMatchObject({ actor: { type: "api_key" }, metadata: { query: { action: "doc.*" }, returned: 4 } });
  });
});

describe("every filter is served by an index", () => {
  const filters: [string, EventFilter][] = [
    ["none", {}],
    ["action", { action: "user.login" }],
    ["action prefix", { action: "user.*" }],
    ["actor", { actor: "u1" }],
    ["actor_type", { actor_type: "user" }],
    ["target", { target: "t1" }],
    ["target_type", { target_type: "document" }],
    ["outcome", { outcome: "denied" }],
    ["received_at range", { since: "2026-01-01T00:00:00Z", until: "2027-01-01T00:00:00Z" }],
    ["seq range", { from_seq: 10, to_seq: 20 }],
  ];
  for (const [name, f] of filters) {
    it(`${name}: no full scan of audit_events`, async () => {
      const db = drizzle(env.DB);
      const query = db
        .select({ seq: auditEvents.seq })
        .from(auditEvents)
        .where(and(...filterConditions(db, "tenant-x", f)))
        .orderBy(auditEvents.seq)
        .limit(51)
        .toSQL();
      const plan = await env.DB.prepare(`EXPLAIN QUERY PLAN ${query.sql}`)
        .bind(...query.params)
        .all<{ detail: string }>();
      const details = plan.results.map((r) => r.detail);
      console.log(`PLAN ${name}: ${details.join(" | ")}`);
      expect(details.some((d) => /^SCAN /.test(d))).toBe(false);
      const main = details.find((d) => d.startsWith("SEARCH audit_events "))!;
      // The filtered column itself narrows the search (not just tenant_id).
      const column = {
        action: "action",
        "action prefix": "action",
        actor: "actor_id",
        actor_type: "actor_type",
        outcome: "outcome",
        "received_at range": "received_at",
        "seq range": "seq",
        target: "seq",
        target_type: "seq",
      }[name];
      if (column) expect(main).toMatch(new RegExp(`tenant_id=\\? AND ${column}[=><]`));
      if (name.startsWith("target"))
        expect(details.some((d) => /SEARCH audit_event_targets USING COVERING INDEX audit_event_targets_(target|type)/.test(d))).toBe(true);
    });
  }
});
