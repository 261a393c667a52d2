import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalize, type JsonValue } from "../../src/core/jcs";
import { canonicalSize } from "../../src/worker/event-schema";

describe("event size limits", () => {
  it("canonicalSize is the UTF-8 length of the RFC 8785 canonical JSON, for any well-formed JSON", () => {
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: "grapheme" }), (v) => {
        expect(canonicalSize(v)).toBe(new TextEncoder().encode(canonicalize(v as JsonValue)).length);
      }),
      { numRuns: 2000 },
    );
  });
});
