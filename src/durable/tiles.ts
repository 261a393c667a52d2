/**
 * The tenant log as c2sp.org/tlog-tiles (docs/design.md "Tiles"; src/core/tiles.ts): full tiles
 * written to R2 create-only as the tree grows, partial ones computed on request.
 *
 * R2:  tenants/<tenant>/tiles/tile/<L>/<N>          a full hash tile (256 hashes, 8,192 bytes)
 *      tenants/<tenant>/tiles/tile/entries/<N>      a full entry bundle (256 entries)
 * (<N> as c2sp.org/tlog-tiles spells it: `x001/x234/067`.) Partial tiles are never stored.
 *
 * Where the bytes come from: hash tiles from the tree nodes in DO storage (never evicted); entry
 * bundles from the entries in DO storage while it holds them, else from the R2 seal bundles
 * (entries leave DO storage only once sealed in R2 and mirrored to D1: log-store.ts
 * `evictSettled`). Every entry is checked against its leaf hash before it goes into a bundle,
 * so a bundle's bytes always hash to the hash tile beside it. Nothing is lost whatever the
 * order: the writer normally runs right after the commit that completes a tile (GroupCommit's
 * `afterCommit`), long before a seal evicts its entries, and after eviction it reads the seals.
 *
 * `tiles_to` (counters table) is the watermark: every full tile (all levels, and the bundles)
 * that ends at or below it is in R2. A chunk is 256 entries: its bundle, its level-0 tile, and
 * each higher-level tile it completes.
 */
import { equalBytes, utf8 } from "../core/bytes";
import { leafHashText } from "../core/hash";
import { sealKeys } from "../core/seal";
import { encodeEntryBundle, encodeTile, MAX_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH, tilePath, tileWidthAt, type TileRef } from "../core/tiles";
import type { LogStore } from "./log-store";

export const TILES_TO = "tiles_to";
/** After a failed pass, commits do not start another one for this long (the alarm retries too). */
export const TILE_RETRY_AFTER_MS = 30_000;
/** Chunks one pass writes at most (a backlog, e.g. a log older than tiles, continues at the next alarm). */
export const CHUNKS_PER_PASS = 256;

export const tilesPrefix = (tenant: string): string => `tenants/${tenant}/tiles/`;
/** The R2 key of a full tile (partial tiles are not stored). */
export const tileKey = (tenant: string, ref: TileRef): string => `${tilesPrefix(tenant)}${tilePath(ref)}`;

export type TileError = { reason: "not_found"; what: string } | { reason: "log_unavailable" };
export type TileResult = { ok: true; value: Uint8Array } | { ok: false; error: TileError };

export interface TilesDeps {
  bucket: R2Bucket;
  store: LogStore;
  now: () => number;
  /** The committed size (group-commit.ts). */
  size: () => number;
  /**
   * The retention floor (retention.ts): entries below it may be pruned, so an entry bundle that
   * holds any of them is neither written nor computed (hash tiles always are).
   */
  floor?: () => number;
}

/** Seal bundles read during one pass: consecutive chunks usually fall in the same seal. */
type BundleCache = Map<number, string[]>;

export class Tiles {
  readonly #d: TilesDeps;
  #chain: Promise<unknown> = Promise.resolve();
  #running = false;
  #retryAt = 0;
  #lastError: string | null = null;
  /** Fixed by the log's first append; read once. */
  #tenant: string | undefined;

  constructor(deps: TilesDeps) {
    this.#d = deps;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  /** Entries covered by full tiles in R2. */
  get writtenTo(): number {
    return this.#d.store.counter(TILES_TO);
  }

  /**
   * After a commit: starts a pass if a full tile is waiting (cheap when none is). Not awaited
   * by the commit; a pass is serialized with the others and never throws.
   */
  grew(): void {
    this.#tenant ??= this.#d.store.tenant();
    const tenant = this.#tenant;
    if (tenant === undefined || this.#running || this.#d.now() < this.#retryAt) return;
    if (this.#fullTo() <= this.writtenTo) return;
    void this.sync(tenant);
  }

  #fullTo(): number {
    return Math.floor(this.#d.size() / TILE_WIDTH) * TILE_WIDTH;
  }

  /** Writes the full tiles not yet in R2 (at most CHUNKS_PER_PASS chunks); true when all are. */
  sync(tenant: string): Promise<boolean> {
    const pass = this.#chain.then(() => this.#pass(tenant));
    this.#chain = pass.catch(() => undefined);
    return pass;
  }

  async #pass(tenant: string): Promise<boolean> {
    const { store } = this.#d;
    this.#running = true;
    const cache: BundleCache = new Map();
    try {
      let chunks = 0;
      for (let at = this.writtenTo; at + TILE_WIDTH <= this.#fullTo(); at += TILE_WIDTH) {
        if (chunks++ === CHUNKS_PER_PASS) {
          this.#lastError = null; // progress, not a failure: the caller continues later
          return false;
        }
        const failure = await this.#writeChunk(tenant, at / TILE_WIDTH, cache);
        if (failure) {
          this.#lastError = failure;
          this.#retryAt = this.#d.now() + TILE_RETRY_AFTER_MS;
          console.error(`TenantLog ${tenant} tiles: ${failure}`);
          return false;
        }
        // Durable now: the chunk's bundle and tiles are in R2, and the watermark says so. A crash
        // before this write redoes the chunk: create-only puts find the same bytes and pass.
        store.setCounter(TILES_TO, at + TILE_WIDTH);
      }
      this.#lastError = null;
      return true;
    } catch (e) {
      this.#lastError = e instanceof Error ? e.message : String(e);
      this.#retryAt = this.#d.now() + TILE_RETRY_AFTER_MS;
      console.error(`TenantLog ${tenant} tiles failed`, e);
      return false;
    } finally {
      this.#running = false;
    }
  }

  /** Chunk k: entry bundle k, hash tile 0/k, and each higher tile that k completes. */
  async #writeChunk(tenant: string, k: number, cache: BundleCache): Promise<string | undefined> {
    const puts: [TileRef, Uint8Array][] = [];
    // A chunk reaching below the retention floor has pruned bodies: its hash tiles only.
    if (!this.#pruned(k)) {
      const entries = await this.#entries(tenant, k * TILE_WIDTH, TILE_WIDTH, cache);
      if (!entries.ok) return entries.error;
      puts.push([{ level: "entries", index: k, width: TILE_WIDTH }, entries.value]);
    }
    for (let level = 0; level <= MAX_TILE_LEVEL; level++) {
      const span = TILE_WIDTH ** level; // chunks per tile at this level
      if ((k + 1) % span !== 0) break;
      const index = (k + 1) / span - 1;
      puts.push([{ level, index, width: TILE_WIDTH }, this.#hashTile(level, index, TILE_WIDTH)]);
    }
    for (const [ref, bytes] of puts) {
      const failure = await putBytesCreateOnly(this.#d.bucket, tileKey(tenant, ref), bytes);
      if (failure) return failure;
    }
    return undefined;
  }

  /** Entry bundle k holds an entry below the retention floor. */
  #pruned(k: number): boolean {
    return k * TILE_WIDTH < (this.#d.floor?.() ?? 0);
  }

  #hashTile(level: number, index: number, width: number): Uint8Array {
    const hashes = this.#d.store.nodesAt(level * TILE_HEIGHT, index * TILE_WIDTH, width);
    if (hashes.length !== width) throw new Error(`tree nodes of tile ${level}/${index} are missing`);
    return encodeTile(hashes);
  }

  /**
   * The bundle of entries [from, from + count): from DO storage, the evicted prefix from the R2
   * seal bundles; each entry checked against its stored leaf hash.
   */
  async #entries(
    tenant: string,
    from: number,
    count: number,
    cache: BundleCache,
  ): Promise<{ ok: true; value: Uint8Array } | { ok: false; error: string }> {
    const { store, bucket } = this.#d;
    const texts: string[] = [];
    const held = store.entries(from, count).filter((e) => e.seq < from + count);
    // Evicted entries are always a prefix (evictSettled deletes below a watermark).
    const firstHeld = held[0]?.seq ?? from + count;
    if (firstHeld > from) {
      for (const seal of store.sealsCovering(from, firstHeld)) {
        let lines = cache.get(seal.id);
        if (!lines) {
          const object = await bucket.get(sealKeys(tenant, seal.id).bundle);
          if (!object) return { ok: false, error: `seal ${seal.id}'s bundle is not in R2` };
          lines = (await object.text()).split("\n").slice(0, -1);
          cache.clear();
          cache.set(seal.id, lines);
        }
        const lo = Math.max(from, seal.from);
        const hi = Math.min(firstHeld, seal.to);
        texts.push(...lines.slice(lo - seal.from, hi - seal.from));
      }
    }
    texts.push(...held.map((e) => e.entry));
    if (texts.length !== count) return { ok: false, error: `entries ${from}..${from + count - 1} are not all available` };
    const leaves = store.nodesAt(0, from, count);
    for (const [i, text] of texts.entries()) {
      if (!leaves[i] || !equalBytes(leafHashText(text), leaves[i]!))
        return { ok: false, error: `entry ${from + i} does not match its leaf hash` };
    }
    const bundle = encodeEntryBundle(texts.map(utf8));
    return bundle.ok ? { ok: true, value: bundle.value } : { ok: false, error: `entry too large for a bundle (${bundle.error.reason})` };
  }

  /**
   * A tile's bytes, computed from this log's storage (the Worker serves full tiles already in R2
   * itself). Not found: a tile, or a width, the tree does not have. A full tile asked for here is
   * not in R2 yet: a pass is started to write it.
   */
  async tile(tenant: string, ref: TileRef): Promise<TileResult> {
    const size = this.#d.size();
    if (ref.width > tileWidthAt(ref.level, ref.index, size)) return { ok: false, error: { reason: "not_found", what: "Tile" } };
    if (ref.width === TILE_WIDTH) this.grew();
    if (ref.level !== "entries") return { ok: true, value: this.#hashTile(ref.level, ref.index, ref.width) };
    if (this.#pruned(ref.index)) return { ok: false, error: { reason: "not_found", what: "Entry bundle (pruned by retention)" } };
    const entries = await this.#entries(tenant, ref.index * TILE_WIDTH, ref.width, new Map());
    if (!entries.ok) {
      console.error(`TenantLog ${tenant} entry bundle ${ref.index}: ${entries.error}`);
      return { ok: false, error: { reason: "log_unavailable" } };
    }
    return { ok: true, value: entries.value };
  }
}

/**
 * Writes `body` at `key` only if no object is there; if one is, it must hold the same bytes (an
 * earlier attempt that landed). The same rule as seal-objects.ts `putCreateOnly`, for bytes.
 * Returns a failure's description, or undefined.
 */
export async function putBytesCreateOnly(bucket: R2Bucket, key: string, body: Uint8Array): Promise<string | undefined> {
  try {
    const put = await bucket.put(key, body, {
      onlyIf: { etagDoesNotMatch: "*" },
      httpMetadata: { contentType: "application/octet-stream" },
    });
    if (put !== null) return undefined;
    const existing = await bucket.get(key);
    if (existing === null) return `${key} vanished during the put`;
    const got = new Uint8Array(await existing.arrayBuffer());
    return equalBytes(got, body) ? undefined : `R2 holds other bytes at ${key}`;
  } catch (e) {
    return `R2 unavailable at ${key}: ${e instanceof Error ? e.message : String(e)}`;
  }
}
