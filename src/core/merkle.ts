/**
 * RFC 6962 / RFC 9162 Merkle trees over leaf hashes: the tree hash, a compact range that
 * grows the tree one leaf at a time, proof generation from stored complete subtrees, and
 * proof verification (RFC 9162 §2.1.3.2 inclusion, §2.1.4.2 consistency).
 *
 * Node addressing: (level, index) is the complete subtree over leaves
 * [index·2^level, (index+1)·2^level); level 0 are the leaf hashes themselves.
 */
import { equalBytes } from "./bytes";
import { EMPTY_TREE_HASH, HASH_SIZE, nodeHash, type Hash } from "./hash";
import { err, ok, type Result } from "./result";

/** Reads the hash of a complete subtree that the caller has stored. */
export type NodeReader = (level: number, index: number) => Hash;

export interface StoredNode {
  level: number;
  index: number;
  hash: Hash;
}

/** Largest power of two strictly less than n (RFC 6962 §2.1 "k"). Requires n >= 2. */
export function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

const isPowerOfTwo = (n: number) => n > 0 && 2 ** Math.round(Math.log2(n)) === n;

/**
 * MTH(D[begin:end]) of RFC 6962 §2.1, from complete subtrees (O(log n) reads).
 * Requires begin < end and that [begin, end) is a range RFC 6962's recursion produces:
 * begin is a multiple of the largest power of two not above end - begin.
 */
export function subtreeHash(begin: number, end: number, read: NodeReader): Hash {
  const n = end - begin;
  if (isPowerOfTwo(n) && begin % n === 0) return read(Math.log2(n), begin / n);
  const k = largestPowerOfTwoBelow(n);
  return nodeHash(subtreeHash(begin, begin + k, read), subtreeHash(begin + k, end, read));
}

/** RFC 6962 §2.1 tree hash of the first `size` leaves; the empty tree hashes to SHA-256(""). */
export function treeHash(size: number, read: NodeReader): Hash {
  return size === 0 ? EMPTY_TREE_HASH : subtreeHash(0, size, read);
}

/**
 * RFC 6962 §2.1.1 audit path PATH(m, D[n]) for leaf `index` in the tree of `size` leaves,
 * ordered from the leaf's sibling up. Requires 0 <= index < size.
 */
export function inclusionProof(index: number, size: number, read: NodeReader): Hash[] {
  const path: Hash[] = [];
  const walk = (m: number, begin: number, end: number): void => {
    const n = end - begin;
    if (n === 1) return;
    const k = largestPowerOfTwoBelow(n);
    if (m < k) {
      walk(m, begin, begin + k);
      path.push(subtreeHash(begin + k, end, read));
    } else {
      walk(m - k, begin + k, end);
      path.push(subtreeHash(begin, begin + k, read));
    }
  };
  walk(index, 0, size);
  return path;
}

/**
 * RFC 6962 §2.1.2 consistency proof PROOF(m, D[n]) between the trees of `from` and `to`
 * leaves. Requires 0 < from <= to (an empty proof when from = to).
 */
export function consistencyProof(from: number, to: number, read: NodeReader): Hash[] {
  const proof: Hash[] = [];
  const sub = (m: number, begin: number, end: number, whole: boolean): void => {
    const n = end - begin;
    if (m === n) {
      if (!whole) proof.push(subtreeHash(begin, end, read));
      return;
    }
    const k = largestPowerOfTwoBelow(n);
    if (m <= k) {
      sub(m, begin, begin + k, whole);
      proof.push(subtreeHash(begin + k, end, read));
    } else {
      sub(m - k, begin + k, end, false);
      proof.push(subtreeHash(begin, begin + k, read));
    }
  };
  if (from < to) sub(from, 0, to, true);
  return proof;
}

/**
 * A compact range [0, size): the roots of the complete subtrees that make up the tree,
 * one per set bit of size (the "frontier"). Appending a leaf returns every complete
 * subtree it finishes, which is what a store must keep to answer proofs later.
 */
export class CompactRange {
  /** frontier[level] is the complete subtree at that level on the right edge, if any. */
  #frontier: (Hash | undefined)[];
  #size: number;

  constructor(size = 0, frontier: (Hash | undefined)[] = []) {
    this.#size = size;
    this.#frontier = [...frontier];
  }

  /** Rebuilds the frontier of a tree of `size` leaves from stored complete subtrees. */
  static fromStore(size: number, read: NodeReader): CompactRange {
    const frontier: (Hash | undefined)[] = [];
    let begin = 0;
    for (let level = 52; level >= 0; level--) {
      const width = 2 ** level;
      if (Math.floor(size / width) % 2 === 1) {
        frontier[level] = read(level, begin / width);
        begin += width;
      }
    }
    return new CompactRange(size, frontier);
  }

  get size(): number {
    return this.#size;
  }

  /** Appends one leaf hash; returns the nodes it completes, the leaf first. */
  append(leaf: Hash): StoredNode[] {
    const created: StoredNode[] = [{ level: 0, index: this.#size, hash: leaf }];
    let hash = leaf;
    let index = this.#size;
    let level = 0;
    while (index % 2 === 1) {
      hash = nodeHash(this.#frontier[level]!, hash);
      this.#frontier[level] = undefined;
      level += 1;
      index = Math.floor(index / 2);
      created.push({ level, index, hash });
    }
    this.#frontier[level] = hash;
    this.#size += 1;
    return created;
  }

  /**
   * Appends 2^level leaves at once, given the hash of the complete subtree they form (RFC 6962
   * §2.1 MTH of those leaves). Requires size to be a multiple of 2^level (the subtree is
   * aligned); the result is the same as appending its leaves one by one.
   */
  appendSubtree(level: number, subtree: Hash): void {
    const width = 2 ** level;
    if (this.#size % width !== 0) throw new RangeError(`a subtree of 2^${level} leaves cannot start at ${this.#size}`);
    let hash = subtree;
    let index = this.#size / width;
    let at = level;
    while (index % 2 === 1) {
      hash = nodeHash(this.#frontier[at]!, hash);
      this.#frontier[at] = undefined;
      at += 1;
      index = Math.floor(index / 2);
    }
    this.#frontier[at] = hash;
    this.#size += width;
  }

  /** RFC 6962 §2.1 root of the whole range: the frontier folded right to left. */
  root(): Hash {
    let root: Hash | undefined;
    for (const node of this.#frontier) {
      if (node === undefined) continue;
      root = root === undefined ? node : nodeHash(node, root);
    }
    return root ?? EMPTY_TREE_HASH;
  }

  /** The frontier by level (undefined where the size has no bit), for saving a range. */
  frontierHashes(): (Hash | undefined)[] {
    return [...this.#frontier];
  }

  clone(): CompactRange {
    return new CompactRange(this.#size, this.#frontier);
  }
}

/**
 * The leaves [from, from + leaves.length) as the largest aligned complete subtrees that cover
 * them, left to right (RFC 6962 §2.1 MTH of each): what CompactRange.appendSubtree takes.
 * `leaves` holds 32 bytes per leaf.
 */
export function alignedSubtrees(from: number, leaves: Uint8Array): { level: number; hash: Hash }[] {
  const n = leaves.length / 32;
  const out: { level: number; hash: Hash }[] = [];
  let at = 0;
  while (at < n) {
    let level = 0;
    while ((from + at) % 2 ** (level + 1) === 0 && at + 2 ** (level + 1) <= n) level += 1;
    // MTH of a complete subtree: hash pairs level by level.
    let row: Hash[] = [];
    for (let i = 0; i < 2 ** level; i++) row.push(leaves.subarray((at + i) * 32, (at + i + 1) * 32));
    while (row.length > 1) {
      const up: Hash[] = [];
      for (let i = 0; i < row.length; i += 2) up.push(nodeHash(row[i]!, row[i + 1]!));
      row = up;
    }
    out.push({ level, hash: row[0]! });
    at += 2 ** level;
  }
  return out;
}

export type ProofError =
  | { reason: "index_out_of_range"; index: number; size: number }
  | { reason: "size_out_of_range"; from: number; to: number }
  | { reason: "bad_hash_length"; expected: number; got: number }
  | { reason: "wrong_proof_length"; expected: number; got: number }
  | { reason: "root_mismatch"; expected: Hash; got: Hash };

/** Number of bits of n (0 for 0); exact up to 2^53, where Math.log2 rounds. */
const bitLength = (n: number) => {
  let bits = 0;
  for (let v = n; v > 0; v = Math.floor(v / 2)) bits++;
  return bits;
};
const popCount = (n: number) => {
  let c = 0;
  for (let v = n; v > 0; v = Math.floor(v / 2)) c += v % 2;
  return c;
};
const trailingZeros = (n: number) => {
  let z = 0;
  for (let v = n; v > 0 && v % 2 === 0; v /= 2) z++;
  return z;
};
/** Bit i of n, for n up to 2^53. */
const bit = (n: number, i: number) => Math.floor(n / 2 ** i) % 2;

/** Splits the inclusion proof of `index` in a tree of `size` leaves at the point where the
 * paths to `index` and `size - 1` diverge: [inner, border] lengths. */
function decompose(index: number, size: number): [number, number] {
  // innerProofSize = bit length of index XOR (size - 1). Numbers stay below 2^53, so XOR is
  // done on the high and low halves separately.
  const x = xor53(index, size - 1);
  const inner = bitLength(x);
  return [inner, popCount(Math.floor(index / 2 ** inner))];
}

function xor53(a: number, b: number): number {
  const hi = (Math.floor(a / 2 ** 32) ^ Math.floor(b / 2 ** 32)) >>> 0;
  const lo = ((a >>> 0) ^ (b >>> 0)) >>> 0;
  return hi * 2 ** 32 + lo;
}

function checkHashes(hashes: readonly Hash[]): ProofError | undefined {
  for (const h of hashes) if (h.length !== HASH_SIZE) return { reason: "bad_hash_length", expected: HASH_SIZE, got: h.length };
  return undefined;
}

const chainInner = (seed: Hash, proof: readonly Hash[], index: number): Hash =>
  proof.reduce((acc, h, i) => (bit(index, i) === 0 ? nodeHash(acc, h) : nodeHash(h, acc)), seed);
const chainInnerRight = (seed: Hash, proof: readonly Hash[], index: number): Hash =>
  proof.reduce((acc, h, i) => (bit(index, i) === 1 ? nodeHash(h, acc) : acc), seed);
const chainBorderRight = (seed: Hash, proof: readonly Hash[]): Hash => proof.reduce((acc, h) => nodeHash(h, acc), seed);

/** The number of hashes in a correct inclusion proof (RFC 9162 §2.1.3.1). */
export function inclusionProofLength(index: number, size: number): number {
  const [inner, border] = decompose(index, size);
  return inner + border;
}

/**
 * The root an inclusion proof leads to (RFC 9162 §2.1.3.2). Requires 0 <= index < size,
 * a 32-byte leaf hash and 32-byte proof hashes.
 */
export function rootFromInclusionProof(index: number, size: number, leaf: Hash, proof: readonly Hash[]): Result<Hash, ProofError> {
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size)) {
    return err({ reason: "index_out_of_range", index, size });
  }
  const bad = checkHashes([leaf, ...proof]);
  if (bad) return err(bad);
  const [inner, border] = decompose(index, size);
  if (proof.length !== inner + border) return err({ reason: "wrong_proof_length", expected: inner + border, got: proof.length });
  return ok(chainBorderRight(chainInner(leaf, proof.slice(0, inner), index), proof.slice(inner)));
}

/** Verifies an inclusion proof (RFC 9162 §2.1.3.2). Requires 0 <= index < size. */
export function verifyInclusion(index: number, size: number, leaf: Hash, proof: readonly Hash[], root: Hash): Result<void, ProofError> {
  const got = rootFromInclusionProof(index, size, leaf, proof);
  if (!got.ok) return got;
  return equalBytes(got.value, root) ? ok(undefined) : err({ reason: "root_mismatch", expected: root, got: got.value });
}

/**
 * Verifies a consistency proof between trees of `from` and `to` leaves with roots
 * `fromRoot` and `toRoot` (RFC 9162 §2.1.4.2). Requires 0 < from <= to; from = to needs an
 * empty proof and equal roots; from = 0 is refused, as a proof from the empty tree is
 * meaningless (as in transparency-dev/merkle's vectors).
 */
export function verifyConsistency(
  from: number,
  to: number,
  proof: readonly Hash[],
  fromRoot: Hash,
  toRoot: Hash,
): Result<void, ProofError> {
  if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from >= 0 && from <= to)) {
    return err({ reason: "size_out_of_range", from, to });
  }
  // A proof from the empty tree is meaningless, even to the empty tree.
  if (from === 0) return err({ reason: "size_out_of_range", from, to });
  if (from === to) {
    // Same tree: nothing to prove but that the roots are the same bytes.
    if (proof.length > 0) return err({ reason: "wrong_proof_length", expected: 0, got: proof.length });
    return equalBytes(fromRoot, toRoot) ? ok(undefined) : err({ reason: "root_mismatch", expected: toRoot, got: fromRoot });
  }
  const bad = checkHashes([fromRoot, toRoot, ...proof]);
  if (bad) return err(bad);
  if (proof.length === 0) return err({ reason: "wrong_proof_length", expected: 1, got: 0 });

  let [inner, border] = decompose(from - 1, to);
  const shift = trailingZeros(from);
  inner -= shift;
  // The proof starts with the root of the subtree of size 2^shift, unless from is that size.
  const fromIsSubtree = from === 2 ** shift;
  const seed = fromIsSubtree ? fromRoot : proof[0]!;
  const start = fromIsSubtree ? 0 : 1;
  if (proof.length !== start + inner + border) {
    return err({ reason: "wrong_proof_length", expected: start + inner + border, got: proof.length });
  }
  const rest = proof.slice(start);
  const mask = Math.floor((from - 1) / 2 ** shift);
  const gotFrom = chainBorderRight(chainInnerRight(seed, rest.slice(0, inner), mask), rest.slice(inner));
  if (!equalBytes(gotFrom, fromRoot)) return err({ reason: "root_mismatch", expected: fromRoot, got: gotFrom });
  const gotTo = chainBorderRight(chainInner(seed, rest.slice(0, inner), mask), rest.slice(inner));
  return equalBytes(gotTo, toRoot) ? ok(undefined) : err({ reason: "root_mismatch", expected: toRoot, got: gotTo });
}
