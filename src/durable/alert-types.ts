/**
 * Alerts (issue #18.2): the conditions a tenant's log watches, as AlertSources the alert engine
 * (alerts.ts) evaluates from the Durable Object's alarm and after events that change them. An
 * incident is one condition from the moment it appears until it disappears: the engine appends
 * one `sealtrail.alert.raised` when it appears and one `sealtrail.alert.cleared` when it is gone,
 * never one per check. Delivery is by streams filtered to the action prefix `sealtrail.alert.`.
 */

export type AlertKind =
  | "seal_failing"
  | "mirror_lag"
  | "clock_skew"
  | "ingest_stalled"
  | "writes_refused"
  | "witness_disagrees"
  | "verification_failed"
  | "verification_overdue"
  | "source_silent"
  | "source_gap"
  | "stream_paused";

/** Every kind, in a stable order (for validation and documentation). */
export const ALERT_KINDS: readonly AlertKind[] = [
  "seal_failing",
  "mirror_lag",
  "clock_skew",
  "ingest_stalled",
  "writes_refused",
  "witness_disagrees",
  "verification_failed",
  "verification_overdue",
  "source_silent",
  "source_gap",
  "stream_paused",
];

/** One open condition, as a source sees it now. */
export interface AlertCondition {
  kind: AlertKind;
  /** Which one of its kind: a source id, stream id, witness name; "" if there is one per tenant. */
  key: string;
  detail: Record<string, string | number | boolean>;
  /** When the condition began (ms since the epoch), if the source knows; else when first seen. */
  since?: number;
}

/** Something that can say which conditions hold now. Must be cheap and synchronous (no I/O). */
export interface AlertSource {
  conditions(now: number): AlertCondition[];
}

/** The action prefix of every alert entry: a stream filtered to it is an alert destination. */
export const ALERT_ACTION_PREFIX = "sealtrail.alert.";
export const ALERT_RAISED = "sealtrail.alert.raised";
export const ALERT_CLEARED = "sealtrail.alert.cleared";
