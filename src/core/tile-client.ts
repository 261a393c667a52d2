/**
 * Verifying a log from its c2sp.org/tlog-tiles resources alone, for the CLI (`sealtrail
 * verify-tiles`, `sealtrail monitor`: src/cli) and the console's verify page: the signed
 * checkpoint, hash tiles and, with `read` access, entry bundles, fetched from a monitoring prefix
 * (`<server>/logs/<tenant id>/` for Sealtrail; any tlog-tiles log works) through a `TileGet` the
 * caller gives (HTTP in the CLI and the browser, files in tests). No Sealtrail API is used.
 * Pure: the caller does the fetching.
 */
import { prunedRangeOf, type PrunedRange } from "./audit";
import { equalBytes, toBase64 } from "./bytes";
import { openCheckpoint, type Checkpoint } from "./checkpoint";
import { leafHash, type Hash } from "./hash";
import { CompactRange, consistencyProof, verifyConsistency } from "./merkle";
import type { NoteVerifier } from "./note";
import {
  completeSubtreeHash,
  decodeEntryBundle,
  decodeTile,
  tileNodeReader,
  tilePath,
  tilesFor,
  tilesForSize,
  tileWidthAt,
  TILE_WIDTH,
  type TileRef,
} from "./tiles";

/** Fetches a resource under the log's prefix: its bytes, or undefined for 404. Other failures throw. */
export type TileGet = (path: string) => Promise<Uint8Array | undefined>;

export type TileFailure =
  | { reason: "bad_checkpoint"; detail: string }
  | { reason: "missing_tile"; path: string }
  | { reason: "bad_tile"; path: string; detail: string }
  | { reason: "root_mismatch"; size: number }
  | { reason: "bad_entry"; index: number; detail: string }
  | { reason: "rollback"; from: number; to: number }
  | { reason: "fork"; size: number; detail: string };

/** Tiles fetched for one tree size, by "<level>/<index>", their hashes decoded. */
export class TileSet {
  readonly hashes = new Map<string, Hash[]>();
  /** The raw bytes of every tile fetched, by path (evidence files). */
  readonly raw = new Map<string, Uint8Array>();
  constructor(
    readonly get: TileGet,
    readonly size: number,
  ) {}

  /** Fetches `refs` (at most `parallel` at a time); a failure names the first tile at fault. */
  async load(refs: readonly TileRef[], parallel = 16): Promise<TileFailure | undefined> {
    const todo = refs.filter((r) => !this.hashes.has(`${r.level}/${r.index}`));
    let failure: TileFailure | undefined;
    let next = 0;
    const worker = async () => {
      while (next < todo.length && !failure) {
        const ref = todo[next++]!;
        const path = tilePath(ref);
        const bytes = await this.get(path);
        if (!bytes) {
          failure ??= { reason: "missing_tile", path };
          return;
        }
        const hashes = decodeTile(bytes, ref.width);
        if (!hashes.ok) {
          failure ??= { reason: "bad_tile", path, detail: hashes.error.reason === "malformed_tile" ? hashes.error.detail : "malformed" };
          return;
        }
        this.raw.set(path, bytes);
        this.hashes.set(`${ref.level}/${ref.index}`, hashes.value);
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    return failure;
  }

  /** merkle.ts's NodeReader over the fetched tiles. */
  reader() {
    return tileNodeReader((level, index) => this.hashes.get(`${level}/${index}`));
  }
}

/** Fetches the checkpoint and checks its signature with one of `verifiers` (their key name is the origin). */
export async function signedCheckpoint(
  get: TileGet,
  verifiers: readonly NoteVerifier[],
): Promise<{ ok: true; note: string; cp: Checkpoint } | { ok: false; note?: string; failure: TileFailure }> {
  const bytes = await get("checkpoint");
  if (!bytes) return { ok: false, failure: { reason: "bad_checkpoint", detail: "no checkpoint" } };
  const note = new TextDecoder().decode(bytes);
  return openSigned(note, verifiers);
}

export function openSigned(
  note: string,
  verifiers: readonly NoteVerifier[],
): { ok: true; note: string; cp: Checkpoint } | { ok: false; note: string; failure: TileFailure } {
  const origin = note.slice(0, note.indexOf("\n"));
  const cp = openCheckpoint(note, origin, verifiers);
  if (!cp.ok) return { ok: false, note, failure: { reason: "bad_checkpoint", detail: cp.error.reason } };
  return { ok: true, note, cp: cp.value };
}

/**
 * Whether the tree of `later` extends the tree of `earlier` (RFC 9162 §2.1.4), with the proof
 * built from `tiles` (hash tiles of later.size). Returns the proof's hashes either way.
 */
export async function checkConsistencyFromTiles(
  tiles: TileSet,
  earlier: Checkpoint,
  later: Checkpoint,
): Promise<{ failure?: TileFailure; proof: Hash[] }> {
  if (later.size < earlier.size) return { failure: { reason: "rollback", from: earlier.size, to: later.size }, proof: [] };
  if (earlier.size === later.size || earlier.size === 0) {
    const same = earlier.size === 0 || toBase64(earlier.root) === toBase64(later.root);
    return same ? { proof: [] } : { failure: { reason: "fork", size: later.size, detail: "two roots for one size" }, proof: [] };
  }
  const missing = await tiles.load(tilesFor(later.size, (read) => consistencyProof(earlier.size, later.size, read)));
  if (missing) return { failure: missing, proof: [] };
  const proof = consistencyProof(earlier.size, later.size, tiles.reader());
  const checked = verifyConsistency(earlier.size, later.size, proof, earlier.root, later.root);
  if (checked.ok) return { proof };
  return {
    failure: { reason: "fork", size: later.size, detail: `not consistent with size ${earlier.size} (${checked.error.reason})` },
    proof,
  };
}

export interface TileReport {
  ok: boolean;
  origin?: string;
  size?: number;
  root?: string;
  tiles: number;
  /** Entries read from bundles and hashed (with --entries). */
  entries: number;
  /** The earlier checkpoint's size this one was proven to extend. */
  consistent_with?: number;
  /** With `entries`: entry bundles below `to` deleted by retention, as the log's newest pruned entry records. */
  pruned?: PrunedRange;
  failure?: TileFailure;
}

const PRUNED_ACTION = "sealtrail.retention.pruned";
const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

/** The newest `sealtrail.retention.pruned` range among `entries` (each already checked against its leaf hash). */
function prunedIn(entries: readonly Uint8Array[]): PrunedRange | undefined {
  let newest: PrunedRange | undefined;
  for (const e of entries) {
    // Cheap test first: most bundles hold no such entry.
    if (!latin1.decode(e).includes(PRUNED_ACTION)) continue;
    const r = prunedRangeOf(utf8.decode(e), undefined);
    if (r && (!newest || r.under > newest.under)) newest = r;
  }
  return newest;
}

/**
 * The log's newest `sealtrail.retention.pruned` range (docs/design.md "Retention"), read from the
 * entry bundles backwards from the last: the entry is always above the range it prunes, so the
 * search stops at it, or at the first bundle missing (none found: no range, every missing bundle fails).
 */
export async function newestPrunedFromTiles(get: TileGet, tiles: TileSet, size: number): Promise<PrunedRange | undefined> {
  for (let n = Math.ceil(size / TILE_WIDTH) - 1; n >= 0; n--) {
    const bundle = await readBundle(get, tiles, n, size);
    if (!bundle.ok) return undefined;
    const found = prunedIn(bundle.entries);
    if (found) return found;
  }
  return undefined;
}

/**
 * `verify-tiles`: the checkpoint's signature; every hash tile of its size (level-0 hashes folded
 * into the root, which must be the signed one; every higher tile's hash the root of the full
 * tile below); with `entries`, every entry bundle hashed to its level-0 tile; with `previous`
 * (an earlier checkpoint note, signed by the same keys), a consistency proof from tiles.
 */
export async function verifyTiles(o: {
  get: TileGet;
  verifiers: readonly NoteVerifier[];
  entries?: boolean;
  previous?: string;
  onProgress?: (done: number, total: number) => void;
}): Promise<TileReport> {
  const report: TileReport = { ok: false, tiles: 0, entries: 0 };
  const signed = await signedCheckpoint(o.get, o.verifiers);
  if (!signed.ok) return { ...report, failure: signed.failure };
  const { cp } = signed;
  Object.assign(report, { origin: cp.origin, size: cp.size, root: toBase64(cp.root) });
  const tiles = new TileSet(o.get, cp.size);
  const refs = tilesForSize(cp.size);
  // Level by level, in slices, so progress shows and memory holds one level's tiles at a time.
  const range = new CompactRange();
  for (let at = 0; at < refs.length; at += 256) {
    const slice = refs.slice(at, at + 256);
    const failure = await tiles.load(slice);
    if (failure) return { ...report, failure };
    o.onProgress?.(Math.min(at + 256, refs.length), refs.length);
  }
  report.tiles = refs.length;
  for (const ref of refs) {
    const hashes = tiles.hashes.get(`${ref.level}/${ref.index}`)!;
    if (ref.level === 0) {
      for (const h of hashes) range.append(h);
      continue;
    }
    // Hash i of tile (L, N) is the MTH of the full tile (L-1, 256N + i).
    for (const [i, h] of hashes.entries()) {
      const below = tiles.hashes.get(`${(ref.level as number) - 1}/${ref.index * TILE_WIDTH + i}`);
      if (!below || below.length !== TILE_WIDTH || !equalBytes(completeSubtreeHash(below), h)) {
        return { ...report, failure: { reason: "bad_tile", path: tilePath(ref), detail: `hash ${i} is not the root of the tile below` } };
      }
    }
  }
  if (toBase64(range.root()) !== report.root) return { ...report, failure: { reason: "root_mismatch", size: cp.size } };
  if (o.entries) {
    // Bundles in parallel (16 at a time); the first failure in tile order is the one reported.
    const level0 = refs.filter((r) => r.level === 0);
    const failures: (TileFailure | undefined)[] = [];
    let pruned: PrunedRange | undefined;
    let next = 0;
    const worker = async () => {
      while (next < level0.length) {
        const i = next++;
        const read = await readBundle(o.get, tiles, level0[i]!.index, cp.size);
        failures[i] = read.ok ? undefined : read.failure;
        const found = read.ok ? prunedIn(read.entries) : undefined;
        if (found && (!pruned || found.under > pruned.under)) pruned = found;
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    // Bundles reaching below the range the log records as pruned are gone on purpose; any other is missing.
    const isPruned = (i: number) =>
      pruned !== undefined && failures[i]?.reason === "missing_tile" && level0[i]!.index * TILE_WIDTH < pruned.to;
    const failure = failures.find((f, i) => f !== undefined && !isPruned(i));
    if (failure) return { ...report, failure };
    const skipped = level0.filter((_, i) => isPruned(i)).length;
    report.entries = level0.filter((_, i) => !isPruned(i)).reduce((n, r) => n + r.width, 0);
    if (pruned && skipped > 0) report.pruned = pruned;
  }
  if (o.previous !== undefined) {
    const prev = openSigned(o.previous, o.verifiers);
    if (!prev.ok) return { ...report, failure: prev.failure };
    const { failure } = await checkConsistencyFromTiles(tiles, prev.cp, cp);
    if (failure) return { ...report, failure };
    report.consistent_with = prev.cp.size;
  }
  return { ...report, ok: true };
}

/** Entry bundle `n` at `size`: each entry's leaf hash must be hash i of level-0 tile n (fetched into `tiles`). */
export async function checkBundle(get: TileGet, tiles: TileSet, n: number, size: number): Promise<TileFailure | undefined> {
  const entries = await readBundle(get, tiles, n, size);
  return entries.ok ? undefined : entries.failure;
}

/** The entries of bundle `n` at `size`, each checked against its leaf hash. */
export async function readBundle(
  get: TileGet,
  tiles: TileSet,
  n: number,
  size: number,
): Promise<{ ok: true; entries: Uint8Array[] } | { ok: false; failure: TileFailure }> {
  const width = tileWidthAt("entries", n, size);
  const ref: TileRef = { level: "entries", index: n, width };
  const path = tilePath(ref);
  const missing = await tiles.load([{ level: 0, index: n, width }]);
  if (missing) return { ok: false, failure: missing };
  const bytes = await get(path);
  if (!bytes) return { ok: false, failure: { reason: "missing_tile", path } };
  const entries = decodeEntryBundle(bytes);
  if (!entries.ok || entries.value.length !== width)
    return { ok: false, failure: { reason: "bad_tile", path, detail: "not a bundle of its width" } };
  const leaves = tiles.hashes.get(`0/${n}`)!;
  for (const [i, e] of entries.value.entries()) {
    if (!equalBytes(leafHash(e), leaves[i]!)) {
      return { ok: false, failure: { reason: "bad_entry", index: n * TILE_WIDTH + i, detail: "its leaf hash is not the tile's" } };
    }
  }
  return { ok: true, entries: entries.value };
}

export function describeTileFailure(f: TileFailure): string {
  switch (f.reason) {
    case "bad_checkpoint":
      return `the checkpoint does not verify (${f.detail})`;
    case "missing_tile":
      return `${f.path} is missing`;
    case "bad_tile":
      return `${f.path}: ${f.detail}`;
    case "root_mismatch":
      return `the tiles do not hash to the signed root of size ${f.size}`;
    case "bad_entry":
      return `entry ${f.index}: ${f.detail}`;
    case "rollback":
      return `the log went back from size ${f.from} to ${f.to}`;
    case "fork":
      return `fork at size ${f.size}: ${f.detail}`;
  }
}
