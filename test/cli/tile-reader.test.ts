import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { utf8 } from "../../src/core/bytes";
import { openCheckpoint } from "../../src/core/checkpoint";
import { parseVerifierKey } from "../../src/core/note";
import { checkConsistency, checkInclusion, checkpointBody, hashLeaf, indexPath, TileReader } from "./tile-reader";

/** transparency-dev/tessera's testdata/log, copied as files (test/vectors/README.md). */
const LOG = join(import.meta.dirname, "../vectors/tessera-log");
const VKEY = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx";
const WORDS = "one two three four five six seven eit nain ten ileven twelf threeten fourten fivten".split(" ");
const fromFiles = async (path: string) => (existsSync(join(LOG, path)) ? new Uint8Array(readFileSync(join(LOG, path))) : undefined);

describe("the spec-written tile reader", () => {
  it("spells indexes as the spec's example", () => {
    expect(indexPath(1234067)).toBe("x001/x234/067");
    expect(indexPath(5)).toBe("005");
  });

  it("verifies Tessera's test log: inclusion of every entry and consistency between every two checkpoints", async () => {
    const verifier = parseVerifierKey(VKEY);
    if (!verifier.ok) throw new Error("vkey");
    const checkpoints = Array.from({ length: 16 }, (_, n) => readFileSync(join(LOG, `checkpoint.${n}`), "utf8"));
    for (const note of checkpoints) expect(openCheckpoint(note, "example.com/log/testdata", [verifier.value]).ok).toBe(true);
    for (let size = 1; size <= 15; size++) {
      const cp = checkpointBody(checkpoints[size]!);
      const reader = new TileReader(fromFiles, size);
      const entries = await reader.entries(0);
      expect(entries.map((e) => new TextDecoder().decode(e))).toEqual(WORDS.slice(0, size));
      for (let i = 0; i < size; i++) {
        expect(checkInclusion(i, size, hashLeaf(utf8(WORDS[i]!)), await reader.inclusion(i), cp.root), `${i} in ${size}`).toBe(true);
      }
      for (let old = 1; old <= size; old++) {
        const proof = await reader.consistency(old);
        expect(checkConsistency(old, size, proof, checkpointBody(checkpoints[old]!).root, cp.root), `${old} → ${size}`).toBe(true);
      }
      expect(await reader.mth(0, size)).toEqual(cp.root);
    }
  });

  it("refuses a proof against another root", async () => {
    const cp = checkpointBody(readFileSync(join(LOG, "checkpoint.15"), "utf8"));
    const old = checkpointBody(readFileSync(join(LOG, "checkpoint.7"), "utf8"));
    const reader = new TileReader(fromFiles, 15);
    const proof = await reader.consistency(7);
    expect(checkConsistency(7, 15, proof, cp.root, cp.root)).toBe(false);
    expect(checkConsistency(7, 15, proof, old.root, old.root)).toBe(false);
    expect(checkInclusion(3, 15, hashLeaf(utf8("four!")), await reader.inclusion(3), cp.root)).toBe(false);
  });
});
