/**
 * Scheduled audits (issue #18.3; docs/design.md "Scheduled audits"): every tenant's log is
 * verified incrementally at its interval (setting `audit_interval_hours`, default daily) and in
 * full at a longer one (`full_audit_interval_days`, default weekly), by its LogAudit object's
 * ordinary verification jobs, so each result lands in the verification history (D1
 * `verification_reports`, a `sealtrail.log.verified` entry).
 *
 * Spread: a tenant's runs fall at its slot, `slotOffset(tenant, interval)`: a hash of the tenant
 * id within the interval, rounded to the minute. Ten thousand tenants with daily runs start
 * about seven a minute, never all at once.
 *
 * Who starts a run: the LogAudit object's own alarm, armed for the next slot (`AuditSchedule`),
 * re-armed after every run. It is armed by the tenant's TenantLog (its alarm tells LogAudit the
 * intervals once, and again when they change: `tenant-log.ts`), so scheduled runs happen in
 * `npm run dev` too, where crons never fire. The Worker's cron (`runAuditCron`, hourly) is the
 * fleet-wide safety net: it pages through the tenants of the control database and kicks the
 * objects whose daily slot falls in the coming hour, which re-arms a lost alarm and starts a
 * run that is overdue.
 */
import type { JsonObject } from "../core/entry";

export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;
/** Defaults: incremental daily, full weekly. */
export const DEFAULT_AUDIT_INTERVAL_MS = DAY_MS;
export const DEFAULT_FULL_AUDIT_INTERVAL_MS = 7 * DAY_MS;
/** Bounds of the settings `audit_interval_hours` (1 h … 30 days) and `full_audit_interval_days` (1 … 365). */
export const AUDIT_INTERVAL_MAX_HOURS = 720;
export const AUDIT_FULL_INTERVAL_MAX_DAYS = 365;
/** A run this late past its interval is `verification_overdue` (alert-sources.ts). */
export const OVERDUE_GRACE_MS = HOUR_MS;
/** The cron's period (wrangler.toml `[triggers] crons`): it kicks the tenants whose daily slot falls in the next one. */
export const CRON_PERIOD_MS = HOUR_MS;
/** Tenants read from the control database per query. */
export const CRON_PAGE = 500;

export interface AuditIntervals {
  incrementalMs: number;
  fullMs: number;
}

export const DEFAULT_INTERVALS: AuditIntervals = {
  incrementalMs: DEFAULT_AUDIT_INTERVAL_MS,
  fullMs: DEFAULT_FULL_AUDIT_INTERVAL_MS,
};

/** FNV-1a, 32 bits: a stable, well-spread hash of a tenant id (not a security boundary). */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // A final avalanche (murmur3's fmix32): ids that differ in their last character spread too.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The tenant's offset within an interval: a whole minute (or the interval itself, if shorter than one). */
export function slotOffset(tenant: string, intervalMs: number): number {
  if (intervalMs < MINUTE_MS) return hash32(tenant) % Math.max(1, intervalMs);
  const minutes = Math.floor(intervalMs / MINUTE_MS);
  return (hash32(tenant) % minutes) * MINUTE_MS;
}

/** The first time after `afterMs` (exclusive) that is the tenant's slot: ≡ offset (mod interval). */
export function nextSlot(tenant: string, intervalMs: number, afterMs: number): number {
  const offset = slotOffset(tenant, intervalMs);
  const k = Math.floor((afterMs - offset) / intervalMs) + 1;
  return k * intervalMs + offset;
}

/** Whether the tenant's daily slot falls in [fromMs, fromMs + CRON_PERIOD_MS): the cron kicks it then. */
export function inCronWindow(tenant: string, fromMs: number): boolean {
  const at = nextSlot(tenant, DAY_MS, fromMs - 1);
  return at < fromMs + CRON_PERIOD_MS;
}

/** The event a scheduled run appends when it finishes (log-audit.ts `#finish` fills in the outcome). */
export function scheduledRunEvent(tenant: string): { event: JsonObject; provenance: JsonObject } {
  return {
    event: {
      action: "sealtrail.log.verified",
      actor: { id: "schedule", type: "system" },
      targets: [{ id: tenant, type: "tenant" }],
      outcome: "success",
    },
    provenance: { principal_type: "system", principal_id: "schedule" },
  };
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_schedule (
  id INTEGER PRIMARY KEY CHECK (id = 0),
  tenant TEXT NOT NULL,
  incremental_ms INTEGER NOT NULL,
  full_ms INTEGER NOT NULL,
  next_incremental_at INTEGER NOT NULL,
  next_full_at INTEGER NOT NULL
);
`;

export interface ScheduleRow extends AuditIntervals {
  tenant: string;
  nextIncrementalAt: number;
  nextFullAt: number;
}

/** The LogAudit object's schedule: one row, in its SQLite storage (docs/storage-schema.md "LogAudit"). */
export class AuditSchedule {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    this.#sql.exec(SCHEMA);
  }

  get(): ScheduleRow | undefined {
    const r = this.#sql
      .exec("SELECT tenant, incremental_ms, full_ms, next_incremental_at, next_full_at FROM audit_schedule WHERE id = 0")
      .toArray()[0];
    if (!r) return undefined;
    return {
      tenant: String(r.tenant),
      incrementalMs: Number(r.incremental_ms),
      fullMs: Number(r.full_ms),
      nextIncrementalAt: Number(r.next_incremental_at),
      nextFullAt: Number(r.next_full_at),
    };
  }

  /**
   * Sets the intervals (keeping the next times if they did not change) and returns the row.
   * A first schedule's runs fall at the tenant's next slots.
   */
  set(tenant: string, intervals: AuditIntervals, nowMs: number): ScheduleRow {
    const before = this.get();
    const row: ScheduleRow = {
      tenant,
      ...intervals,
      nextIncrementalAt:
        before && before.incrementalMs === intervals.incrementalMs
          ? before.nextIncrementalAt
          : nextSlot(tenant, intervals.incrementalMs, nowMs),
      nextFullAt: before && before.fullMs === intervals.fullMs ? before.nextFullAt : nextSlot(tenant, intervals.fullMs, nowMs),
    };
    this.#write(row);
    return row;
  }

  /** Which run is due at `nowMs` (full first: it covers an incremental's work), or none. */
  due(nowMs: number): "full" | "incremental" | undefined {
    const row = this.get();
    if (!row) return undefined;
    if (nowMs >= row.nextFullAt) return "full";
    if (nowMs >= row.nextIncrementalAt) return "incremental";
    return undefined;
  }

  /**
   * A run of `mode` started at `nowMs`: the next ones move to the slots after now (a full run
   * also stands for the incremental one due with it).
   */
  started(mode: "full" | "incremental", nowMs: number): void {
    const row = this.get();
    if (!row) return;
    if (mode === "full") row.nextFullAt = nextSlot(row.tenant, row.fullMs, nowMs);
    if (mode === "full" || nowMs >= row.nextIncrementalAt) row.nextIncrementalAt = nextSlot(row.tenant, row.incrementalMs, nowMs);
    this.#write(row);
  }

  /** When the next scheduled run is due (null: no schedule). */
  nextAt(): number | null {
    const row = this.get();
    return row ? Math.min(row.nextIncrementalAt, row.nextFullAt) : null;
  }

  #write(r: ScheduleRow): void {
    this.#sql.exec(
      `INSERT INTO audit_schedule (id, tenant, incremental_ms, full_ms, next_incremental_at, next_full_at) VALUES (0, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant, incremental_ms = excluded.incremental_ms, full_ms = excluded.full_ms,
         next_incremental_at = excluded.next_incremental_at, next_full_at = excluded.next_full_at`,
      r.tenant,
      r.incrementalMs,
      r.fullMs,
      r.nextIncrementalAt,
      r.nextFullAt,
    );
  }
}
