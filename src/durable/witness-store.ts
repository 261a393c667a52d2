/**
 * The TenantLog's witnessing tables (docs/storage-schema.md "Witnessing"): what each witness
 * last cosigned, the checkpoints submitted and their cosignatures, and split-view alerts.
 * Synchronous, like log-store.ts; only witnessing.ts writes here. Nothing here is an audit
 * table: old checkpoints no seal needs are pruned.
 */
import type { WitnessAlert } from "./log-types";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS witness_state (
  key TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  cosigned_size INTEGER NOT NULL,
  failures INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  last_success_at INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS witnessed_checkpoints (
  size INTEGER PRIMARY KEY,
  note TEXT NOT NULL,
  submitted_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cosignatures (
  size INTEGER NOT NULL,
  key TEXT NOT NULL,
  line TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  PRIMARY KEY (size, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS witness_alerts (
  at INTEGER NOT NULL,
  key TEXT NOT NULL,
  url TEXT NOT NULL,
  reason TEXT NOT NULL,
  size INTEGER NOT NULL,
  detail TEXT NOT NULL
);
`;

/** Submitted checkpoints kept besides those of seals (the newest ones). */
export const KEEP_WITNESSED = 16;
/** Alerts listed in /stats (newest first). */
export const ALERTS_SHOWN = 10;

export interface WitnessState {
  key: string;
  url: string;
  cosignedSize: number;
  failures: number;
  lastError: string | null;
  lastSuccessAtMs: number | null;
}

export class WitnessStore {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    this.#sql.exec(SCHEMA);
  }

  state(key: string): WitnessState | undefined {
    const r = this.#sql.exec("SELECT * FROM witness_state WHERE key = ?", key).toArray()[0];
    if (!r) return undefined;
    return {
      key: String(r.key),
      url: String(r.url),
      cosignedSize: Number(r.cosigned_size),
      failures: Number(r.failures),
      lastError: r.last_error === null ? null : String(r.last_error),
      lastSuccessAtMs: r.last_success_at === null ? null : Number(r.last_success_at),
    };
  }

  /** Records what the witness said it last cosigned (a 200, or a 409's size). */
  setCosignedSize(key: string, url: string, size: number): void {
    this.#sql.exec(
      `INSERT INTO witness_state (key, url, cosigned_size) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET url = excluded.url, cosigned_size = excluded.cosigned_size`,
      key,
      url,
      size,
    );
  }

  succeeded(key: string, url: string, atMs: number): void {
    this.#sql.exec(
      `INSERT INTO witness_state (key, url, cosigned_size, failures, last_error, last_success_at) VALUES (?, ?, 0, 0, NULL, ?)
       ON CONFLICT (key) DO UPDATE SET url = excluded.url, failures = 0, last_error = NULL, last_success_at = excluded.last_success_at`,
      key,
      url,
      atMs,
    );
  }

  failed(key: string, url: string, error: string): number {
    this.#sql.exec(
      `INSERT INTO witness_state (key, url, cosigned_size, failures, last_error) VALUES (?, ?, 0, 1, ?)
       ON CONFLICT (key) DO UPDATE SET url = excluded.url, failures = failures + 1, last_error = excluded.last_error`,
      key,
      url,
      error,
    );
    return this.state(key)!.failures;
  }

  /** The log's checkpoint as submitted at `size` (the same body whichever key signed it). */
  recordSubmitted(size: number, note: string, atMs: number): void {
    this.#sql.exec(
      "INSERT INTO witnessed_checkpoints (size, note, submitted_at) VALUES (?, ?, ?) ON CONFLICT (size) DO NOTHING",
      size,
      note,
      atMs,
    );
  }

  addCosignature(size: number, key: string, line: string, timestamp: number): void {
    this.#sql.exec(
      `INSERT INTO cosignatures (size, key, line, timestamp) VALUES (?, ?, ?, ?)
       ON CONFLICT (size, key) DO UPDATE SET line = excluded.line, timestamp = excluded.timestamp`,
      size,
      key,
      line,
      timestamp,
    );
  }

  /** The cosignature lines stored for `size` by the given keys, each ending in "\n". */
  cosignatureLines(size: number, keys: readonly string[]): string {
    if (keys.length === 0) return "";
    const rows = this.#sql
      .exec(`SELECT key, line FROM cosignatures WHERE size = ? ORDER BY key`, size)
      .toArray()
      .filter((r) => keys.includes(String(r.key)));
    return rows.map((r) => `${String(r.line)}\n`).join("");
  }

  hasCosignature(size: number, key: string): boolean {
    return this.#sql.exec("SELECT 1 FROM cosignatures WHERE size = ? AND key = ?", size, key).toArray().length > 0;
  }

  /** The newest submitted checkpoint (size and note), if any. */
  newestSubmitted(): { size: number; note: string } | undefined {
    const r = this.#sql.exec("SELECT size, note FROM witnessed_checkpoints ORDER BY size DESC LIMIT 1").toArray()[0];
    return r ? { size: Number(r.size), note: String(r.note) } : undefined;
  }

  /** Submitted checkpoints above `above`, newest first, with how many of `keys` cosigned each. */
  submittedAbove(above: number, keys: readonly string[]): { size: number; note: string; cosigned: number }[] {
    return this.#sql
      .exec("SELECT size, note FROM witnessed_checkpoints WHERE size > ? ORDER BY size DESC LIMIT ?", above, KEEP_WITNESSED)
      .toArray()
      .map((r) => {
        const size = Number(r.size);
        const cosigned = this.#sql
          .exec("SELECT key FROM cosignatures WHERE size = ?", size)
          .toArray()
          .filter((c) => keys.includes(String(c.key))).length;
        return { size, note: String(r.note), cosigned };
      });
  }

  /** Keeps the newest KEEP_WITNESSED submitted checkpoints and those of seals. */
  prune(): void {
    const cut = this.#sql
      .exec("SELECT size FROM witnessed_checkpoints ORDER BY size DESC LIMIT 1 OFFSET ?", KEEP_WITNESSED - 1)
      .toArray()[0];
    if (!cut) return;
    const below = Number(cut.size);
    const keep = "(SELECT to_seq FROM seals)";
    this.#sql.exec(`DELETE FROM witnessed_checkpoints WHERE size < ? AND size NOT IN ${keep}`, below);
    this.#sql.exec(`DELETE FROM cosignatures WHERE size < ? AND size NOT IN ${keep}`, below);
  }

  /** Records an alert once per witness, reason and size. */
  alert(atMs: number, key: string, url: string, reason: WitnessAlert["reason"], size: number, detail: string): void {
    const known = this.#sql.exec("SELECT 1 FROM witness_alerts WHERE key = ? AND reason = ? AND size = ?", key, reason, size).toArray();
    if (known.length > 0) return;
    this.#sql.exec(
      "INSERT INTO witness_alerts (at, key, url, reason, size, detail) VALUES (?, ?, ?, ?, ?, ?)",
      atMs,
      key,
      url,
      reason,
      size,
      detail,
    );
  }

  /**
   * Witnesses whose newest alert came after their last accepted cosignature (or that never gave
   * one): they disagree now. A witness that cosigns our checkpoint again agrees again, and its
   * `witness_disagrees` alert clears (alert-sources.ts); the alert rows stay as history.
   */
  disagreeing(): WitnessAlert[] {
    return this.#sql
      .exec(
        `SELECT a.at, a.key, a.url, a.reason, a.size, a.detail FROM witness_alerts a
         LEFT JOIN witness_state s ON s.key = a.key
         WHERE a.rowid = (SELECT max(rowid) FROM witness_alerts b WHERE b.key = a.key)
           AND (s.last_success_at IS NULL OR a.at >= s.last_success_at)
         ORDER BY a.rowid`,
      )
      .toArray()
      .map((r) => ({
        at: new Date(Number(r.at)).toISOString(),
        witness: String(r.url),
        key: String(r.key),
        reason: String(r.reason) as WitnessAlert["reason"],
        size: Number(r.size),
        detail: String(r.detail),
      }));
  }

  alerts(): { count: number; recent: WitnessAlert[] } {
    const count = Number(this.#sql.exec("SELECT count(*) AS n FROM witness_alerts").toArray()[0]!.n);
    const recent = this.#sql
      .exec("SELECT at, key, url, reason, size, detail FROM witness_alerts ORDER BY rowid DESC LIMIT ?", ALERTS_SHOWN)
      .toArray()
      .map((r) => ({
        at: new Date(Number(r.at)).toISOString(),
        witness: String(r.url),
        key: String(r.key),
        reason: String(r.reason) as WitnessAlert["reason"],
        size: Number(r.size),
        detail: String(r.detail),
      }));
    return { count, recent };
  }
}
