/**
 * A tlog-tiles client written from the spec alone (c2sp.org/tlog-tiles, RFC 6962 §2.1, RFC 9162
 * §2.1.3–2.1.4), for testing Sealtrail's server and CLI against something that shares none of
 * their tile code: it does not import src/core/tiles.ts, src/core/merkle.ts or anything of the
 * server. It fetches tiles through a `get(path)` it is given (HTTP or files), builds inclusion
 * and consistency proofs from hash tiles, and verifies them with its own RFC 9162 code.
 */
import { sha256 } from "@noble/hashes/sha2.js";

export type Get = (path: string) => Promise<Uint8Array | undefined>;

const H = 32;
const W = 256;

const hashNode = (l: Uint8Array, r: Uint8Array) => {
  const b = new Uint8Array(1 + 2 * H);
  b[0] = 1;
  b.set(l, 1);
  b.set(r, 1 + H);
  return sha256(b);
};
export const hashLeaf = (data: Uint8Array) => {
  const b = new Uint8Array(1 + data.length);
  b.set(data, 1);
  return sha256(b);
};
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** "<N> … zero-padded 3-digit path elements. All but the last path element MUST begin with an x." */
export function indexPath(n: number): string {
  const digits = String(n);
  const padded = digits.padStart(Math.ceil(digits.length / 3) * 3, "0");
  const groups = padded.match(/.{3}/g)!;
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join("/");
}

export const tileUrlPath = (level: number | "entries", n: number, width: number) =>
  `tile/${level}/${indexPath(n)}${width === W ? "" : `.p/${width}`}`;

/** Reads the tree of one checkpoint size through hash tiles, caching each tile it fetched. */
export class TileReader {
  readonly tiles = new Map<string, Uint8Array>();
  constructor(
    readonly get: Get,
    readonly size: number,
  ) {}

  /** Width of tile n at level l at this size ("Partial Tiles": floor(s / 256^l) mod 256 for the last one). */
  width(level: number, n: number): number {
    return Math.min(W, Math.floor(this.size / W ** level) - n * W);
  }

  async tile(level: number, n: number): Promise<Uint8Array> {
    const path = tileUrlPath(level, n, this.width(level, n));
    const known = this.tiles.get(path);
    if (known) return known;
    const bytes = await this.get(path);
    if (!bytes || bytes.length !== this.width(level, n) * H)
      throw new Error(`tile ${path}: ${bytes ? `${bytes.length} bytes` : "missing"}`);
    this.tiles.set(path, bytes);
    return bytes;
  }

  /** The hash at tile level `level`, index i: MTH(D[i·256^level : (i+1)·256^level]). */
  async stored(level: number, i: number): Promise<Uint8Array> {
    const t = await this.tile(level, Math.floor(i / W));
    const at = (i % W) * H;
    return t.slice(at, at + H);
  }

  /** MTH of the complete subtree of height h (2^h leaves) starting at leaf `start`. */
  async complete(h: number, start: number): Promise<Uint8Array> {
    const level = Math.floor(h / 8);
    const r = h - 8 * level; // levels hashed inside the tile
    const first = start / W ** level;
    let row: Uint8Array[] = [];
    for (let k = 0; k < 2 ** r; k++) row.push(await this.stored(level, first + k));
    while (row.length > 1) {
      const up: Uint8Array[] = [];
      for (let k = 0; k < row.length; k += 2) up.push(hashNode(row[k]!, row[k + 1]!));
      row = up;
    }
    return row[0]!;
  }

  /** RFC 6962 §2.1 MTH(D[lo:hi]) for any range the recursion produces. */
  async mth(lo: number, hi: number): Promise<Uint8Array> {
    const n = hi - lo;
    if (n === 0) return sha256(new Uint8Array(0));
    if ((n & (n - 1)) === 0 && lo % n === 0) return this.complete(Math.log2(n), lo);
    let k = 1;
    while (k * 2 < n) k *= 2;
    return hashNode(await this.mth(lo, lo + k), await this.mth(lo + k, hi));
  }

  /** RFC 6962 §2.1.1 PATH(m, D[lo:hi]). */
  async inclusion(m: number, lo = 0, hi = this.size): Promise<Uint8Array[]> {
    const n = hi - lo;
    if (n === 1) return [];
    let k = 1;
    while (k * 2 < n) k *= 2;
    if (m < k) return [...(await this.inclusion(m, lo, lo + k)), await this.mth(lo + k, hi)];
    return [...(await this.inclusion(m - k, lo + k, hi)), await this.mth(lo, lo + k)];
  }

  /** RFC 6962 §2.1.2 PROOF(m, D[0:size]) = SUBPROOF(m, D[0:size], true). */
  async consistency(m: number): Promise<Uint8Array[]> {
    const sub = async (m: number, lo: number, hi: number, b: boolean): Promise<Uint8Array[]> => {
      const n = hi - lo;
      if (m === n) return b ? [] : [await this.mth(lo, hi)];
      let k = 1;
      while (k * 2 < n) k *= 2;
      if (m <= k) return [...(await sub(m, lo, lo + k, b)), await this.mth(lo + k, hi)];
      return [...(await sub(m - k, lo + k, hi, false)), await this.mth(lo, lo + k)];
    };
    return m === this.size ? [] : sub(m, 0, this.size, true);
  }

  /** Entry bundle n at this size: its entries ("big-endian uint16 length-prefixed"). */
  async entries(n: number): Promise<Uint8Array[]> {
    const path = tileUrlPath("entries", n, this.width(0, n));
    const bytes = await this.get(path);
    if (!bytes) throw new Error(`bundle ${path} missing`);
    const out: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; ) {
      const len = (bytes[at]! << 8) | bytes[at + 1]!;
      out.push(bytes.slice(at + 2, at + 2 + len));
      at += 2 + len;
    }
    return out;
  }
}

/** RFC 9162 §2.1.3.2: does `proof` lead from leaf hash `leaf` at `index` to `root` in a tree of `size`? */
export function checkInclusion(index: number, size: number, leaf: Uint8Array, proof: Uint8Array[], root: Uint8Array): boolean {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = hashNode(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = hashNode(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && same(r, root);
}

/** RFC 9162 §2.1.4.2: does `proof` show the tree of size `first` (root `r1`) is a prefix of the tree of `second` (root `r2`)? */
export function checkConsistency(first: number, second: number, proof: Uint8Array[], r1: Uint8Array, r2: Uint8Array): boolean {
  if (first === second) return proof.length === 0 && same(r1, r2);
  if (first === 0 || first > second || proof.length === 0) return false;
  let path = proof;
  if ((first & (first - 1)) === 0) path = [r1, ...proof];
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = hashNode(c, fr);
      sr = hashNode(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = hashNode(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && same(fr, r1) && same(sr, r2);
}

/** The size and root lines of a checkpoint note (c2sp.org/tlog-checkpoint); signatures are the caller's business. */
export function checkpointBody(note: string): { origin: string; size: number; root: Uint8Array } {
  const [origin, size, root] = note.split("\n");
  return { origin: origin!, size: Number(size), root: Uint8Array.from(atob(root!), (c) => c.charCodeAt(0)) };
}
