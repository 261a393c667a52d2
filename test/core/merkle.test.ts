import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromBase64, toHex } from "../../src/core/bytes";
import { leafHash, type Hash } from "../../src/core/hash";
import {
  CompactRange,
  consistencyProof,
  inclusionProof,
  inclusionProofLength,
  treeHash,
  verifyConsistency,
  verifyInclusion,
  type NodeReader,
} from "../../src/core/merkle";
import { hex, loadVector, loadVectors } from "./vectors";

interface InclusionVector {
  desc: string;
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  wantErr: boolean;
}
interface ConsistencyVector {
  desc: string;
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  wantErr: boolean;
}

// Vector fields are base64; a field that is not valid base64 stands for garbage bytes.
const b64 = (s: string): Hash => fromBase64(s) ?? Uint8Array.from(atob(s.replace(/=+$/, "")), (c) => c.charCodeAt(0));

describe("transparency-dev inclusion vectors (RFC 9162 §2.1.3.2)", () => {
  for (const [file, v] of loadVectors<InclusionVector>("merkle/inclusion")) {
    it(`${file}: ${v.desc}`, () => {
      const result = verifyInclusion(v.leafIdx, v.treeSize, b64(v.leafHash), (v.proof ?? []).map(b64), b64(v.root));
      expect(result.ok).toBe(!v.wantErr);
    });
  }
});

describe("transparency-dev consistency vectors (RFC 9162 §2.1.4.2)", () => {
  for (const [file, v] of loadVectors<ConsistencyVector>("merkle/consistency")) {
    it(`${file}: ${v.desc}`, () => {
      const result = verifyConsistency(v.size1, v.size2, (v.proof ?? []).map(b64), b64(v.root1), b64(v.root2));
      expect(result.ok).toBe(!v.wantErr);
    });
  }
});

/** An in-memory store of every complete subtree, built with CompactRange. */
function buildTree(leaves: readonly Hash[]): { read: NodeReader; range: CompactRange; roots: Hash[] } {
  const nodes = new Map<string, Hash>();
  const range = new CompactRange();
  const roots = [range.root()];
  for (const leaf of leaves) {
    for (const n of range.append(leaf)) nodes.set(`${n.level}/${n.index}`, n.hash);
    roots.push(range.root());
  }
  const read: NodeReader = (level, index) => {
    const h = nodes.get(`${level}/${index}`);
    if (!h) throw new Error(`node ${level}/${index} was never stored`);
    return h;
  };
  return { read, range, roots };
}

describe("the reference tree (RFC 6962, 8 leaves)", () => {
  const ref = loadVector<{ leafInputsHex: string[]; rootHashesBySizeHex: string[] }>("reference-tree.json");
  const leaves = ref.leafInputsHex.map((h) => leafHash(hex(h)));
  const { read, roots } = buildTree(leaves);
  ref.rootHashesBySizeHex.forEach((want, size) => {
    it(`root of size ${size} from the compact range and from stored nodes`, () => {
      expect(toHex(roots[size]!)).toBe(want);
      expect(toHex(treeHash(size, read))).toBe(want);
    });
  });
  it("rebuilds the frontier from stored nodes at every size", () => {
    for (let size = 0; size <= 8; size++) expect(toHex(CompactRange.fromStore(size, read).root())).toBe(ref.rootHashesBySizeHex[size]);
  });
});

// Distinct leaves: with equal leaves a proof for one index is rightly a proof for another.
const leavesArb = fc
  .array(fc.uint8Array({ minLength: 0, maxLength: 8 }), { minLength: 1, maxLength: 300 })
  .map((xs) => xs.map((x, i) => leafHash(Uint8Array.of(i & 255, i >> 8, ...x))));

const flip = (h: Hash, bit: number): Hash => {
  const c = Uint8Array.from(h);
  c[(bit >> 3) % c.length]! ^= 1 << (bit & 7);
  return c;
};

describe("sizes up to 2^53", () => {
  it("proof lengths are exact where Math.log2 would round (2^49 - 1 and above)", () => {
    for (let k = 49; k <= 53; k++) {
      expect(inclusionProofLength(0, 2 ** k)).toBe(k);
      expect(inclusionProofLength(2 ** k - 2, 2 ** k - 1)).toBe(k - 1);
      expect(inclusionProofLength(2 ** k - 3, 2 ** k - 1)).toBe(k);
    }
  });
});

describe("properties over random trees (fast-check)", () => {
  it("every generated inclusion proof verifies, and any tampering makes it fail", () => {
    fc.assert(
      fc.property(leavesArb, fc.nat(), fc.nat(), fc.nat(), (leaves, a, b, bitIdx) => {
        const { read, roots } = buildTree(leaves);
        const size = 1 + (a % leaves.length);
        const index = b % size;
        const root = roots[size]!;
        const proof = inclusionProof(index, size, read);
        expect(verifyInclusion(index, size, leaves[index]!, proof, root).ok).toBe(true);
        if (proof.length > 0) {
          const i = bitIdx % proof.length;
          expect(
            verifyInclusion(
              index,
              size,
              leaves[index]!,
              proof.map((h, j) => (j === i ? flip(h, bitIdx) : h)),
              root,
            ).ok,
          ).toBe(false);
          expect(verifyInclusion(index, size, leaves[index]!, proof.slice(0, -1), root).ok).toBe(false);
        }
        expect(verifyInclusion(index, size, leaves[index]!, [...proof, root], root).ok).toBe(false);
        expect(verifyInclusion(index, size, flip(leaves[index]!, bitIdx), proof, root).ok).toBe(false);
        expect(verifyInclusion(index, size, leaves[index]!, proof, flip(root, bitIdx)).ok).toBe(false);
        // A proof for one tree size proves nothing about another (whose root differs).
        if (size < leaves.length) expect(verifyInclusion(index, size + 1, leaves[index]!, proof, roots[size + 1]!).ok).toBe(false);
        if (index < size - 1) expect(verifyInclusion(index, size - 1, leaves[index]!, proof, roots[size - 1]!).ok).toBe(false);
        if (size > 1) expect(verifyInclusion((index + 1) % size, size, leaves[index]!, proof, root).ok).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it("every generated consistency proof verifies for n <= m, and any tampering makes it fail", () => {
    fc.assert(
      fc.property(leavesArb, fc.nat(), fc.nat(), fc.nat(), (leaves, a, b, bitIdx) => {
        const { read, roots } = buildTree(leaves);
        const to = 1 + (a % leaves.length);
        const from = 1 + (b % to);
        const proof = consistencyProof(from, to, read);
        expect(verifyConsistency(from, to, proof, roots[from]!, roots[to]!).ok).toBe(true);
        if (proof.length > 0) {
          const i = bitIdx % proof.length;
          expect(
            verifyConsistency(
              from,
              to,
              proof.map((h, j) => (j === i ? flip(h, bitIdx) : h)),
              roots[from]!,
              roots[to]!,
            ).ok,
          ).toBe(false);
          expect(verifyConsistency(from, to, proof.slice(0, -1), roots[from]!, roots[to]!).ok).toBe(false);
          expect(verifyConsistency(from, to, [...proof, roots[to]!], roots[from]!, roots[to]!).ok).toBe(false);
          expect(verifyConsistency(from, to, proof, flip(roots[from]!, bitIdx), roots[to]!).ok).toBe(false);
          expect(verifyConsistency(from, to, proof, roots[from]!, flip(roots[to]!, bitIdx)).ok).toBe(false);
          if (to > from + 1) expect(verifyConsistency(from, to - 1, proof, roots[from]!, roots[to - 1]!).ok).toBe(false);
          if (to < leaves.length) expect(verifyConsistency(from, to + 1, proof, roots[from]!, roots[to + 1]!).ok).toBe(false);
          if (from > 1) expect(verifyConsistency(from - 1, to, proof, roots[from - 1]!, roots[to]!).ok).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("proofs read O(log n) stored nodes", () => {
    const leaves = Array.from({ length: 5000 }, (_, i) => leafHash(Uint8Array.of(i & 255, i >> 8)));
    const { read } = buildTree(leaves);
    let reads = 0;
    const counting: NodeReader = (l, i) => {
      reads++;
      return read(l, i);
    };
    for (const index of [0, 2500, 4999]) {
      reads = 0;
      inclusionProof(index, 5000, counting);
      expect(reads).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(5000)));
    }
    reads = 0;
    consistencyProof(1234, 5000, counting);
    expect(reads).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(5000)));
  });
});
