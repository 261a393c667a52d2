/**
 * The CLI's parallel verification (worker threads precheck bundles) reports exactly what the
 * sequential verifier reports: checkEntries with precheckBundle's results equals checkEntries
 * without them, on genuine and on tampered bundles (fast-check). Runs in workerd and on Node.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toBase64 } from "../../src/core/bytes";
import { bundleRows, checkEntries, initialAudit, precheckBundle } from "../../src/core/audit";
import { encodeEntry, entryLeafHash, GENESIS_PREV } from "../../src/core/entry";
import { leafHash } from "../../src/core/hash";
import { alignedSubtrees, CompactRange } from "../../src/core/merkle";

function genuine(tenant: string, n: number): string[] {
  const lines: string[] = [];
  let prev = GENESIS_PREV;
  for (let seq = 0; seq < n; seq++) {
    const entry = encodeEntry({
      tenant,
      seq,
      receivedAtMs: 1_795_000_000_000 + seq,
      prev,
      event: { action: "doc.read", n: seq },
      provenance: {},
    });
    lines.push(entry);
    prev = entryLeafHash(entry);
  }
  return lines;
}

const tamper = fc.oneof(
  fc.record({
    kind: fc.constant("replace" as const),
    at: fc.nat(),
    text: fc.constantFrom("not json", "null", "5", "[]", '{"seq":"1"}', '{"tenant":"other"}', ""),
  }),
  fc.record({
    kind: fc.constant("edit" as const),
    at: fc.nat(),
    from: fc.constantFrom('"doc.read"', '"seq":', '"tenant":"acme"', '"prev":"'),
    to: fc.constantFrom('"doc.wipe"', '"seq":1', '"tenant":"evil"', '"prev":"A'),
  }),
  fc.record({ kind: fc.constant("swap" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("drop" as const), at: fc.nat() }),
);

describe("prechecked bundles (the CLI's worker threads)", () => {
  it("give the same verification state as checking every row, genuine or tampered", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(tamper, { maxLength: 4 }),
        fc.boolean(),
        fc.boolean(),
        (n, tampers, wrongStart, withSubtrees) => {
          const lines = genuine("acme", n);
          for (const t of tampers) {
            const at = t.at % lines.length;
            if (t.kind === "replace") lines[at] = t.text;
            else if (t.kind === "edit") lines[at] = lines[at]!.replace(t.from, t.to);
            else if (t.kind === "swap" && lines.length > 1)
              [lines[at], lines[(at + 1) % lines.length]] = [lines[(at + 1) % lines.length]!, lines[at]!];
            else if (t.kind === "drop" && lines.length > 1) lines.splice(at, 1);
          }
          const bundle = `${lines.join("\n")}\n`;
          const run = (withPrecheck: boolean) => {
            const state = initialAudit("acme");
            if (wrongStart) state.prevLeaf = toBase64(new Uint8Array(32).fill(7));
            const rows = bundleRows(bundle, 0);
            checkEntries(
              state,
              rows,
              n,
              undefined,
              withPrecheck ? precheckBundle(bundle, "acme", withSubtrees ? 0 : undefined).rows : undefined,
            );
            return state;
          };
          expect(run(true)).toEqual(run(false));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("appending aligned subtrees builds the same tree as appending their leaves, from any start", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 }), (from, n) => {
        const one = new CompactRange();
        for (let i = 0; i < from; i++) one.append(leafHash(Uint8Array.of(i & 255, i >> 8)));
        const whole = one.clone();
        const leaves = new Uint8Array(n * 32);
        for (let i = 0; i < n; i++) {
          const leaf = leafHash(Uint8Array.of(7, i & 255, i >> 8));
          leaves.set(leaf, i * 32);
          one.append(leaf);
        }
        for (const s of alignedSubtrees(from, leaves)) whole.appendSubtree(s.level, s.hash);
        expect(whole.size).toBe(one.size);
        expect(toBase64(whole.root())).toBe(toBase64(one.root()));
        expect(whole.frontierHashes().map((h) => (h ? toBase64(h) : null))).toEqual(
          one.frontierHashes().map((h) => (h ? toBase64(h) : null)),
        );
      }),
      { numRuns: 300 },
    );
    expect(() => new CompactRange(3).appendSubtree(1, new Uint8Array(32))).toThrow(RangeError);
  });

  it("computes the bundle's SHA-256 and every leaf hash", () => {
    const lines = genuine("acme", 5);
    const { rows } = precheckBundle(`${lines.join("\n")}\n`, "acme");
    for (const [i, l] of lines.entries()) expect(toBase64(rows.leaves.subarray(i * 32, i * 32 + 32))).toBe(toBase64(entryLeafHash(l)));
    expect(Array.from(rows.linked)).toEqual([1, 1, 1, 1, 1]);
  });
});
