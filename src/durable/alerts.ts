/**
 * The alert engine (issue #18.2; docs/design.md "Alerts"): the tenant's log watches the conditions
 * its AlertSources report (alert-types.ts; today's are wired in alert-sources.ts) and keeps one
 * incident per condition, from the check that first sees it until the check that finds it gone.
 *
 * - An incident is a row of `alert_incidents` in DO SQLite (kind, key, started_at, ended_at,
 *   detail). A condition that appears opens exactly one; while it holds, later checks change
 *   nothing; once it is gone for CLEAR_HOLD_MS (the hold-down) the incident ends, at the time it
 *   was first seen gone. A condition that comes back within the hold-down continues the same
 *   incident, so a flapping condition raises once, not once per flap.
 * - Each incident is written to the tenant's log: `sealtrail.alert.raised` {kind, key,
 *   started_at, detail} when it opens and `sealtrail.alert.cleared` {kind, key, started_at,
 *   ended_at} when it ends, each exactly once: the flags that say an entry was written change in
 *   the same transaction that appends it (GroupCommit `prepare`). The incident row is stored
 *   first, so an entry the log cannot take yet (it refuses writes: split view) is written when it
 *   can, raised before cleared.
 * - Delivery: alerts are entries, so they reach a tenant's alert destinations through streams
 *   filtered to `sealtrail.alert.` (streams are their own part; nothing here sends anything).
 *
 * When: each alarm of the tenant's object runs a check (tenant-log.ts), as do events that change
 * a condition (a verification report, a reconcile, a seal on demand). While an incident is open
 * or held down the engine arms the alarm again (RECHECK_MS, RECHECK_SLOW_MS for old incidents);
 * sources that know when they may change without any event say so (`nextCheckAt`).
 */
import type { JsonObject } from "../core/entry";
import type { Alarm } from "./alarm";
import { ALERT_CLEARED, ALERT_KINDS, ALERT_RAISED, type AlertCondition, type AlertKind, type AlertSource } from "./alert-types";
import type { AppendResult, IncidentView, LogError, OpenAlert } from "./log-types";

/** A condition gone for this long ends its incident; one back within it continues the incident (flapping). */
export const CLEAR_HOLD_MS = 60_000;
/** While an incident is open, or held down, the conditions are checked again this often… */
export const RECHECK_MS = 30_000;
/** …and this often once the incident is older than RECHECK_SLOW_AFTER_MS. */
export const RECHECK_SLOW_MS = 120_000;
export const RECHECK_SLOW_AFTER_MS = 600_000;
/** After the log refused an alert entry (it refuses writes), it is tried again this much later. */
export const LOG_RETRY_MS = 30_000;
/** Closed incidents kept in DO storage (their entries are in the log for good). */
export const KEEP_CLOSED = 200;
/** Incidents written per append (a longer backlog continues in the next). */
const LOG_BATCH = 50;
/** Strings in an alert's detail are clipped to this many characters. */
const DETAIL_TEXT_MAX = 512;

/** An AlertSource that can also say when its conditions may change with no event (a deadline). */
export interface TimedAlertSource extends AlertSource {
  nextCheckAt?(now: number): number | null;
}

/** The actor and provenance of every alert entry: the log itself. */
export const ALERT_ACTOR = { id: "alerts", type: "system" } as const;
export const ALERT_PROVENANCE: JsonObject = { principal_type: "system", principal_id: "alerts" };

const SCHEMA = `
CREATE TABLE IF NOT EXISTS alert_incidents (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  raised_at INTEGER NOT NULL,
  ended_at INTEGER,
  detail TEXT NOT NULL,
  absent_since INTEGER,
  raised_logged INTEGER NOT NULL DEFAULT 0,
  cleared_logged INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS alert_incidents_open ON alert_incidents (kind, key) WHERE ended_at IS NULL;
CREATE TABLE IF NOT EXISTS alert_facts (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
`;

export interface AlertEngineDeps {
  storage: DurableObjectStorage;
  alarm: Alarm;
  now: () => number;
  /**
   * Appends one request through the group commit whose items `prepare` sets inside the commit's
   * transaction (GroupCommit `Pending.prepare`).
   */
  append: (tenant: string, prepare: (items: { event: JsonObject }[]) => LogError | undefined) => Promise<AppendResult>;
  clearHoldMs?: number;
}

interface OpenRow {
  id: number;
  kind: string;
  key: string;
  startedAt: number;
  absentSince: number | null;
}

const iso = (ms: number) => new Date(ms).toISOString();
const identity = (kind: string, key: string) => `${kind}\u0000${key}`;

function cleanDetail(detail: AlertCondition["detail"]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(detail).slice(0, 16)) {
    if (typeof v === "string") out[k.slice(0, 64)] = v.length > DETAIL_TEXT_MAX ? `${v.slice(0, DETAIL_TEXT_MAX)}…` : v;
    else if (typeof v === "boolean" || Number.isFinite(v)) out[k.slice(0, 64)] = v;
  }
  return out;
}

export class AlertEngine {
  readonly #d: AlertEngineDeps;
  readonly #sql: SqlStorage;
  readonly #sources: TimedAlertSource[] = [];
  readonly #holdMs: number;
  /** The append of pending alert entries in flight (one at a time). */
  #logging: Promise<void> | undefined;
  /** When the log last refused an alert entry (the retry waits LOG_RETRY_MS). */
  #logRefusedAt: number | null = null;

  constructor(deps: AlertEngineDeps) {
    this.#d = deps;
    this.#sql = deps.storage.sql;
    this.#sql.exec(SCHEMA);
    this.#holdMs = deps.clearHoldMs ?? CLEAR_HOLD_MS;
  }

  /** Adds a source of conditions (openLog: one line per source). */
  register(source: TimedAlertSource): void {
    this.#sources.push(source);
  }

  /** A small named value next to the incidents (verification outcomes, the audit schedule: alert-sources.ts). */
  fact<T>(name: string): T | undefined {
    const row = this.#sql.exec("SELECT value FROM alert_facts WHERE name = ?", name).toArray()[0];
    return row ? (JSON.parse(String(row.value)) as T) : undefined;
  }

  setFact(name: string, value: unknown): void {
    this.#sql.exec(
      "INSERT INTO alert_facts (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
      name,
      JSON.stringify(value),
    );
  }

  /**
   * Checks every source now: opens incidents for new conditions, ends those gone past the
   * hold-down, starts writing what the log does not have yet, and arms the next check. Never
   * waits for the log (a stalled commit must not stall the alarm): `logged()` resolves when the
   * entries started here are written.
   */
  check(tenant: string | undefined): void {
    const now = this.#d.now();
    let complete = true;
    const seen = new Map<string, AlertCondition>();
    for (const source of this.#sources) {
      let conditions: AlertCondition[];
      try {
        conditions = source.conditions(now);
      } catch (e) {
        // A source that cannot answer says nothing about its conditions: none ends this round.
        console.error("alert source failed", e);
        complete = false;
        continue;
      }
      for (const c of conditions) {
        if (!ALERT_KINDS.includes(c.kind)) continue;
        const id = identity(c.kind, c.key);
        if (!seen.has(id)) seen.set(id, c);
      }
    }
    this.#d.storage.transactionSync(() => this.#apply(now, seen, complete));
    // Durable now: incidents opened and ended by this check, each with flags saying its entries
    // are not written yet. A crash from here on is recovered by the next check (the alarm armed
    // below, or `start`), which writes them.
    if (tenant !== undefined) this.#logPending(tenant, now);
    this.#arm(now);
  }

  /**
   * At the object's start: open incidents, or entries not yet written (a crash between a check
   * and its append, or before its alarm was armed), get a check soon.
   */
  start(): void {
    const row = this.#sql.exec("SELECT count(*) AS n FROM alert_incidents WHERE ended_at IS NULL OR cleared_logged = 0").toArray()[0];
    if (Number(row?.n ?? 0) > 0) this.#d.alarm.arm(this.#d.now() + 1_000);
  }

  /** Resolves once the append started by the last check (if any) has finished. */
  async logged(): Promise<void> {
    await this.#logging;
  }

  #apply(now: number, seen: Map<string, AlertCondition>, complete: boolean): void {
    const open = this.#open();
    const openIds = new Set(open.map((o) => identity(o.kind, o.key)));
    for (const o of open) {
      const present = seen.has(identity(o.kind, o.key));
      if (present && o.absentSince !== null) {
        // Back within the hold-down: the same incident goes on (flapping).
        this.#sql.exec("UPDATE alert_incidents SET absent_since = NULL WHERE id = ?", o.id);
      } else if (!present && complete) {
        const since = o.absentSince ?? now;
        if (o.absentSince === null && this.#holdMs > 0) {
          this.#sql.exec("UPDATE alert_incidents SET absent_since = ? WHERE id = ?", now, o.id);
        } else if (now - since >= this.#holdMs) {
          this.#sql.exec("UPDATE alert_incidents SET ended_at = ?, absent_since = NULL WHERE id = ?", Math.max(since, o.startedAt), o.id);
        }
      }
    }
    for (const [id, c] of seen) {
      if (openIds.has(id)) continue;
      const startedAt = c.since !== undefined && Number.isFinite(c.since) ? Math.min(c.since, now) : now;
      this.#sql.exec(
        "INSERT INTO alert_incidents (kind, key, started_at, raised_at, detail) VALUES (?, ?, ?, ?, ?)",
        c.kind,
        c.key,
        startedAt,
        now,
        JSON.stringify(cleanDetail(c.detail)),
      );
    }
    // History beyond KEEP_CLOSED closed and written incidents is in the log only.
    this.#sql.exec(
      `DELETE FROM alert_incidents WHERE ended_at IS NOT NULL AND cleared_logged = 1 AND id NOT IN
         (SELECT id FROM alert_incidents WHERE ended_at IS NOT NULL ORDER BY id DESC LIMIT ?)`,
      KEEP_CLOSED,
    );
  }

  #open(): OpenRow[] {
    return this.#sql
      .exec("SELECT id, kind, key, started_at, absent_since FROM alert_incidents WHERE ended_at IS NULL ORDER BY id")
      .toArray()
      .map((r) => ({
        id: Number(r.id),
        kind: String(r.kind),
        key: String(r.key),
        startedAt: Number(r.started_at),
        absentSince: r.absent_since === null ? null : Number(r.absent_since),
      }));
  }

  #pendingCount(): number {
    const row = this.#sql
      .exec("SELECT count(*) AS n FROM alert_incidents WHERE raised_logged = 0 OR (ended_at IS NOT NULL AND cleared_logged = 0)")
      .toArray()[0];
    return Number(row?.n ?? 0);
  }

  #logPending(tenant: string, now: number): void {
    if (this.#logging !== undefined) return;
    if (this.#logRefusedAt !== null && now - this.#logRefusedAt < LOG_RETRY_MS) return;
    if (this.#pendingCount() === 0) return;
    this.#logging = (async () => {
      const result = await this.#d.append(tenant, (items) => this.#takePending(items));
      if (result.ok) {
        this.#logRefusedAt = null;
        // A backlog longer than one append continues at once.
        if (this.#pendingCount() > 0) this.#d.alarm.arm(this.#d.now());
      } else {
        this.#logRefusedAt = this.#d.now();
        this.#d.alarm.arm(this.#logRefusedAt + LOG_RETRY_MS);
      }
    })()
      .catch((e: unknown) => {
        console.error("alert entries could not be appended", e);
        this.#logRefusedAt = this.#d.now();
        this.#d.alarm.arm(this.#logRefusedAt + LOG_RETRY_MS);
      })
      .finally(() => {
        this.#logging = undefined;
      });
  }

  /**
   * Inside the commit's transaction: the entries not written yet, in incident order (raised
   * before cleared), marked written in this same transaction: both commit, or neither.
   */
  #takePending(items: { event: JsonObject }[]): undefined {
    const rows = this.#sql
      .exec(
        `SELECT id, kind, key, started_at, ended_at, detail, raised_logged, cleared_logged FROM alert_incidents
         WHERE raised_logged = 0 OR (ended_at IS NOT NULL AND cleared_logged = 0) ORDER BY id LIMIT ?`,
        LOG_BATCH,
      )
      .toArray();
    for (const r of rows) {
      const kind = String(r.kind);
      const key = String(r.key);
      const target = { id: key === "" ? kind : `${kind}:${key}`.slice(0, 256), type: "alert" };
      const startedAt = iso(Number(r.started_at));
      if (Number(r.raised_logged) === 0) {
        const detail = JSON.parse(String(r.detail)) as JsonObject;
        items.push({
          event: {
            action: ALERT_RAISED,
            actor: { ...ALERT_ACTOR },
            targets: [target],
            outcome: "failure",
            metadata: { kind, key, started_at: startedAt, detail },
          },
        });
      }
      if (r.ended_at !== null && Number(r.cleared_logged) === 0) {
        const endedAt = iso(Number(r.ended_at));
        items.push({
          event: {
            action: ALERT_CLEARED,
            actor: { ...ALERT_ACTOR },
            targets: [target],
            outcome: "success",
            metadata: { kind, key, started_at: startedAt, ended_at: endedAt },
          },
        });
      }
      this.#sql.exec(
        "UPDATE alert_incidents SET raised_logged = 1, cleared_logged = CASE WHEN ended_at IS NULL THEN 0 ELSE 1 END WHERE id = ?",
        Number(r.id),
      );
    }
    return undefined;
  }

  /** Arms the alarm for the next check this engine or a source needs. */
  #arm(now: number): void {
    let next: number | null = null;
    const earliest = (t: number | null | undefined) => {
      if (t !== null && t !== undefined && Number.isFinite(t)) next = next === null ? t : Math.min(next, t);
    };
    for (const o of this.#open()) {
      earliest(now + (now - o.startedAt > RECHECK_SLOW_AFTER_MS ? RECHECK_SLOW_MS : RECHECK_MS));
      if (o.absentSince !== null) earliest(o.absentSince + this.#holdMs);
    }
    for (const s of this.#sources) {
      try {
        earliest(s.nextCheckAt?.(now));
      } catch {
        // Its conditions() failed too, and was logged.
      }
    }
    if (next !== null) this.#d.alarm.arm(Math.max(next, now + 1_000));
  }

  /** Open incidents (/stats `open_alerts`), oldest first. */
  openAlerts(): OpenAlert[] {
    return this.#open().map((o) => ({ kind: o.kind as AlertKind, key: o.key, since: iso(o.startedAt) }));
  }

  /** The newest incidents, open or ended (/stats `recent_incidents`). */
  recent(limit = 20): IncidentView[] {
    return this.#sql
      .exec("SELECT kind, key, started_at, raised_at, ended_at, detail FROM alert_incidents ORDER BY id DESC LIMIT ?", limit)
      .toArray()
      .map((r) => ({
        kind: String(r.kind) as AlertKind,
        key: String(r.key),
        started_at: iso(Number(r.started_at)),
        raised_at: iso(Number(r.raised_at)),
        ended_at: r.ended_at === null ? null : iso(Number(r.ended_at)),
        detail: JSON.parse(String(r.detail)) as Record<string, string | number | boolean>,
      }));
  }
}
