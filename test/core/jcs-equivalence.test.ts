/**
 * The hand-written RFC 8785 encoders (src/core/jcs.ts, the fixed part of src/core/entry.ts)
 * are byte-equal to the maintained `canonicalize` package, on arbitrary JSON (fast-check).
 * Runs in workerd and on Node.
 */
import referenceCanonicalize from "canonicalize";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeEntry, entryObject, type JsonObject } from "../../src/core/entry";
import { canonicalize, type JsonValue } from "../../src/core/jcs";

/** Strings of any UTF-16 code units (lone surrogates included), as hostile input could hold. */
const anyString = fc.string({ unit: "binary", maxLength: 24 });
const wellFormed = fc.string({ unit: "grapheme", maxLength: 24 });
/** Keys JavaScript orders specially (array indices) mixed with ordinary ones. */
/** Strings that have tripped JSON encoders: prototype names, separators, controls, `</`, surrogate pairs vs U+E000+. */
const TRICKY = [
  "__proto__",
  "toJSON",
  "constructor",
  "\u2028",
  "\u2029",
  "\u0000",
  "\u001f",
  "</",
  "</script>",
  "\uD800\uDC00",
  "\uE000",
  "\uFFFF",
  "\uD83D\uDE00",
  '"\\',
];
const keyLike = (str: fc.Arbitrary<string>) =>
  fc.oneof(
    str,
    fc.nat({ max: 2 ** 32 + 5 }).map(String),
    fc.constantFrom("0", "01", "-1", "1.5", "4294967295", "4294967294", "a", "B", "é", "\u{1F600}", ...TRICKY),
  );
const number = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.constantFrom(0, -0, 1e21, 1e-7, 5e-324, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2),
);
const json = (str: fc.Arbitrary<string>) =>
  fc.letrec<{ value: JsonValue }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small" },
      fc.constant(null),
      fc.boolean(),
      number,
      fc.oneof(str, fc.constantFrom(...TRICKY)),
      fc.array(tie("value"), { maxLength: 5 }),
      fc.dictionary(keyLike(str), tie("value"), { maxKeys: 6 }),
    ),
  })).value;

const reference = (v: unknown): string | Error => {
  try {
    return referenceCanonicalize(v) ?? new Error("undefined");
  } catch (e) {
    return e as Error;
  }
};
const ours = (f: () => string): string | Error => {
  try {
    return f();
  } catch (e) {
    return e as Error;
  }
};
function same(a: string | Error, b: string | Error): void {
  if (typeof a === "string") expect(b).toBe(a);
  else expect(b).toBeInstanceOf(Error);
}

describe("hand-written RFC 8785 = the canonicalize package", () => {
  it("on arbitrary well-formed JSON", () => {
    fc.assert(
      fc.property(json(wellFormed), (v) =>
        same(
          reference(v),
          ours(() => canonicalize(v)),
        ),
      ),
      { numRuns: 2000 },
    );
  });

  it("on arbitrary strings and keys, lone surrogates included (both refuse those)", () => {
    fc.assert(
      fc.property(json(anyString), (v) =>
        same(
          reference(v),
          ours(() => canonicalize(v)),
        ),
      ),
      { numRuns: 2000 },
    );
  });

  it('keeps an own "__proto__" key, as JSON.parse makes one, at any depth', () => {
    for (const text of ['{"__proto__":{"b":1},"a":2}', '{"x":[{"__proto__":null}]}', '{"__proto__":{"__proto__":"y","0":1}}']) {
      const v = JSON.parse(text) as JsonValue;
      expect(canonicalize(v)).toBe(reference(v));
      expect(canonicalize(v)).toContain('"__proto__":');
    }
  });

  it("on non-finite numbers (both refuse them)", () => {
    for (const n of [NaN, Infinity, -Infinity])
      same(
        reference({ a: [n] }),
        ours(() => canonicalize({ a: [n] })),
      );
  });

  it("entry bytes: the hand-built fixed part equals canonicalizing the whole entry object", () => {
    const object = fc.dictionary(anyString, json(anyString), { maxKeys: 6 }) as fc.Arbitrary<JsonObject>;
    fc.assert(
      fc.property(
        fc.record({
          tenant: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), anyString),
          seq: fc.oneof(fc.nat(), fc.constantFrom(0, Number.MAX_SAFE_INTEGER, -1, 1.5)),
          receivedAtMs: fc.integer({ min: 0, max: 253_402_300_799_999 }),
          prev: fc.uint8Array({ minLength: 32, maxLength: 32 }),
          event: object,
          provenance: object,
        }),
        (f) =>
          same(
            reference(entryObject(f)),
            ours(() => encodeEntry(f)),
          ),
      ),
      { numRuns: 2000 },
    );
  });
});
