/**
 * The compiled event check (src/worker/event-check.ts) against the zod schema it stands in for
 * (src/worker/event-schema.ts), with fast-check on valid events and on events broken in every
 * field, at and around every limit: whatever the compiled check accepts, zod accepts with the
 * same result; and a body parsed the new way (compiled, else zod) gives exactly what zod gives,
 * value or refusal (reason, path, message).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compiledBatch, compiledEvent, parseBatch, parseEvent } from "../../src/worker/event-check";
import { Batch, Event, FIELD_LIMITS, LIMITS } from "../../src/worker/event-schema";
import { parseWith } from "../../src/worker/request";

/** What the strict JSON parser could hand over: plain JSON data. */
const asJson = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Strings around a length limit, ASCII or not (zod counts UTF-16 code units). */
const around = (max: number) =>
  fc.oneof(
    fc
      .constantFrom(0, 1, max - 1, max, max + 1)
      .chain((n) =>
        fc.constantFrom("a", "é", "😀", " ").map((c) => c.repeat(Math.max(0, Math.ceil(n / c.length))).slice(0, Math.max(0, n))),
      ),
    fc.string({ maxLength: 20 }),
    fc.string({ unit: "grapheme", maxLength: 20 }),
  );
const anyJson = fc.jsonValue({ maxDepth: 4 });
const ref = fc.record(
  { id: around(FIELD_LIMITS.refId), type: around(FIELD_LIMITS.refType), name: around(FIELD_LIMITS.refName) },
  { requiredKeys: ["id", "type"] },
);
const action = fc.oneof(
  fc.constantFrom("user.login", "a", "document.permission.changed", "sealtrail.x", "SealTrail", "sealtrail", "a..b", ".a", "a b", "é"),
  fc.stringMatching(/^[A-Za-z0-9_-]{1,12}(\.[A-Za-z0-9_-]{1,12}){0,3}$/),
  around(FIELD_LIMITS.action).map((s) => s.replace(/[^a-z]/g, "a")),
);
const occurredAt = fc.oneof(
  fc.date({ min: new Date("0001-01-01"), max: new Date("9999-12-31"), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom(
    "2026-11-26T06:00:00Z",
    "2026-11-26T06:00:00+02:00",
    "2026-11-26T06:00:00.123456789-11:30",
    "2026-11-26T06:00:00",
    "2026-02-29T00:00:00Z",
    "2024-02-29T00:00:00Z",
    "2026-11-26 06:00:00Z",
    "2026-11-26T24:00:00Z",
    "2026-11-26T06:00:00+24:00",
    "2026-11-26T06:00:00z",
    "",
  ),
  fc.string({ maxLength: 30 }),
);
const contextValue = fc.oneof(around(FIELD_LIMITS.contextValue), fc.double(), fc.integer(), fc.boolean(), fc.constant(null), anyJson);
const context = fc.oneof(
  fc.dictionary(fc.string({ maxLength: 12 }), contextValue, { maxKeys: 6 }),
  fc.record(
    { request_id: around(FIELD_LIMITS.contextId), session_id: fc.oneof(around(FIELD_LIMITS.contextId), fc.integer()) },
    { requiredKeys: [] },
  ),
  fc
    .integer({ min: LIMITS.maxContextKeys - 1, max: LIMITS.maxContextKeys + 1 })
    .map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))),
);
/** Metadata near its byte limit, nesting near the event's depth limit, long keys. */
const metadata = fc.oneof(
  fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), around(FIELD_LIMITS.metadataKey)), anyJson, { maxKeys: 5 }),
  fc.integer({ min: -40, max: 40 }).map((d) => ({ big: "x".repeat(LIMITS.maxMetadataBytes - 10 + d) })),
  fc.integer({ min: 6, max: 11 }).map((n) => {
    let v: unknown = 1;
    for (let i = 0; i < n; i++) v = i % 2 ? [v] : { k: v };
    return { deep: v };
  }),
);
/** `source` around its limits: the id's length, seq at 0, negative, fractional, past 2^53 − 1, not a number. */
const source = fc.oneof(
  fc.record({
    id: around(FIELD_LIMITS.sourceId),
    seq: fc.oneof(
      fc.nat(),
      fc.constantFrom(0, -0, -1, 1.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 2 ** 60, "1", null),
      fc.double(),
    ),
  }),
  fc.record({ id: fc.string({ maxLength: 4 }), seq: fc.nat(), extra: anyJson }, { requiredKeys: ["id"] }),
  anyJson,
);
const validish = fc.record(
  {
    action,
    actor: ref,
    targets: fc.array(ref, { maxLength: 3 }),
    outcome: fc.constantFrom("success", "failure", "denied", "unknown", "ok", "SUCCESS"),
    occurred_at: occurredAt,
    context,
    metadata,
    source,
    subject: around(FIELD_LIMITS.refId),
  },
  { requiredKeys: ["action", "actor", "outcome"] },
);
/** A valid-ish event, then one field replaced by anything, or an unknown field, or the targets at their limit. */
const event = fc.oneof(
  validish,
  fc
    .tuple(
      validish,
      fc.constantFrom("action", "actor", "targets", "outcome", "occurred_at", "context", "metadata", "source", "subject", "extra"),
      anyJson,
    )
    .map(([e, k, v]) => ({ ...e, [k]: v })),
  fc.tuple(validish, fc.integer({ min: LIMITS.maxTargets - 1, max: LIMITS.maxTargets + 1 })).map(([e, n]) => ({
    ...e,
    targets: Array.from({ length: n }, (_, i) => ({ id: `t${i}`, type: "doc" })),
  })),
  fc.tuple(validish, fc.integer({ min: -300, max: 300 })).map(([e, d]) => ({
    ...e,
    metadata: { a: "y".repeat(LIMITS.maxMetadataBytes - 20), b: "z".repeat(LIMITS.maxMetadataBytes - 20 + d) },
  })),
  anyJson,
);
const idempotencyKey = fc.oneof(
  around(LIMITS.maxIdempotencyKeyLength).map((s) => s.replace(/[^!-~]/g, "k")),
  fc.string({ maxLength: 10 }),
  fc.integer(),
);
const item = fc.oneof(
  event,
  fc.tuple(validish, idempotencyKey).map(([e, k]) => ({ ...e, idempotency_key: k })),
);
const batch = fc.oneof(
  fc.record({ events: fc.array(item, { minLength: 0, maxLength: 4 }) }),
  fc.record({ events: fc.array(validish, { minLength: 1, maxLength: 3 }), other: anyJson }),
  fc.integer({ min: LIMITS.maxBatchEvents - 1, max: LIMITS.maxBatchEvents + 1 }).map((n) => ({
    events: Array.from({ length: n }, (_, i) => ({ action: "a.b", actor: { id: `u${i}`, type: "user" }, outcome: "success" })),
  })),
  anyJson,
);

/** The value parsed, or the refusal as the client sees it. */
function outcome(parse: () => unknown): unknown {
  try {
    return { value: parse() };
  } catch (e) {
    const error = (e as { error?: unknown }).error;
    if (error === undefined) throw e;
    return { error };
  }
}

describe("compiled event check = zod", () => {
  it("single events: what it accepts zod accepts the same; every body parses (or is refused) as zod parses it", () => {
    fc.assert(
      fc.property(event, (raw) => {
        const v = asJson(raw);
        const compiled = compiledEvent(v);
        if (compiled !== undefined) {
          const z = Event.safeParse(v);
          expect(z.success).toBe(true);
          expect(compiled).toStrictEqual(z.data);
        }
        expect(outcome(() => parseEvent(asJson(raw)))).toStrictEqual(outcome(() => parseWith(Event, asJson(raw))));
      }),
      { numRuns: 3000 },
    );
  });

  it("batches: the same", () => {
    fc.assert(
      fc.property(batch, (raw) => {
        const v = asJson(raw);
        const compiled = compiledBatch(v);
        if (compiled !== undefined) {
          const z = Batch.safeParse(v);
          expect(z.success).toBe(true);
          expect(compiled).toStrictEqual(z.data);
        }
        expect(outcome(() => parseBatch(asJson(raw)))).toStrictEqual(outcome(() => parseWith(Batch, asJson(raw))));
      }),
      { numRuns: 1500 },
    );
  });

  it("takes the fast path for every valid event zod accepts, surrogates aside (it is not always falling back)", () => {
    fc.assert(
      fc.property(validish, (raw) => {
        const v = asJson(raw);
        // zod counts code points: a string past a limit in UTF-16 units (only possible with
        // surrogates) is left to zod, by design.
        const text = JSON.stringify(v);
        const surrogates = /[\ud800-\udfff]/.test(text) || /\\ud[89a-f]/i.test(text);
        if (!surrogates && Event.safeParse(v).success) expect(compiledEvent(v)).toBeDefined();
      }),
      { numRuns: 2000 },
    );
  });
});
