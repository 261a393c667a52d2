/**
 * The TenantLog's SQLite storage: every statement the Durable Object runs lives here.
 * Layout and byte costs are documented in docs/storage-schema.md.
 *
 * All methods are synchronous so callers can compose them inside one transactionSync.
 */
import { GENESIS_PREV } from "../core/entry";
import type { Hash } from "../core/hash";
import type { StoredNode } from "../core/merkle";
import type { SealRecord } from "../core/seal";
import { insertChunks, multiRowInsert } from "./sql";
import type { WitnessConfig } from "./witness-config";

export type { SealRecord };

export interface Head {
  /** Entries in the log; the next entry gets seq = size. */
  size: number;
  /** Leaf hash of entry size-1 (GENESIS_PREV when empty): the next entry's `prev`. */
  lastLeaf: Hash;
  /** received_at of the last entry, so server time never decreases (invariant 6). */
  lastReceivedAtMs: number;
}

export interface StoredReceipt {
  seq: number;
  leafHash: Hash;
  receivedAtMs: number;
  treeSize: number;
}

export interface TenantSettings {
  sealIntervalMs: number;
  /** Entries older than this many days are pruned by the retention sweep (retention.ts). */
  retentionDays: number;
  /**
   * The former `legal_hold` setting: no longer set by anything. A true one is converted once into
   * a whole-tenant hold when the object starts (hold-changes.ts `convertLegalHoldSetting`).
   */
  legalHold: boolean;
  /** An event whose occurred_at differs from received_at by more than this is flagged. */
  maxClockSkewMs: number;
  /** The tenant's witnesses (witness-config.ts); null: the deployment's SEALTRAIL_WITNESSES. */
  witnesses: WitnessConfig[] | null;
  /** Cosignatures verification requires; null: 1 when there is a witness, else 0. */
  witnessQuorum: number | null;
  /** The checkpoint and hash tiles under /logs/<tenant>/ are readable by anyone (docs/design.md "Tiles"). */
  publicLog: boolean;
  /** Scheduled audits (audit-schedule.ts): incremental and full verification intervals. */
  auditIntervalMs: number;
  fullAuditIntervalMs: number;
  /** Declared personal fields (src/core/personal-fields.ts): encrypted per subject in the commit (personal-fields.ts). */
  personalFields: string[];
  /** The longest just-in-time elevation a member may ask for (issue #19.2; src/worker/routes/grants.ts). */
  maxElevationSeconds: number;
}

export const DEFAULT_SETTINGS: TenantSettings = {
  sealIntervalMs: 60_000,
  retentionDays: 7 * 365,
  legalHold: false,
  maxClockSkewMs: 300_000,
  witnesses: null,
  witnessQuorum: null,
  publicLog: false,
  auditIntervalMs: 86_400_000,
  fullAuditIntervalMs: 7 * 86_400_000,
  personalFields: [],
  maxElevationSeconds: 4 * 3600,
};

export interface StoredEntry {
  seq: number;
  entry: string;
  leafHash: Hash;
  idempotencyKey: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS log_head (
  id INTEGER PRIMARY KEY CHECK (id = 0),
  tenant TEXT NOT NULL,
  size INTEGER NOT NULL,
  last_leaf BLOB NOT NULL,
  last_received_at INTEGER NOT NULL,
  mirrored_to INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
  seq INTEGER PRIMARY KEY,
  entry TEXT NOT NULL,
  leaf_hash BLOB NOT NULL,
  idempotency_key TEXT
);
CREATE TABLE IF NOT EXISTS tree_nodes (
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash BLOB NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seals (
  id INTEGER PRIMARY KEY,
  from_seq INTEGER NOT NULL,
  to_seq INTEGER NOT NULL,
  root BLOB NOT NULL,
  checkpoint TEXT NOT NULL,
  manifest TEXT NOT NULL,
  bundle_sha256 TEXT NOT NULL,
  sealed_at INTEGER NOT NULL,
  published INTEGER NOT NULL DEFAULT 0,
  indexed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS settings (
  id INTEGER PRIMARY KEY CHECK (id = 0),
  seal_interval_ms INTEGER NOT NULL,
  retention_years INTEGER NOT NULL,
  legal_hold INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conditions (
  at INTEGER NOT NULL,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
  key TEXT PRIMARY KEY,
  digest TEXT NOT NULL,
  seq INTEGER NOT NULL,
  leaf_hash BLOB NOT NULL,
  received_at INTEGER NOT NULL,
  tree_size INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_received_at ON idempotency (received_at);
`;

const bytes = (v: SqlStorageValue | undefined): Uint8Array => new Uint8Array(v as ArrayBuffer);

const ENTRY_COLUMNS = ["seq", "entry", "leaf_hash", "idempotency_key"] as const;
const NODE_COLUMNS = ["level", "idx", "hash"] as const;

export class LogStore {
  readonly #sql: SqlStorage;
  /**
   * Rows read on every commit (issue #8: a dozen small SELECTs per group cost ~15% of a
   * small group's CPU), remembered until this store writes them. A write only forgets the
   * value, so a rolled-back transaction can never leave a wrong one behind, as long as callers
   * call forgetCached() when a transaction fails (group-commit.ts does).
   */
  #settings: TenantSettings | undefined;
  #latestSeal: SealRecord | null | undefined;
  #latestPublishedSeal: SealRecord | null | undefined;
  readonly #counters = new Map<string, number>();
  /** Entries below this were evicted by this store (nothing is ever stored below it again). */
  #evictedBelow = 0;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    this.#sql.exec(SCHEMA);
    // Columns added after the first release: existing objects gain them here.
    const columns = new Set(
      this.#sql
        .exec("PRAGMA table_info(settings)")
        .toArray()
        .map((c) => String(c.name)),
    );
    if (!columns.has("max_clock_skew_ms")) {
      this.#sql.exec(`ALTER TABLE settings ADD COLUMN max_clock_skew_ms INTEGER NOT NULL DEFAULT ${DEFAULT_SETTINGS.maxClockSkewMs}`);
    }
    // Witnessing (issue #16): NULL means the deployment's default.
    if (!columns.has("witnesses")) this.#sql.exec("ALTER TABLE settings ADD COLUMN witnesses TEXT");
    if (!columns.has("witness_quorum")) this.#sql.exec("ALTER TABLE settings ADD COLUMN witness_quorum INTEGER");
    if (!columns.has("public_log")) this.#sql.exec("ALTER TABLE settings ADD COLUMN public_log INTEGER NOT NULL DEFAULT 0");
    // Scheduled audits (issue #18.3).
    if (!columns.has("audit_interval_ms")) {
      this.#sql.exec(`ALTER TABLE settings ADD COLUMN audit_interval_ms INTEGER NOT NULL DEFAULT ${DEFAULT_SETTINGS.auditIntervalMs}`);
    }
    if (!columns.has("full_audit_interval_ms")) {
      this.#sql.exec(
        `ALTER TABLE settings ADD COLUMN full_audit_interval_ms INTEGER NOT NULL DEFAULT ${DEFAULT_SETTINGS.fullAuditIntervalMs}`,
      );
    }
    // Erasure (issue #17.3): a JSON array of declared paths; NULL means none.
    if (!columns.has("personal_fields")) this.#sql.exec("ALTER TABLE settings ADD COLUMN personal_fields TEXT");
    // Retention in days (issue #17) replaces retention_years: a stored period in years becomes 365 days a year.
    if (!columns.has("retention_days")) {
      this.#sql.exec("ALTER TABLE settings ADD COLUMN retention_days INTEGER");
      this.#sql.exec("UPDATE settings SET retention_days = retention_years * 365 WHERE retention_days IS NULL");
    }
    if (!columns.has("max_elevation_s")) {
      this.#sql.exec(`ALTER TABLE settings ADD COLUMN max_elevation_s INTEGER NOT NULL DEFAULT ${DEFAULT_SETTINGS.maxElevationSeconds}`);
    }
  }

  /** Forgets every remembered row (after a failed transaction, or a change made behind our back). */
  forgetCached(): void {
    this.#settings = undefined;
    this.#latestSeal = undefined;
    this.#latestPublishedSeal = undefined;
    this.#counters.clear();
  }

  counter(name: string): number {
    const known = this.#counters.get(name);
    if (known !== undefined) return known;
    const row = this.#sql.exec("SELECT value FROM counters WHERE name = ?", name).toArray()[0];
    const value = row ? Number(row.value) : 0;
    this.#counters.set(name, value);
    return value;
  }

  setCounter(name: string, value: number): void {
    this.#counters.delete(name);
    this.#sql.exec("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", name, value);
  }

  /** The tenant this object serves, fixed by its first append; undefined before that. */
  tenant(): string | undefined {
    const row = this.#sql.exec("SELECT tenant FROM log_head WHERE id = 0").toArray()[0];
    return row ? String(row.tenant) : undefined;
  }

  head(): Head {
    const row = this.#sql.exec("SELECT size, last_leaf, last_received_at FROM log_head WHERE id = 0").toArray()[0];
    if (!row) return { size: 0, lastLeaf: GENESIS_PREV, lastReceivedAtMs: 0 };
    return { size: Number(row.size), lastLeaf: bytes(row.last_leaf), lastReceivedAtMs: Number(row.last_received_at) };
  }

  /** Every entry with seq < mirroredTo() is in D1 (the outbox is [mirroredTo, size)). */
  mirroredTo(): number {
    const row = this.#sql.exec("SELECT mirrored_to FROM log_head WHERE id = 0").toArray()[0];
    return row ? Number(row.mirrored_to) : 0;
  }

  writeHead(tenant: string, head: Head): void {
    this.#sql.exec(
      `INSERT INTO log_head (id, tenant, size, last_leaf, last_received_at, mirrored_to)
       VALUES (0, ?, ?, ?, ?, 0)
       ON CONFLICT (id) DO UPDATE SET size = excluded.size, last_leaf = excluded.last_leaf,
         last_received_at = excluded.last_received_at`,
      tenant,
      head.size,
      head.lastLeaf,
      head.lastReceivedAtMs,
    );
  }

  setMirroredTo(mirroredTo: number): void {
    // Monotonic: a slow mirror pass never moves the watermark back.
    this.#sql.exec("UPDATE log_head SET mirrored_to = max(mirrored_to, ?) WHERE id = 0", mirroredTo);
  }

  insertEntry(e: StoredEntry): void {
    this.insertEntries([e]);
  }

  /** Entries in multi-row INSERTs (issue #8: one statement per 25 entries, not one each). */
  insertEntries(entries: readonly StoredEntry[]): void {
    for (const chunk of insertChunks(entries, ENTRY_COLUMNS.length)) {
      this.#sql.exec(
        multiRowInsert("entries", ENTRY_COLUMNS, chunk.length),
        ...chunk.flatMap((e) => [e.seq, e.entry, e.leafHash, e.idempotencyKey]),
      );
    }
  }

  /** Complete subtrees of the RFC 6962 tree, as CompactRange.append returns them (multi-row INSERTs). */
  insertNodes(nodes: readonly StoredNode[]): void {
    for (const chunk of insertChunks(nodes, NODE_COLUMNS.length)) {
      this.#sql.exec(multiRowInsert("tree_nodes", NODE_COLUMNS, chunk.length), ...chunk.flatMap((n) => [n.level, n.index, n.hash]));
    }
  }

  /** The stored complete subtree (level, index); throws if it was never stored. */
  node(level: number, index: number): Hash {
    const row = this.#sql.exec("SELECT hash FROM tree_nodes WHERE level = ? AND idx = ?", level, index).toArray()[0];
    if (!row) throw new Error(`tree node ${level}/${index} is missing`);
    return bytes(row.hash);
  }

  /** Leaf hashes (level-0 tree nodes) of [from, from + count), in order. */
  leaves(from: number, count: number): Hash[] {
    return this.#sql
      .exec("SELECT hash FROM tree_nodes WHERE level = 0 AND idx >= ? AND idx < ? ORDER BY idx", from, from + count)
      .toArray()
      .map((r) => bytes(r.hash));
  }

  /**
   * Complete subtrees (level, index) for index in [from, from + count), in order: a tile's hashes
   * (c2sp.org/tlog-tiles; durable/tiles.ts). Tree nodes are never evicted.
   */
  nodesAt(level: number, from: number, count: number): Hash[] {
    return this.#sql
      .exec("SELECT hash FROM tree_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx", level, from, from + count)
      .toArray()
      .map((r) => bytes(r.hash));
  }

  /** The idempotency keys of entries in [from, to), by seq. */
  idempotencyKeysIn(from: number, to: number): Map<number, string> {
    const rows = this.#sql.exec("SELECT key, seq FROM idempotency WHERE seq >= ? AND seq < ?", from, to).toArray();
    return new Map(rows.map((r) => [Number(r.seq), String(r.key)]));
  }

  /**
   * Stores a key's receipt. A row for the same key can only be there if it has expired and not
   * been swept yet (`findIdempotency` ignores it): the key is a new request, and the row is replaced.
   */
  insertIdempotency(key: string, digest: string, r: StoredReceipt): void {
    this.#sql.exec(
      `INSERT INTO idempotency (key, digest, seq, leaf_hash, received_at, tree_size) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET digest = excluded.digest, seq = excluded.seq, leaf_hash = excluded.leaf_hash,
         received_at = excluded.received_at, tree_size = excluded.tree_size`,
      key,
      digest,
      r.seq,
      r.leafHash,
      r.receivedAtMs,
      r.treeSize,
    );
  }

  /** A key's receipt, if it was first used at or after `notBeforeMs` (older keys have expired). */
  findIdempotency(key: string, notBeforeMs = -Infinity): { digest: string; receipt: StoredReceipt } | undefined {
    const row = this.#sql.exec("SELECT digest, seq, leaf_hash, received_at, tree_size FROM idempotency WHERE key = ?", key).toArray()[0];
    if (!row || Number(row.received_at) < notBeforeMs) return undefined;
    return {
      digest: String(row.digest),
      receipt: {
        seq: Number(row.seq),
        leafHash: bytes(row.leaf_hash),
        receivedAtMs: Number(row.received_at),
        treeSize: Number(row.tree_size),
      },
    };
  }

  /** Deletes at most `limit` keys first used before `beforeMs` (expired); returns how many. */
  deleteExpiredIdempotency(beforeMs: number, limit: number): number {
    return this.#sql.exec(
      "DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency WHERE received_at < ? ORDER BY received_at LIMIT ?)",
      beforeMs,
      limit,
    ).rowsWritten;
  }

  /** When the oldest stored key was first used (undefined: none stored). */
  oldestIdempotency(): number | undefined {
    const row = this.#sql.exec("SELECT min(received_at) AS at FROM idempotency").toArray()[0];
    return row?.at === null || row?.at === undefined ? undefined : Number(row.at);
  }

  /**
   * Invariant 3: entries leave DO storage only once they are both in D1 (below `mirroredTo`, the
   * mirror's watermark) and sealed in R2 (below the latest published seal). Called by the mirror
   * after a pass and by the sealer after a publish; each knows only its own half.
   */
  evictSettled(mirroredTo: number): void {
    const below = Math.min(mirroredTo, this.latestPublishedSeal()?.to ?? 0);
    if (below <= this.#evictedBelow) return;
    this.#sql.exec("DELETE FROM entries WHERE seq < ?", below);
    this.#evictedBelow = below;
  }

  /** Retention (retention.ts): entries [from, to), all below the retention floor, leave DO storage. Tree nodes stay. */
  pruneEntries(from: number, to: number): void {
    this.#sql.exec("DELETE FROM entries WHERE seq >= ? AND seq < ?", from, to);
  }

  insertSeal(s: SealRecord): void {
    this.#latestSeal = undefined;
    this.#latestPublishedSeal = undefined;
    this.#sql.exec(
      `INSERT INTO seals (id, from_seq, to_seq, root, checkpoint, manifest, bundle_sha256, sealed_at, published, indexed)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      s.id,
      s.from,
      s.to,
      s.root,
      s.checkpoint,
      s.manifest,
      s.bundleSha256,
      s.sealedAtMs,
      s.published ? 1 : 0,
      s.indexed ? 1 : 0,
    );
  }

  markSealPublished(id: number): void {
    this.#latestSeal = undefined;
    this.#latestPublishedSeal = undefined;
    this.#sql.exec("UPDATE seals SET published = 1 WHERE id = ?", id);
  }

  markSealIndexed(id: number): void {
    this.#latestSeal = undefined;
    this.#latestPublishedSeal = undefined;
    this.#sql.exec("UPDATE seals SET indexed = 1 WHERE id = ?", id);
  }

  /** The seal with the highest id (published or not). */
  latestSeal(): SealRecord | undefined {
    if (this.#latestSeal === undefined) this.#latestSeal = this.#seals("ORDER BY id DESC LIMIT 1")[0] ?? null;
    return this.#latestSeal ?? undefined;
  }

  latestPublishedSeal(): SealRecord | undefined {
    if (this.#latestPublishedSeal === undefined)
      this.#latestPublishedSeal = this.#seals("WHERE published = 1 ORDER BY id DESC LIMIT 1")[0] ?? null;
    return this.#latestPublishedSeal ?? undefined;
  }

  /** Seals with id >= from, in order, at most `limit`. */
  seals(from: number, limit: number): SealRecord[] {
    return this.#seals(`WHERE id >= ${Math.floor(from)} ORDER BY id LIMIT ${Math.floor(limit)}`);
  }

  /** Seals holding any entry of [from, to), in order (durable/tiles.ts reads evicted entries from their bundles). */
  sealsCovering(from: number, to: number): SealRecord[] {
    return this.#seals(`WHERE to_seq > ${Math.floor(from)} AND from_seq < ${Math.floor(to)} ORDER BY id`);
  }

  unindexedSeals(): SealRecord[] {
    return this.#seals("WHERE published = 1 AND indexed = 0 ORDER BY id");
  }

  #seals(clause: string): SealRecord[] {
    return this.#sql
      .exec(`SELECT id, from_seq, to_seq, root, checkpoint, manifest, bundle_sha256, sealed_at, published, indexed FROM seals ${clause}`)
      .toArray()
      .map((r) => ({
        id: Number(r.id),
        from: Number(r.from_seq),
        to: Number(r.to_seq),
        root: bytes(r.root),
        checkpoint: String(r.checkpoint),
        manifest: String(r.manifest),
        bundleSha256: String(r.bundle_sha256),
        sealedAtMs: Number(r.sealed_at),
        published: Number(r.published) === 1,
        indexed: Number(r.indexed) === 1,
      }));
  }

  settings(): TenantSettings {
    this.#settings ??= this.#readSettings();
    return this.#settings;
  }

  #readSettings(): TenantSettings {
    const row = this.#sql
      .exec(
        `SELECT seal_interval_ms, retention_days, legal_hold, max_clock_skew_ms, witnesses, witness_quorum, public_log,
         audit_interval_ms, full_audit_interval_ms, personal_fields, max_elevation_s FROM settings WHERE id = 0`,
      )
      .toArray()[0];
    if (!row) return DEFAULT_SETTINGS;
    return {
      sealIntervalMs: Number(row.seal_interval_ms),
      retentionDays: Number(row.retention_days),
      legalHold: Number(row.legal_hold) === 1,
      maxClockSkewMs: Number(row.max_clock_skew_ms),
      witnesses: row.witnesses === null ? null : (JSON.parse(String(row.witnesses)) as WitnessConfig[]),
      witnessQuorum: row.witness_quorum === null ? null : Number(row.witness_quorum),
      publicLog: Number(row.public_log) === 1,
      auditIntervalMs: Number(row.audit_interval_ms),
      fullAuditIntervalMs: Number(row.full_audit_interval_ms),
      personalFields: row.personal_fields === null ? [] : (JSON.parse(String(row.personal_fields)) as string[]),
      maxElevationSeconds: Number(row.max_elevation_s),
    };
  }

  writeSettings(s: TenantSettings): void {
    this.#settings = undefined;
    this.#sql.exec(
      `INSERT INTO settings (id, seal_interval_ms, retention_years, retention_days, legal_hold, max_clock_skew_ms, witnesses,
         witness_quorum, public_log, audit_interval_ms, full_audit_interval_ms, personal_fields, max_elevation_s)
       VALUES (0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET seal_interval_ms = excluded.seal_interval_ms,
         retention_years = excluded.retention_years, retention_days = excluded.retention_days, legal_hold = excluded.legal_hold,
         max_clock_skew_ms = excluded.max_clock_skew_ms, witnesses = excluded.witnesses,
         witness_quorum = excluded.witness_quorum, public_log = excluded.public_log,
         audit_interval_ms = excluded.audit_interval_ms, full_audit_interval_ms = excluded.full_audit_interval_ms,
         personal_fields = excluded.personal_fields, max_elevation_s = excluded.max_elevation_s`,
      s.sealIntervalMs,
      // The old column stays filled (NOT NULL) for an older version reading it: whole years, rounded up.
      Math.ceil(s.retentionDays / 365),
      s.retentionDays,
      s.legalHold ? 1 : 0,
      s.maxClockSkewMs,
      s.witnesses === null ? null : JSON.stringify(s.witnesses),
      s.witnessQuorum,
      s.publicLog ? 1 : 0,
      s.auditIntervalMs,
      s.fullAuditIntervalMs,
      s.personalFields.length === 0 ? null : JSON.stringify(s.personalFields),
      s.maxElevationSeconds,
    );
  }

  /** Records a condition (a refusal, a failed reconcile) in the object's own history. */
  recordCondition(atMs: number, reason: string, detail: string): void {
    this.#sql.exec("INSERT INTO conditions (at, reason, detail) VALUES (?, ?, ?)", atMs, reason, detail);
  }

  entry(seq: number): StoredEntry | undefined {
    const e = this.entries(seq, 1)[0];
    return e?.seq === seq ? e : undefined;
  }

  /** Entries with seq >= from, in order, at most `limit` of them. */
  entries(from: number, limit: number): StoredEntry[] {
    return this.#sql
      .exec("SELECT seq, entry, leaf_hash, idempotency_key FROM entries WHERE seq >= ? ORDER BY seq LIMIT ?", from, limit)
      .toArray()
      .map((row) => ({
        seq: Number(row.seq),
        entry: String(row.entry),
        leafHash: bytes(row.leaf_hash),
        idempotencyKey: row.idempotency_key === null ? null : String(row.idempotency_key),
      }));
  }
}
