/**
 * Today's conditions as AlertSources (alert-types.ts), registered by `openLog` (tenant-log.ts), one
 * line each. Each reads state the log's parts already keep; none does I/O (docs/design.md "Alerts"
 * lists what each means and when it clears).
 */
import type { AlertCondition } from "./alert-types";
import type { AlertEngine, TimedAlertSource } from "./alerts";
import { OVERDUE_GRACE_MS } from "./audit-schedule";
import { INGEST_STALLED_AFTER_MS, type GroupCommit } from "./group-commit";
import type { LogStore } from "./log-store";
import type { VerificationOutcome } from "./log-types";
import { MIRROR_LAG_ALERT_MS, type D1Mirror } from "./mirror";
import type { Sealer } from "./sealer";
import type { Witnessing } from "./witnessing";

/** Seal passes failing this many times in a row (with the alarm's backoff: ~14 s) is `seal_failing`. */
export const SEAL_FAILING_AFTER = 3;
/** `clock_skew` holds while an event flagged for clock skew arrived within this window. */
export const CLOCK_SKEW_WINDOW_MS = 600_000;

const one = (c: AlertCondition | false | null | undefined): AlertCondition[] => (c ? [c] : []);

/** `seal_failing`: SEAL_FAILING_AFTER seal passes in a row failed (R2 down, reconcile impossible). Clears with a seal that succeeds. */
export function sealFailing(sealer: Sealer): TimedAlertSource {
  return {
    conditions() {
      const s = sealer.stats(undefined);
      return one(
        s.seal_failures >= SEAL_FAILING_AFTER && {
          kind: "seal_failing",
          key: "",
          detail: { failures: s.seal_failures, last_error: s.last_seal_error ?? "" },
        },
      );
    },
  };
}

/** `mirror_lag`: D1 lags the log by more than 30 s (mirror.ts `mirror_lag_alert`). Clears once D1 catches up. */
export function mirrorLag(mirror: D1Mirror, size: () => number): TimedAlertSource {
  return {
    conditions(now) {
      const m = mirror.stats();
      return one(
        m.mirror_lag_alert && {
          kind: "mirror_lag",
          key: "",
          since: now - m.mirror_lag_ms,
          detail: { lag_ms: m.mirror_lag_ms, entries: size() - m.mirrored_to, failures: m.mirror_failures },
        },
      );
    },
    nextCheckAt(now) {
      // Entries waiting for D1: check when their lag would cross the threshold.
      const m = mirror.stats();
      return m.mirror_lag_ms > 0 && !m.mirror_lag_alert ? now + (MIRROR_LAG_ALERT_MS - m.mirror_lag_ms) + 1 : null;
    },
  };
}

/**
 * `clock_skew`: an event whose occurred_at was further from the server's time than the tenant
 * allows (`max_clock_skew_seconds`) arrived within CLOCK_SKEW_WINDOW_MS. Clears once none has for that long.
 */
export function clockSkew(store: LogStore): TimedAlertSource & { pending(): boolean } {
  const last = () => store.counter("last_skewed_at");
  /** The newest flagged event the last check saw. */
  let checked = 0;
  return {
    /** A flagged event no check has seen yet (after a commit: tenant-log.ts arms a check). */
    pending: () => last() > checked,
    conditions(now) {
      const at = last();
      checked = at;
      return one(
        at > 0 &&
          now - at < CLOCK_SKEW_WINDOW_MS && {
            kind: "clock_skew",
            key: "",
            detail: { skewed_events: store.counter("skewed_events"), last_skewed_at: new Date(at).toISOString() },
          },
      );
    },
    nextCheckAt(now) {
      const at = last();
      return at > 0 && now - at < CLOCK_SKEW_WINDOW_MS ? at + CLOCK_SKEW_WINDOW_MS : null;
    },
  };
}

/**
 * `ingest_stalled`: appends have waited, or commits have failed, for INGEST_STALLED_AFTER_MS with
 * no commit (group-commit.ts `stalledSince`). Clears with the next commit. (Not the /stats
 * `ingest_stalled` flag, which says senders went quiet: the alert's own entries would end that.)
 */
export function ingestStalled(commit: GroupCommit): TimedAlertSource {
  return {
    conditions(now) {
      const since = commit.stalledSince();
      return one(
        since !== null &&
          now - since >= INGEST_STALLED_AFTER_MS && {
            kind: "ingest_stalled",
            key: "",
            since,
            detail: { waiting_ms: now - since },
          },
      );
    },
    nextCheckAt(now) {
      const since = commit.stalledSince();
      return since !== null && now - since < INGEST_STALLED_AFTER_MS ? since + INGEST_STALLED_AFTER_MS : null;
    },
  };
}

/**
 * `writes_refused`: the log refuses to write and sign (invariant 10: R2 holds a seal it never made,
 * or other bytes for one it did). Its entries are written once the log accepts writes again.
 */
export function writesRefused(sealer: Sealer): TimedAlertSource {
  return {
    conditions() {
      const r = sealer.refusal;
      return one(r !== null && { kind: "writes_refused", key: "", detail: { reason: r.reason, object: r.key, detail: r.detail } });
    },
  };
}

/**
 * `witness_disagrees`, one per witness: its newest refusal that may mean a split view (409 with a
 * larger size, 422) came after its last cosignature of ours. Clears when it cosigns again.
 */
export function witnessDisagrees(witnessing: Witnessing): TimedAlertSource {
  return {
    conditions() {
      const current = new Set(witnessing.witnesses().map((w) => w.key));
      return witnessing.db
        .disagreeing()
        .filter((a) => current.has(a.key))
        .map(
          (a): AlertCondition => ({
            kind: "witness_disagrees",
            key: a.witness,
            since: Date.parse(a.at),
            detail: { reason: a.reason, size: a.size, detail: a.detail },
          }),
        );
    },
  };
}

/** Facts the verification sources read (alerts.ts `alert_facts`). */
export const VERIFICATION_FACT = "verification";
export const AUDIT_SCHEDULE_FACT = "audit_schedule";

/** What the TenantLog last told LogAudit about the schedule, and when scheduling began. */
export interface AuditScheduleFact {
  incremental_ms: number;
  full_ms: number;
  since: number;
}

/** `verification_failed`: the newest full or incremental run (scheduled or not) failed. Clears when a later one passes. */
export function verificationFailed(alerts: AlertEngine): TimedAlertSource {
  return {
    conditions() {
      const v = alerts.fact<VerificationOutcome>(VERIFICATION_FACT);
      return one(
        v !== undefined &&
          !v.ok && {
            kind: "verification_failed",
            key: "",
            since: Date.parse(v.finished_at),
            detail: { job_id: v.job_id, mode: v.mode, failures: v.failures, scheduled: v.scheduled },
          },
      );
    },
  };
}

/**
 * `verification_overdue`: no full or incremental run finished within the incremental interval
 * plus OVERDUE_GRACE_MS (counted from the last one, else from when scheduling began).
 */
export function verificationOverdue(alerts: AlertEngine): TimedAlertSource {
  const deadline = (): number | null => {
    const s = alerts.fact<AuditScheduleFact>(AUDIT_SCHEDULE_FACT);
    if (s === undefined) return null;
    const v = alerts.fact<VerificationOutcome>(VERIFICATION_FACT);
    const last = v ? Math.max(Date.parse(v.finished_at), s.since) : s.since;
    return last + s.incremental_ms + OVERDUE_GRACE_MS;
  };
  return {
    conditions(now) {
      const due = deadline();
      return one(
        due !== null &&
          now >= due && {
            kind: "verification_overdue",
            key: "",
            since: due,
            detail: { due_at: new Date(due).toISOString() },
          },
      );
    },
    nextCheckAt(now) {
      const due = deadline();
      return due !== null && now < due ? due : null;
    },
  };
}
