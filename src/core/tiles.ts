/**
 * c2sp.org/tlog-tiles: the tiled encoding of an RFC 6962 tree (the same hashes, served as static
 * resources), both sides of it. Pure: no I/O; callers fetch or store the bytes.
 *
 * - Paths (c2sp.org/tlog-tiles "Merkle Tree"): `tile/<L>/<N>[.p/<W>]` and, for entry bundles
 *   ("Log entries"), `tile/entries/<N>[.p/<W>]`, where <N> is split into zero-padded 3-digit
 *   elements, all but the last prefixed with `x` (1234067 → `x001/x234/067`).
 * - Tiles: the concatenated 32-byte hashes, 256 for a full tile (8,192 bytes). Hash i of tile N
 *   at level L is MTH(D[(N·256 + i)·256^L : (N·256 + i + 1)·256^L]), i.e. the complete subtree at
 *   tree level 8L, index N·256 + i (merkle.ts addressing).
 * - Partial tiles ("Partial Tiles"): the rightmost tile at level L of a tree of size s has
 *   floor(s / 256^L) mod 256 hashes; empty tiles do not exist.
 * - Entry bundles ("Log entries"): each entry as a big-endian uint16 length, then its bytes. An
 *   entry therefore has at most MAX_ENTRY_BYTES = 65,535 bytes (what Sealtrail's event limits
 *   guarantee: src/worker/event-schema.ts, docs/design.md "Tiles").
 *
 * The reading side builds RFC 6962 proofs (merkle.ts) from tiles alone: `tilesFor` lists the
 * tiles a computation reads, `tileNodeReader` answers merkle.ts's NodeReader from them.
 */
import { concatBytes } from "./bytes";
import { HASH_SIZE, nodeHash, type Hash } from "./hash";
import type { NodeReader } from "./merkle";
import { err, ok, type Result } from "./result";

/** c2sp.org/tlog-tiles "Merkle Tree": a tile spans 8 tree levels, 2^8 = 256 hashes wide when full. */
export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
/** "<L> … MUST be a decimal ASCII integer between 0 and 63". */
export const MAX_TILE_LEVEL = 63;
/** "Log entries": entries are uint16 length-prefixed, so none may exceed 65,535 bytes. */
export const MAX_ENTRY_BYTES = 0xffff;

/** A hash tile (level 0..63) or an entry bundle (level "entries"); width 256 = a full tile. */
export interface TileRef {
  level: number | "entries";
  index: number;
  width: number;
}

export type TileError =
  | { reason: "malformed_tile"; detail: string }
  | { reason: "malformed_bundle"; detail: string }
  | { reason: "entry_too_large"; bytes: number; limit: number };

/** "<N> … zero-padded 3-digit path elements. All but the last path element MUST begin with an x". */
export function encodeTileIndex(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`tile index ${n}`);
  let rest = n;
  const parts = [String(rest % 1000).padStart(3, "0")];
  rest = Math.floor(rest / 1000);
  while (rest > 0) {
    parts.unshift(`x${String(rest % 1000).padStart(3, "0")}`);
    rest = Math.floor(rest / 1000);
  }
  return parts.join("/");
}

/** The resource path of a tile under the log's prefix (no leading slash). Requires 1 <= width <= 256. */
export function tilePath(t: TileRef): string {
  const suffix = t.width === TILE_WIDTH ? "" : `.p/${t.width}`;
  return `tile/${t.level}/${encodeTileIndex(t.index)}${suffix}`;
}

/**
 * Parses a path `tile/…` exactly as tilePath writes it: no leading zeros in <L> or <W>, 3-digit
 * elements, `x` on all but the last, 1 <= W <= 255. Any other spelling is not a tile (undefined).
 */
export function parseTilePath(path: string): TileRef | undefined {
  const m = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*)([0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/.exec(path);
  if (!m) return undefined;
  const level = m[1] === "entries" ? "entries" : Number(m[1]);
  if (level !== "entries" && level > MAX_TILE_LEVEL) return undefined;
  const elements = [...(m[2] ? m[2].split("/").filter((s) => s !== "") : []).map((s) => s.slice(1)), m[3]!];
  // A leading x000 element would be a second spelling of the same index.
  if (elements.length > 1 && elements[0] === "000") return undefined;
  if (elements.length > 6) return undefined; // beyond 2^53
  let index = 0;
  for (const e of elements) index = index * 1000 + Number(e);
  if (!Number.isSafeInteger(index)) return undefined;
  const width = m[4] === undefined ? TILE_WIDTH : Number(m[4]);
  if (m[4] !== undefined && width >= TILE_WIDTH) return undefined; // "<W> … between 1 and 255"
  return { level, index, width };
}

/** Tree hashes at tile level L (tree level 8L) that exist in a tree of `size` leaves: floor(size / 256^L). */
export function hashesAtLevel(level: number, size: number): number {
  return Math.floor(size / TILE_WIDTH ** level);
}

/**
 * How many hashes tile `index` at `level` ("entries" counts as level 0) has in a tree of `size`:
 * 256 if it is full, 1..255 if it is the partial one, 0 if it does not exist (yet).
 */
export function tileWidthAt(level: number | "entries", index: number, size: number): number {
  const n = hashesAtLevel(level === "entries" ? 0 : level, size) - index * TILE_WIDTH;
  return Math.max(0, Math.min(TILE_WIDTH, n));
}

/**
 * Every hash tile that represents the tree of `size` (c2sp.org/tlog-tiles "Partial Tiles":
 * 70,000 leaves are 273 full level-0 tiles, one of width 112, one full level-1 tile, one of
 * width 17, one level-2 tile of width 1). Levels stop at the first with no hash.
 */
export function tilesForSize(size: number): TileRef[] {
  const out: TileRef[] = [];
  for (let level = 0; level <= MAX_TILE_LEVEL; level++) {
    const n = hashesAtLevel(level, size);
    if (n === 0) break;
    for (let index = 0; index * TILE_WIDTH < n; index++) out.push({ level, index, width: Math.min(TILE_WIDTH, n - index * TILE_WIDTH) });
  }
  return out;
}

/** A tile's bytes: its hashes concatenated. Requires 32-byte hashes. */
export const encodeTile = (hashes: readonly Hash[]): Uint8Array => concatBytes(...hashes);

/** A tile's hashes; `width` (if given) must match its length exactly. */
export function decodeTile(bytes: Uint8Array, width?: number): Result<Hash[], TileError> {
  if (bytes.length === 0 || bytes.length % HASH_SIZE !== 0 || bytes.length > TILE_WIDTH * HASH_SIZE) {
    return err({ reason: "malformed_tile", detail: `${bytes.length} bytes is not 1 to 256 hashes` });
  }
  if (width !== undefined && bytes.length !== width * HASH_SIZE) {
    return err({ reason: "malformed_tile", detail: `${bytes.length / HASH_SIZE} hashes, expected ${width}` });
  }
  const out: Hash[] = [];
  for (let at = 0; at < bytes.length; at += HASH_SIZE) out.push(bytes.slice(at, at + HASH_SIZE));
  return ok(out);
}

/** "Entry bundles are sequences of big-endian uint16 length-prefixed log entries." */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Result<Uint8Array, TileError> {
  let length = 0;
  for (const e of entries) {
    if (e.length > MAX_ENTRY_BYTES) return err({ reason: "entry_too_large", bytes: e.length, limit: MAX_ENTRY_BYTES });
    length += 2 + e.length;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const e of entries) {
    out[at] = e.length >> 8;
    out[at + 1] = e.length & 0xff;
    out.set(e, at + 2);
    at += 2 + e.length;
  }
  return ok(out);
}

/** The entries of a bundle, in order; every byte must belong to exactly one entry. */
export function decodeEntryBundle(bytes: Uint8Array): Result<Uint8Array[], TileError> {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 2 > bytes.length) return err({ reason: "malformed_bundle", detail: `truncated length at byte ${at}` });
    const n = (bytes[at]! << 8) | bytes[at + 1]!;
    if (at + 2 + n > bytes.length) return err({ reason: "malformed_bundle", detail: `entry ${out.length} runs past the end` });
    out.push(bytes.slice(at + 2, at + 2 + n));
    at += 2 + n;
    if (out.length > TILE_WIDTH) return err({ reason: "malformed_bundle", detail: "more than 256 entries" });
  }
  return ok(out);
}

/** MTH of a complete subtree given its 2^k leaves (hashes at the bottom level), k >= 0. */
export function completeSubtreeHash(hashes: readonly Hash[]): Hash {
  let row = [...hashes];
  while (row.length > 1) {
    const up: Hash[] = [];
    for (let i = 0; i < row.length; i += 2) up.push(nodeHash(row[i]!, row[i + 1]!));
    row = up;
  }
  return row[0]!;
}

/** The tile holding complete subtree (treeLevel, index), and where in it: (L, N, first hash, 2^r hashes). */
export function tileOfNode(treeLevel: number, index: number): { level: number; tile: number; first: number; count: number } {
  const level = Math.floor(treeLevel / TILE_HEIGHT);
  const count = 2 ** (treeLevel - level * TILE_HEIGHT);
  const at = index * count; // the node's first hash at tree level 8L
  return { level, tile: Math.floor(at / TILE_WIDTH), first: at % TILE_WIDTH, count };
}

/**
 * The tiles a computation over the tree of `size` reads: `compute` (e.g. merkle.ts
 * inclusionProof, consistencyProof, treeHash) is run with a reader that records each complete
 * subtree it asks for; each becomes the tile (with the width it has at `size`) that holds it.
 * Requires `compute` to read only complete subtrees of the tree of `size` (merkle.ts does).
 */
export function tilesFor(size: number, compute: (read: NodeReader) => unknown): TileRef[] {
  const wanted = new Map<string, TileRef>();
  const zero = new Uint8Array(HASH_SIZE);
  compute((treeLevel, index) => {
    const { level, tile } = tileOfNode(treeLevel, index);
    wanted.set(`${level}/${tile}`, { level, index: tile, width: tileWidthAt(level, tile, size) });
    return zero;
  });
  return [...wanted.values()];
}

/**
 * merkle.ts's NodeReader over tiles: complete subtree (treeLevel, index) is the MTH of the 2^r
 * hashes of its tile at level floor(treeLevel / 8) (r = treeLevel mod 8), c2sp.org/tlog-tiles
 * "the Merkle Tree levels between those expressed by the tile hashes are reconstructed by
 * hashing". `tile(L, N)` returns the tile's hashes (any width that holds the node); a missing
 * tile or hash throws, as a NodeReader does for a node never stored.
 */
export function tileNodeReader(tile: (level: number, index: number) => readonly Hash[] | undefined): NodeReader {
  return (treeLevel, index) => {
    const where = tileOfNode(treeLevel, index);
    const hashes = tile(where.level, where.tile);
    if (!hashes || hashes.length < where.first + where.count) {
      throw new Error(`tile ${where.level}/${where.tile} lacks hashes ${where.first}..${where.first + where.count - 1}`);
    }
    return completeSubtreeHash(hashes.slice(where.first, where.first + where.count));
  };
}
