/**
 * Full-text search (issue #19.4): `q=` on the list and the export finds entries by actor name,
 * target name, metadata value and action, through the FTS5 index the D1 mirror fills
 * (durable/search-index.ts) in the tenant's shard; it combines with the filters and cursor
 * paging; hostile text is a 400, never a 500; the D1 rebuild restores the index.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { api, bearer, dbOf, event, mirrored, postEvent, tenantWithKeys, type Session } from "./helpers";

interface Page {
  events: { seq: number; event: { action: string; actor: { name?: string } } }[];
  next_cursor: string | null;
}

const list = async (who: Session | string, tenant: string, query: Record<string, string>) => {
  const headers = typeof who === "string" ? { "x-api-key": who } : bearer(who);
  return api(`/v1/tenants/${tenant}/events?${new URLSearchParams(query)}`, { headers });
};
const seqsOf = async (who: Session | string, tenant: string, query: Record<string, string>) => {
  const res = await list(who, tenant, query);
  expect(res.status).toBe(200);
  return ((await res.json()) as Page).events.map((e) => e.seq);
};

async function seeded() {
  const t = await tenantWithKeys();
  const events = [
    event({
      action: "invoice.paid",
      actor: { id: "u1", type: "user", name: "Grace Hopper" },
      metadata: { amount: 4200, note: "Quarterly licence" },
    }),
    event({ action: "invoice.paid", actor: { id: "u2", type: "user", name: "Alan Turing" }, metadata: { amount: 99, note: "Café order" } }),
    event({
      action: "doc.shared",
      actor: { id: "u1", type: "user", name: "Grace Hopper" },
      targets: [{ id: "d1", type: "document", name: "Roadmap 2027" }],
      outcome: "failure",
      metadata: { nested: { deeper: ["zanzibar"] } },
    }),
    event({ action: "user.login", actor: { id: "u3", type: "user", name: "Ada Lovelace" } }),
  ];
  const res = await postEvent(t.tenant, t.appendKey, { events });
  expect(res.status).toBe(201);
  const seqs = ((await res.json()) as { receipts: { seq: number }[] }).receipts.map((r) => r.seq);
  await mirrored(t.tenant);
  return { ...t, seqs };
}

describe("full-text search", () => {
  it("finds entries by actor name, target name, metadata value (any depth) and action", async () => {
    const { tenant, readKey, seqs } = await seeded();
    const [paid1, paid2, shared, login] = seqs;
    expect(await seqsOf(readKey, tenant, { q: "grace" })).toEqual([paid1, shared]);
    expect(await seqsOf(readKey, tenant, { q: "Grace Hopper" })).toEqual([paid1, shared]);
    expect(await seqsOf(readKey, tenant, { q: "roadmap" })).toEqual([shared]);
    expect(await seqsOf(readKey, tenant, { q: "zanzibar" })).toEqual([shared]);
    expect(await seqsOf(readKey, tenant, { q: "4200" })).toEqual([paid1]);
    // Diacritics folded: "cafe" finds "Café".
    expect(await seqsOf(readKey, tenant, { q: "cafe" })).toEqual([paid2]);
    expect(await seqsOf(readKey, tenant, { q: "invoice.paid" })).toEqual([paid1, paid2]);
    expect(await seqsOf(readKey, tenant, { q: "lovelace" })).toEqual([login]);
    // Every word is required.
    expect(await seqsOf(readKey, tenant, { q: "grace roadmap" })).toEqual([shared]);
    expect(await seqsOf(readKey, tenant, { q: "nothing-like-this" })).toEqual([]);
  });

  it("declared personal fields are not indexed: stored encrypted, their plaintext never reaches the index (erasure leaves nothing found)", async () => {
    const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
    const put = await api(`/v1/tenants/${tenant}/settings`, {
      method: "PUT",
      headers: { "content-type": "application/json", ...bearer(owner) },
      body: JSON.stringify({ personal_fields: ["actor.name", "metadata.email"] }),
    });
    expect(put.status).toBe(200);
    const res = await postEvent(tenant, appendKey, {
      events: [
        event({
          action: "profile.updated",
          actor: { id: "u9", type: "user", name: "Zebedee Quixote" },
          metadata: { email: "zebedee@example.org", plan: "pelican" },
        }),
      ],
    });
    expect(res.status).toBe(201);
    const [seq] = ((await res.json()) as { receipts: { seq: number }[] }).receipts.map((r) => r.seq);
    await mirrored(tenant);
    expect(await seqsOf(readKey, tenant, { q: "zebedee" })).toEqual([]);
    expect(await seqsOf(readKey, tenant, { q: "quixote" })).toEqual([]);
    // Fields that are not personal are found as usual.
    expect(await seqsOf(readKey, tenant, { q: "pelican" })).toEqual([seq]);
  });

  it("searches only the asking tenant's entries", async () => {
    const a = await seeded();
    const b = await seeded();
    expect(await seqsOf(a.readKey, a.tenant, { q: "zanzibar" })).toEqual([a.seqs[2]]);
    expect(await seqsOf(b.readKey, b.tenant, { q: "zanzibar" })).toEqual([b.seqs[2]]);
  });

  it("combines with the filters and the cursor paging", async () => {
    const { tenant, readKey, appendKey, seqs } = await seeded();
    expect(await seqsOf(readKey, tenant, { q: "grace", action: "doc.*" })).toEqual([seqs[2]]);
    expect(await seqsOf(readKey, tenant, { q: "grace", outcome: "success" })).toEqual([seqs[0]]);
    expect(await seqsOf(readKey, tenant, { q: "grace", target: "d1" })).toEqual([seqs[2]]);
    expect(await seqsOf(readKey, tenant, { q: "grace", from_seq: String(seqs[1]) })).toEqual([seqs[2]]);
    expect(await seqsOf(readKey, tenant, { q: "grace", to_seq: String(seqs[1]) })).toEqual([seqs[0]]);

    // 7 more matching entries among others: pages of 3 walk all 9 matches in order.
    const more = Array.from({ length: 14 }, (_, i) =>
      event({ action: "report.viewed", actor: { id: `x${i}`, type: "user", name: i % 2 === 0 ? "Grace Brewster" : "Someone Else" } }),
    );
    const res = await postEvent(tenant, appendKey, { events: more });
    const added = ((await res.json()) as { receipts: { seq: number }[] }).receipts.map((r) => r.seq);
    const expected = [seqs[0]!, seqs[2]!, ...added.filter((_, i) => i % 2 === 0)];
    const walked: number[] = [];
    let cursor: string | null = null;
    do {
      const page: Page = (await (await list(readKey, tenant, { q: "grace", limit: "3", ...(cursor ? { cursor } : {}) })).json()) as Page;
      walked.push(...page.events.map((e) => e.seq));
      cursor = page.next_cursor;
    } while (cursor);
    expect(walked).toEqual(expected);
  });

  it("the export searches too", async () => {
    const { tenant, readKey, seqs } = await seeded();
    const res = await api(`/v1/tenants/${tenant}/export?q=grace`, { headers: { "x-api-key": readKey } });
    expect(res.status).toBe(200);
    const lines = (await res.text()).trim().split("\n");
    expect(lines.map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([seqs[0], seqs[2]]);
    const bad = await api(`/v1/tenants/${tenant}/export?q=${encodeURIComponent('a" OR "b')}`, { headers: { "x-api-key": readKey } });
    expect(bad.status).toBe(400);
  });

  it("hostile queries are 400 invalid_search: FTS syntax, column filters, huge input, control characters", async () => {
    const { tenant, readKey } = await seeded();
    const hostile = [
      '"',
      'grace"',
      "NEAR(grace hopper)",
      "gra*",
      "body:grace",
      "{body}: grace",
      "^grace",
      "a".repeat(201),
      "gr\u0000ace",
      "x\u202ey",
      "   ",
      "a b c d e f g h i",
    ];
    for (const q of hostile) {
      const res = await list(readKey, tenant, { q });
      const body = (await res.json()) as { error?: { code: string } };
      expect([q, res.status, body.error?.code]).toEqual([q, 400, "invalid_search"]);
    }
    // Words that are FTS5 operators are searched as words.
    expect(await seqsOf(readKey, tenant, { q: "NEAR AND OR NOT" })).toEqual([]);
    expect((await list(readKey, tenant, { q: "x".repeat(1000) })).status).toBe(400);
  });

  it("any text is answered 200 or 400, never 500 (fast-check)", async () => {
    const { tenant, readKey } = await seeded();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 40 }),
          fc.string({ unit: "binary", maxLength: 40 }),
          fc.constantFrom('"', "NEAR(", "*", "a:b", "-x", "+y", "AND", "\\"),
        ),
        async (q) => {
          const res = await list(readKey, tenant, { q });
          await res.body?.cancel();
          expect([200, 400]).toContain(res.status);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("the D1 rebuild restores a lost index", async () => {
    const { owner, tenant, readKey, seqs } = await seeded();
    const db = await dbOf(tenant);
    const num = (await db.prepare("SELECT num FROM search_tenants WHERE tenant_id = ?").bind(tenant).first<{ num: number }>())!.num;
    // The index of this tenant's range is lost (a restore without it, say).
    const span = 2 ** 40;
    await db
      .prepare("DELETE FROM search_index WHERE rowid >= ? AND rowid < ?")
      .bind(num * span, (num + 1) * span)
      .run();
    expect(await seqsOf(readKey, tenant, { q: "grace" })).toEqual([]);
    const res = await api(`/v1/tenants/${tenant}/rebuild`, {
      method: "POST",
      headers: { ...bearer(owner), "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBeLessThan(300);
    expect(await seqsOf(readKey, tenant, { q: "grace" })).toEqual([seqs[0], seqs[2]]);
  });
});
