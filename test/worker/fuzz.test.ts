import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toBase64 } from "../../src/core/bytes";
import { entryLeafHash } from "../../src/core/entry";
import { canonicalize, type JsonValue } from "../../src/core/jcs";
import { api, tenantWithKeys, mirroredDbOf } from "./helpers";

// Strings with the characters that break naive systems: controls, quotes, bidi, surrogates.
const nasty = fc.oneof(
  fc.string(),
  fc.string({ unit: "grapheme" }),
  fc.constantFrom("", "\u0000", "\r\n", "\u202e", "=1+1", "\ud83d\ude00", '"}', "__proto__", "constructor", "a".repeat(300)),
);
const ref = fc.record({ id: nasty, type: nasty, name: fc.option(nasty, { nil: undefined }) }, { requiredKeys: ["id", "type"] });
const eventLike = fc.record(
  {
    action: fc.oneof(fc.constantFrom("user.login", "a.b.c", "x"), nasty),
    actor: fc.oneof(ref, fc.jsonValue()),
    targets: fc.oneof(fc.array(ref, { maxLength: 40 }), fc.jsonValue()),
    outcome: fc.oneof(fc.constantFrom("success", "failure", "denied", "unknown"), nasty),
    occurred_at: fc.oneof(fc.constant("2026-11-26T06:00:00Z"), nasty),
    context: fc.oneof(fc.dictionary(nasty, fc.oneof(nasty, fc.integer(), fc.boolean())), fc.jsonValue()),
    metadata: fc.oneof(fc.jsonValue({ maxDepth: 12 }), fc.dictionary(nasty, fc.jsonValue())),
    extra: fc.jsonValue(),
  },
  { requiredKeys: [] },
);
// Well-formed events carrying hostile but valid content: these must be stored, verbatim.
const shortNasty = nasty.filter((x) => x.length > 0 && x.length <= 200);
const validEvent = fc.record({
  action: fc.constantFrom("user.login", "doc.read", "billing.charge.failed"),
  actor: fc.record({ id: shortNasty, type: fc.constantFrom("user", "service"), name: shortNasty }),
  targets: fc.array(fc.record({ id: shortNasty, type: fc.constantFrom("doc", "account") }), { maxLength: 3 }),
  outcome: fc.constantFrom("success", "failure", "denied", "unknown"),
  metadata: fc.dictionary(
    shortNasty.filter((k) => k !== "__proto__"),
    fc.oneof(shortNasty, fc.integer(), fc.boolean(), fc.constant(null)),
    { maxKeys: 5 },
  ),
});
const body = fc.oneof(
  { weight: 4, arbitrary: validEvent.map((e) => JSON.stringify(e)) },
  { weight: 5, arbitrary: eventLike.map((e) => JSON.stringify(e)) },
  { weight: 2, arbitrary: fc.array(eventLike, { maxLength: 5 }).map((events) => JSON.stringify({ events })) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string() },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
);

describe("fuzzing the ingest route", () => {
  it("no input yields a 500, and every stored entry verifies", async () => {
    const { tenant, appendKey } = await tenantWithKeys();
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const res = await api(`/v1/tenants/${tenant}/events`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-api-key": appendKey },
          body: b,
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect(res.status).toBeLessThan(500);
        const json = (await res.json()) as { error?: { code: string; message: string } };
        if (res.status >= 400) expect(json.error?.code).toMatch(/^[a-z0-9_]+$/);
      }),
      { numRuns: 300 },
    );
    // Something got through, and something was refused: the generator reaches both sides.
    expect(statuses.get(201) ?? 0).toBeGreaterThan(0);
    expect([...statuses.keys()].some((s) => s >= 400)).toBe(true);
    const { results } = await (await mirroredDbOf(tenant))
      .prepare("SELECT seq, entry, leaf_hash FROM audit_events WHERE tenant_id = ? ORDER BY seq")
      .bind(tenant)
      .all<{ seq: number; entry: string; leaf_hash: string }>();
    expect(results.length).toBeGreaterThan(0);
    results.forEach((r, i) => {
      expect(r.seq).toBe(i);
      expect(canonicalize(JSON.parse(r.entry) as JsonValue)).toBe(r.entry);
      expect(toBase64(entryLeafHash(r.entry))).toBe(r.leaf_hash);
    });
  });
});
