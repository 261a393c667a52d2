/**
 * Reconstruction of a tenant's D1 rows (after a bad restore or a dropped table) from the two
 * other stores: the sealed R2 bundles, then the entries DO storage still holds. Every entry is
 * checked before it is written: a bundle must hash to its seal's recorded SHA-256, and each
 * entry must hash to the leaf the log's own tree holds for its sequence number. Writes insert
 * only the rows D1 lacks (audit-events.ts), so rows that survived are left as they are (and checked
 * by the next verification), and a rebuild can be run again at any point.
 */
import { toBase64 } from "../core/bytes";
import { entryLeafHash } from "../core/entry";
import { bundleRows } from "../core/audit";
import { sha256Base64 } from "../core/manifest";
import { sealKeys, type SealRecord } from "../core/seal";
import { entryFactsOf } from "../core/holds";
import { heldBy, RETENTION_FLOOR, type HeldCheck } from "./retention";
import { writeToD1 } from "./audit-events";
import type { LogStore, StoredEntry } from "./log-store";
import { entryIdempotencyKey } from "./sequencer";

/** Rows written to D1 per batch while rebuilding. */
export const REBUILD_BATCH = 1_000;

export type RebuildError =
  | { reason: "bundle_missing"; key: string }
  | { reason: "bundle_mismatch"; key: string; expected: string; found: string }
  | { reason: "entry_mismatch"; seq: number; expected: string; found: string };

export interface RebuildProgress {
  /** The next seal to restore; past the last, the unsealed entries are restored. */
  nextSeal: number;
  restored: number;
  done: boolean;
}

export type RebuildResult = { ok: true; value: RebuildProgress } | { ok: false; error: RebuildError };

/** Checks rows against the log's tree and writes them to D1. */
async function restore(
  db: D1Database,
  store: LogStore,
  rows: { seq: number; entry: string; idempotencyKey: string | null }[],
): Promise<RebuildError | undefined> {
  if (rows.length === 0) return undefined;
  const leaves = store.leaves(rows[0]!.seq, rows.length);
  const checked: StoredEntry[] = [];
  for (const [i, r] of rows.entries()) {
    const leaf = entryLeafHash(r.entry);
    const expected = leaves[i];
    if (!expected || toBase64(expected) !== toBase64(leaf)) {
      return { reason: "entry_mismatch", seq: r.seq, expected: expected ? toBase64(expected) : "(none)", found: toBase64(leaf) };
    }
    checked.push({ seq: r.seq, entry: r.entry, leafHash: leaf, idempotencyKey: r.idempotencyKey });
  }
  for (let i = 0; i < checked.length; i += REBUILD_BATCH) await writeToD1(db, checked.slice(i, i + REBUILD_BATCH));
  return undefined;
}

/**
 * Restores the tenant's D1 rows, seal by seal from `nextSeal`, then the entries not sealed yet
 * (below `size`). Works for about `budgetMs`, then returns where it stopped; call again with
 * `progress.nextSeal` until `done`.
 */
export async function rebuildD1(
  src: {
    db: D1Database;
    bucket: R2Bucket;
    store: LogStore;
    now: () => number;
    /** The tenant's legal holds: entries they cover keep their rows below the retention floor. */
    holds?: Parameters<typeof heldBy>[0];
  },
  tenant: string,
  size: number,
  nextSeal: number,
  budgetMs: number,
): Promise<RebuildResult> {
  const { db, bucket, store, now } = src;
  const started = now();
  let restored = 0;
  let id = nextSeal;
  for (;;) {
    const seal = store.seals(id, 1)[0];
    if (!seal?.published) break;
    // Below the retention floor bodies were deleted on purpose (retention.ts): nothing to resurrect,
    // except the entries an active legal hold covers, whose rows and bundle the sweep kept.
    if (seal.to <= store.counter(RETENTION_FLOOR)) {
      const held = src.holds ? heldBy(src.holds)() : null;
      const failed = held ? await restoreHeld(db, bucket, store, tenant, seal, held) : undefined;
      if (failed) return { ok: false, error: failed };
      id += 1;
      continue;
    }
    const failed = await restoreSeal(db, bucket, store, tenant, seal);
    if (failed) return { ok: false, error: failed };
    restored += seal.to - seal.from;
    id += 1;
    if (now() - started > budgetMs) return { ok: true, value: { nextSeal: id, restored, done: false } };
  }
  // The rest is still in DO storage: it leaves only once sealed and in D1.
  const sealedTo = store.latestPublishedSeal()?.to ?? 0;
  const failed = await restoreUnsealed(db, store, sealedTo, size);
  if (failed) return { ok: false, error: failed };
  restored += size - sealedTo;
  return { ok: true, value: { nextSeal: id, restored, done: true } };
}

/**
 * Restores, from a seal below the retention floor whose bundle a legal hold kept, the entries an
 * active hold covers (an entry whose facts cannot be read is kept, as the sweep keeps it). A bundle
 * that is gone was pruned whole: nothing to restore.
 */
async function restoreHeld(
  db: D1Database,
  bucket: R2Bucket,
  store: LogStore,
  tenant: string,
  seal: SealRecord,
  held: NonNullable<HeldCheck>,
): Promise<RebuildError | undefined> {
  const key = sealKeys(tenant, seal.id).bundle;
  const bundle = await (await bucket.get(key))?.text();
  if (bundle === undefined) return undefined;
  const digest = sha256Base64(bundle);
  if (digest !== seal.bundleSha256) return { reason: "bundle_mismatch", key, expected: seal.bundleSha256, found: digest };
  for (const r of bundleRows(bundle, seal.from)) {
    const facts = entryFactsOf(r.entry);
    if (facts !== undefined && !held(facts)) continue;
    const failed = await restore(db, store, [{ ...r, idempotencyKey: null }]);
    if (failed) return failed;
  }
  return undefined;
}

/** Restores one seal's entries from its R2 bundle. */
async function restoreSeal(
  db: D1Database,
  bucket: R2Bucket,
  store: LogStore,
  tenant: string,
  seal: SealRecord,
): Promise<RebuildError | undefined> {
  const key = sealKeys(tenant, seal.id).bundle;
  const bundle = await (await bucket.get(key))?.text();
  if (bundle === undefined) return { reason: "bundle_missing", key };
  const digest = sha256Base64(bundle);
  if (digest !== seal.bundleSha256) return { reason: "bundle_mismatch", key, expected: seal.bundleSha256, found: digest };
  // Idempotency keys are not in the entry bytes; the log kept them beside each key's receipt,
  // for the idempotency window (invariant 7): a row restored after its key expired has none.
  const keys = store.idempotencyKeysIn(seal.from, seal.to);
  return restore(
    db,
    store,
    bundleRows(bundle, seal.from).map((r) => {
      const key = keys.get(r.seq);
      return { ...r, idempotencyKey: key === undefined ? null : entryIdempotencyKey(key, r.seq) };
    }),
  );
}

/** Restores the entries not sealed yet, from DO storage. */
async function restoreUnsealed(db: D1Database, store: LogStore, from: number, to: number): Promise<RebuildError | undefined> {
  const entries = store.entries(from, to - from);
  return restore(
    db,
    store,
    entries.map((e) => ({ seq: e.seq, entry: e.entry, idempotencyKey: e.idempotencyKey })),
  );
}
