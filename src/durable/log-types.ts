/**
 * What the TenantLog Durable Object takes and answers over RPC: the types the Worker's routes
 * import (src/worker/*), in one module. Types only; the logic is in the modules that produce
 * them (tenant-log.ts lists them).
 */
import type { JsonObject } from "../core/entry";
import type { AlertKind } from "./alert-types";
import type { EntryTooLarge } from "./entry-size";
import type { SettingsError } from "./settings";
import type { HoldError } from "./holds";
import type { SourceError, SourceSummary } from "./sources";
import type { SchemaError } from "./event-schemas";

export type { TenantSettings } from "./log-store";

/** One event to append, with its client's Idempotency-Key if it sent one. */
export interface AppendItem {
  event: JsonObject;
  idempotencyKey?: string;
}

/** A receipt as the API returns it (docs/design.md "HTTP surface": `{seq, leaf_hash, received_at, tree_size}`). */
export interface Receipt {
  seq: number;
  leaf_hash: string;
  received_at: string;
  tree_size: number;
}

/** Why the log refuses to write (docs/design.md invariant 10): R2 holds what this object did not sign. */
export interface Refusal {
  reason: "r2_ahead" | "r2_conflict";
  key: string;
  detail: string;
}

export type LogError =
  | { reason: "idempotency_conflict"; key: string }
  | { reason: "overloaded"; retryAfterSeconds: number }
  | { reason: "log_unavailable" }
  | { reason: "split_view"; refusal: Refusal }
  /** `durability: "mirrored"`: committed (durable), but D1 did not hold it within the wait. */
  | { reason: "not_mirrored"; retryAfterSeconds: number }
  | EntryTooLarge
  | SettingsError
  | HoldError
  | SourceError
  /** Erasure refused: an active legal hold covers the subject (personal-fields.ts). */
  | { reason: "subject_held"; hold: string; holdReason: string }
  | SchemaError;

/**
 * How durable an append is when it is answered (docs/design.md invariant 3): "committed" (the
 * default) once DO storage holds it; "mirrored" once D1 holds it too (HTTP `Prefer: durability=mirrored`).
 */
export type Durability = "committed" | "mirrored";

export type AppendResult = { ok: true; receipts: Receipt[] } | { ok: false; error: LogError };

export type ProofRangeError =
  | { reason: "index_out_of_range"; index: number; size: number }
  | { reason: "size_out_of_range"; size: number; treeSize: number }
  | { reason: "entry_not_found"; seq: number }
  | { reason: "split_view"; refusal: Refusal }
  | { reason: "not_reconciled" };

export type ProofResult<T> = { ok: true; value: T } | { ok: false; error: ProofRangeError };

/** RFC 6962 §2.1.1 audit path of leaf `index` in the tree of `size` (base64 hashes). */
export interface InclusionProof {
  index: number;
  size: number;
  hashes: string[];
}

/** RFC 6962 §2.1.2 consistency proof between tree sizes `from` and `to` (base64 hashes). */
export interface ConsistencyProof {
  from: number;
  to: number;
  hashes: string[];
}

/** The tree at a size as a verifier resumes from it: the compact range's frontier, the last leaf (base64). */
export interface TreeState {
  frontier: (string | null)[];
  prevLeaf: string;
}

/** A signed checkpoint (c2sp.org/tlog-checkpoint note) for a tree size. */
export interface SignedCheckpoint {
  size: number;
  note: string;
}

/** The metadata the KV index keeps for a seal (and the snapshots list returns). */
export interface SealSummary {
  id: string;
  from: number;
  to: number;
  root: string;
  bundle_sha256: string;
  sealed_at: string;
  manifest_key: string;
  bundle_key: string;
}

export type SealResult =
  | { ok: true; value: { sealed: SealSummary[] } }
  | { ok: false; error: { reason: "split_view"; refusal: Refusal } | { reason: "seal_failed"; detail: string } };

/** A seal as the log recorded it (published or only planned), for verification. */
export interface SealView {
  id: number;
  from: number;
  to: number;
  root: string;
  manifest: string;
  published: boolean;
}

export interface StoredEntryView {
  seq: number;
  entry: string;
  leaf_hash: string;
}

export interface LogStats {
  tenant: string | null;
  size: number;
  head_leaf_hash: string;
  mirrored_to: number;
  queued_events: number;
  mirror_failures: number;
  /** Milliseconds since the oldest entry not yet in D1 was committed (0 when D1 holds every entry). */
  mirror_lag_ms: number;
  /** mirror_lag_ms is past MIRROR_LAG_ALERT_MS (mirror.ts). */
  mirror_lag_alert: boolean;
  sealed_to: number;
  latest_seal: SealSummary | null;
  seal_failures: number;
  last_seal_error: string | null;
  refusal: Refusal | null;
  /** Events whose occurred_at was further from received_at than the tenant allows. */
  skewed_events: number;
  last_received_at: string | null;
  /** The usual gap between commits, in ms (0 until there are two). */
  usual_gap_ms: number;
  /** No entry for STALL_FACTOR usual gaps (and at least STALL_MIN_MS). */
  ingest_stalled: boolean;
  /** Entries covered by full c2sp.org/tlog-tiles tiles in R2 (durable/tiles.ts), and the tile writer's last error. */
  tiles_to: number;
  tiles_error: string | null;
  /** Legal holds active now (holds.ts). */
  active_holds: number;
  /** Witnessing (witnessing.ts): the witnesses, the quorum, the largest size that has it, split-view alerts. */
  witnesses: WitnessView[];
  witness_quorum: number;
  witnessed_size: number;
  witness_alert_count: number;
  witness_alerts: WitnessAlert[];
  /** How long the last submission round to every witness took (ms; null: none since the object started). */
  witness_round_ms: number | null;
  /** Numbered sources (sources.ts): how many report, are silent, have gaps and how many numbers are missing. */
  sources: SourceSummary;
  /** Alerts (alerts.ts): incidents open now, and the newest incidents, open or ended. */
  open_alerts: OpenAlert[];
  recent_incidents: IncidentView[];
  /** Retention (retention.ts): the floor (bodies below it are pruned), how far deletions got, their last error, the last scheduled sweep. */
  retention_floor: number;
  retention_cleaned_to: number;
  retention_error: string | null;
  retention_last_sweep_at: string | null;
}

/** An incident as /stats and the console show it (alerts.ts). */
export interface IncidentView {
  kind: AlertKind;
  key: string;
  /** When the condition began (its source's `since`, else when first seen). */
  started_at: string;
  /** When the incident was opened, i.e. detected: time to detect is raised_at − started_at. */
  raised_at: string;
  ended_at: string | null;
  detail: Record<string, string | number | boolean>;
}

/** An open incident in /stats `open_alerts`. */
export interface OpenAlert {
  kind: AlertKind;
  key: string;
  since: string;
}

/** A verification run's outcome, as LogAudit reports it to the tenant's log (the verification alerts). */
export interface VerificationOutcome {
  job_id: string;
  mode: "full" | "incremental";
  ok: boolean;
  failures: number;
  /** RFC 3339. */
  finished_at: string;
  scheduled: boolean;
}

/** A witness as /stats shows it: what it last cosigned for this log, its failures in a row and last error. */
export interface WitnessView {
  url: string;
  key: string;
  cosigned_size: number;
  failures: number;
  last_error: string | null;
}

/**
 * A witness's refusal that may mean a split view: it cosigned a larger tree than this log has
 * (409 with a larger size), or found our checkpoint inconsistent with what it cosigned (422).
 */
export interface WitnessAlert {
  at: string;
  witness: string;
  key: string;
  reason: "witness_ahead" | "witness_inconsistent";
  size: number;
  detail: string;
}

export type WitnessStats = Pick<
  LogStats,
  "witnesses" | "witness_quorum" | "witnessed_size" | "witness_alert_count" | "witness_alerts" | "witness_round_ms"
>;

/** What verification checks (verification.ts): the quorum, the witnesses' vkeys, the newest submitted checkpoint with its cosignatures. */
export interface WitnessStatus {
  quorum: number;
  keys: string[];
  newest: { size: number; note: string } | null;
}
