/**
 * Every SQL statement of the LogStreams object (docs/storage-schema.md "LogStreams"): one row per
 * stream with its configuration, its secrets, its cursor and its delivery state. The cursor is
 * the next seq to deliver; `pending_to` the end of the batch in flight: stored before the first
 * attempt, so that every retry (and a restarted object) resends exactly [cursor, pending_to)
 * with the same webhook-id / object key.
 */
import type { StreamConfig, StreamSecrets } from "./stream-config";

export interface StreamRow {
  id: string;
  config: StreamConfig;
  secrets: StreamSecrets;
  createdAt: number;
  cursor: number;
  pendingTo: number | null;
  failures: number;
  nextAt: number;
  pausedAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  delivered: number;
  deliveredAt: number | null;
}

interface Raw extends Record<string, SqlStorageValue> {
  id: string;
  config: string;
  secrets: string;
  created_at: number;
  cursor: number;
  pending_to: number | null;
  failures: number;
  next_at: number;
  paused_at: number | null;
  last_error: string | null;
  last_error_at: number | null;
  delivered: number;
  delivered_at: number | null;
}

const fromRaw = (r: Raw): StreamRow => ({
  id: r.id,
  config: JSON.parse(r.config) as StreamConfig,
  secrets: JSON.parse(r.secrets) as StreamSecrets,
  createdAt: r.created_at,
  cursor: r.cursor,
  pendingTo: r.pending_to,
  failures: r.failures,
  nextAt: r.next_at,
  pausedAt: r.paused_at,
  lastError: r.last_error,
  lastErrorAt: r.last_error_at,
  delivered: r.delivered,
  deliveredAt: r.delivered_at,
});

export class StreamStore {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    sql.exec(`CREATE TABLE IF NOT EXISTS streams (
      id TEXT PRIMARY KEY,
      config TEXT NOT NULL,
      secrets TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      cursor INTEGER NOT NULL,
      pending_to INTEGER,
      failures INTEGER NOT NULL DEFAULT 0,
      next_at INTEGER NOT NULL DEFAULT 0,
      paused_at INTEGER,
      last_error TEXT,
      last_error_at INTEGER,
      delivered INTEGER NOT NULL DEFAULT 0,
      delivered_at INTEGER
    )`);
  }

  all(): StreamRow[] {
    return this.#sql.exec<Raw>("SELECT * FROM streams ORDER BY created_at, id").toArray().map(fromRaw);
  }

  get(id: string): StreamRow | undefined {
    const rows = this.#sql.exec<Raw>("SELECT * FROM streams WHERE id = ?", id).toArray();
    return rows[0] ? fromRaw(rows[0]) : undefined;
  }

  count(): number {
    return this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM streams").one().n;
  }

  insert(id: string, config: StreamConfig, secrets: StreamSecrets, cursor: number, now: number): void {
    this.#sql.exec(
      "INSERT INTO streams (id, config, secrets, created_at, cursor) VALUES (?, ?, ?, ?, ?)",
      id,
      JSON.stringify(config),
      JSON.stringify(secrets),
      now,
      cursor,
    );
  }

  /** A new configuration (and secrets): the batch in flight is dropped (the next one is formed anew), failures reset. */
  reconfigure(id: string, config: StreamConfig, secrets: StreamSecrets): void {
    this.#sql.exec(
      "UPDATE streams SET config = ?, secrets = ?, pending_to = NULL, failures = 0, next_at = 0 WHERE id = ?",
      JSON.stringify(config),
      JSON.stringify(secrets),
      id,
    );
  }

  remove(id: string): void {
    this.#sql.exec("DELETE FROM streams WHERE id = ?", id);
  }

  /** The batch in flight: [cursor, to). */
  setPending(id: string, to: number): void {
    this.#sql.exec("UPDATE streams SET pending_to = ? WHERE id = ?", to, id);
  }

  /** The destination acknowledged [cursor, to) (`sent` entries of it passed the filter). */
  acknowledged(id: string, to: number, sent: number, now: number): void {
    this.#sql.exec(
      "UPDATE streams SET cursor = ?, pending_to = NULL, failures = 0, next_at = 0, delivered = delivered + ?, delivered_at = ? WHERE id = ?",
      to,
      sent,
      now,
      id,
    );
  }

  /** Entries nobody receives (filtered out, or below the retention floor): the cursor moves past them. */
  skipTo(id: string, to: number): void {
    this.#sql.exec("UPDATE streams SET cursor = ?, pending_to = NULL WHERE id = ? AND cursor < ?", to, id, to);
  }

  /** Records a failed attempt; the failures in a row now (0 if the stream was deleted meanwhile). */
  failed(id: string, error: string, nextAt: number, now: number): number {
    const rows = this.#sql
      .exec<{ failures: number }>(
        "UPDATE streams SET failures = failures + 1, last_error = ?, last_error_at = ?, next_at = ? WHERE id = ? RETURNING failures",
        error,
        now,
        nextAt,
        id,
      )
      .toArray();
    return rows[0]?.failures ?? 0;
  }

  pause(id: string, now: number): void {
    this.#sql.exec("UPDATE streams SET paused_at = ? WHERE id = ? AND paused_at IS NULL", now, id);
  }

  /** Resumes from the cursor: failures reset, the batch in flight kept (resent with the same id). */
  resume(id: string): void {
    this.#sql.exec("UPDATE streams SET paused_at = NULL, failures = 0, next_at = 0 WHERE id = ?", id);
  }
}
