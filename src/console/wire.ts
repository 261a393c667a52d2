/**
 * The answers the console reads, as it reads them: the one place their shapes are written.
 * Each names the route it comes from. A type may leave out fields the console does not use, but
 * never claims one the server does not send: test/worker/console-wire.test.ts checks every type
 * here against the type of the server's answer (the /v1 routes' Hono schemas, better-auth's API).
 * Types only: this module is erased from the bundle.
 */
import type { Hold } from "../core/holds";

// better-auth (/api/auth/*)

/** GET /api/auth/get-session (null when signed out). */
export interface Session {
  user: { id: string; email: string; name: string };
}

/** An organization (a tenant): GET /api/auth/organization/list, POST …/organization/create. */
export interface Org {
  id: string;
  name: string;
  slug: string;
}

/** GET /api/auth/organization/get-invitation. */
export interface Invitation {
  id: string;
  email: string;
  role: string;
  organizationId: string;
  organizationName?: string;
  status: string;
}

/** GET /api/auth/organization/list-members. */
export interface MemberList {
  members: MemberRow[];
}
export interface MemberRow {
  id: string;
  role: string;
  createdAt: string;
  userId: string;
  user: { email: string; name: string };
}

/** GET /api/auth/organization/list-invitations. */
export interface InvitationRow {
  id: string;
  email: string;
  role: string;
  status: string;
  expiresAt: string;
}

/** POST /api/auth/organization/invite-member: the invitation and, once, its link's secret (invitations.ts). */
export interface Invited {
  id: string;
  email: string;
  role: string;
  secret: string;
}

// Sealtrail (/v1)

/** The client's event inside an entry, as src/worker/event-schema.ts accepted it. */
export type EventView = {
  action?: string;
  actor?: { id?: string; type?: string; name?: string };
  outcome?: string;
  targets?: unknown[];
} & Record<string, unknown>;

/** One encrypted personal field as the server shows it to a reader (src/worker/personal-view.ts). */
export type PersonalFieldView =
  | { path: string; state: "decrypted"; value: unknown }
  | { path: string; state: "erased"; erased_at: string; erased_by: number }
  | { path: string; state: "undecryptable" };

/** The part of GET /v1/tenants/:t/settings the personal data page reads. */
export interface PersonalSettings {
  personal_fields: string[];
}

/** POST /v1/tenants/:t/subjects/:subject/erase. */
export interface SubjectErased {
  subject_hash: string;
  keys_destroyed: number;
  receipt: { seq: number };
}

/** GET /v1/tenants/:t/events/:seq. */
export interface EntryView {
  seq: number;
  leaf_hash: string;
  received_at: string;
  event: EventView;
  provenance: unknown;
  entry: string;
  /** Present when the entry holds encrypted personal fields. */
  personal?: PersonalFieldView[];
}

/** GET /v1/tenants/:t/events. */
export interface EventPage {
  events: EntryView[];
  next_cursor: string | null;
  prev_cursor: string | null;
  /** Entries below `below` were pruned by retention (recorded by entry `recorded_by`); null: none. */
  pruned: { below: number; recorded_by: number | null } | null;
}

/** GET /v1/tenants/:t/proof/inclusion and /proof/consistency. */
export interface ProofHashes {
  hashes: string[];
}

/** GET /v1/tenants/:t/stats. */
export interface Stats {
  size: number;
  /** Where the tenant's data lives (its jurisdiction and D1 shard). */
  placement: { jurisdiction: string; shard: number };
  mirrored_to: number;
  mirror_lag: number;
  mirror_lag_ms: number;
  mirror_lag_alert: boolean;
  mirror_failures: number;
  sealed_to: number;
  latest_seal: { id: string; sealed_at: string; from: number; to: number } | null;
  seal_failures: number;
  last_seal_error: string | null;
  refusing_writes: boolean;
  skewed_events: number;
  last_received_at: string | null;
  usual_gap_ms: number | null;
  ingest_stalled: boolean;
  /** Witnessing (docs/design.md "Witnessing"): the witnesses, the quorum, the largest size that has it, split-view alerts. */
  witnesses: WitnessState[];
  witness_quorum: number;
  witnessed_size: number;
  witness_alert_count: number;
  witness_alerts: WitnessAlert[];
  /** Retention: bodies below the floor are pruned (leaves, proofs, checkpoints kept); deletions done below cleaned_to. */
  retention_floor: number;
  retention_cleaned_to: number;
  retention_error: string | null;
  /** The tenant's verification status: its last full run (a range run never counts). */
  last_full_verification: FullVerification | null;
  /** Legal holds active now. */
  active_holds: number;
  /** Numbered sources (README "Missed events: gaps and silence"). */
  sources: SourceSummary;
  /** Alerts (README "Alerts"): incidents open now, and the newest incidents with their start and end. */
  open_alerts: OpenAlert[];
  recent_incidents: Incident[];
  /** Log streams: lag and pause (README "Log streams"). */
  streams: StreamLag[];
}
export interface SourceSummary {
  tracked: number;
  reporting: number;
  silent: number;
  with_cadence: number;
  with_gaps: number;
  open_gaps: number;
  missing: number;
  untracked_events: number;
}

/** GET /v1/tenants/:t/sources. */
export interface SourceList {
  sources: SourceRow[];
  next: string | null;
}
export interface SourceRow {
  id: string;
  last_seq: number | null;
  events: number;
  last_seen_at: string | null;
  expected_every_seconds: number | null;
  silent: boolean;
  silent_since: string | null;
  missing: number;
  /** Open gaps: every number in [from, to] (inclusive) is missing. */
  gaps: { from: number; to: number; opened_at: string }[];
  filled: number;
  restarts: number;
  duplicates: number;
  forgotten: { gaps: number; missing: number };
}
/** PUT /v1/tenants/:t/sources/:id. */
export interface SourceChanged {
  source: SourceRow;
  receipt: { seq: number };
}
/** GET /v1/tenants/:t/stats/lag. */
export interface LagSamples {
  sample_seconds: number;
  samples: { at: string; mirror_lag: number; mirror_lag_ms: number; stream_lag: number | null; stream_lag_ms: number | null }[];
}
export interface OpenAlert {
  kind: string;
  key: string;
  since: string;
}
export interface Incident {
  kind: string;
  key: string;
  started_at: string;
  raised_at: string;
  ended_at: string | null;
  detail: Record<string, string | number | boolean>;
}
export interface StreamLag {
  id: string;
  name: string;
  type: string;
  lag_entries: number;
  lag_seconds: number;
  paused: boolean;
  last_error: string | null;
}
/** A log stream (GET /v1/tenants/:t/streams): no secrets, only `secret_set`. */
export interface StreamView {
  id: string;
  name: string;
  destination: Record<string, string | boolean>;
  format: string;
  actions: string[];
  timeout_seconds: number;
  created_at: string;
  cursor: number;
  delivered: number;
  last_delivered_at: string | null;
  lag_entries: number;
  lag_seconds: number;
  paused: boolean;
  paused_at: string | null;
  failures: number;
  last_error: string | null;
  last_error_at: string | null;
  next_attempt_at: string | null;
}
export interface StreamList {
  streams: StreamView[];
}
export interface CreatedStream {
  stream: StreamView;
  /** A webhook's signing secret, shown this once. */
  secret?: string;
}
export interface WitnessState {
  url: string;
  key: string;
  cosigned_size: number;
  failures: number;
  last_error: string | null;
}
export interface WitnessAlert {
  at: string;
  witness: string;
  reason: "witness_ahead" | "witness_inconsistent";
  size: number;
  detail: string;
}
export interface FullVerification {
  job_id: string;
  ok: boolean;
  failures: number;
  finished_at: string;
  range: { from: number; to: number };
  pruned?: PrunedRange | null;
}
/** Entries whose bodies retention deleted, as the log's newest sealtrail.retention.pruned entry (`under`) records. */
export interface PrunedRange {
  from: number;
  to: number;
  under: number;
  checkpoint: { size: number; root: string };
}

/** GET /v1/tenants/:t/stats/activity. */
export interface Activity {
  bucket_seconds: number;
  buckets: { start: string; count: number }[];
}

/** GET /v1/tenants/:t/verify. */
export interface ReportList {
  reports: ReportRow[];
}
export interface ReportRow {
  job_id: string;
  mode: string;
  range: { from: number; to: number } | null;
  ok: boolean;
  failures: number;
  created_at: string;
}

/** POST /v1/tenants/:t/verify and GET /v1/tenants/:t/verify/:job. */
export interface Job {
  job_id: string;
  status: "running" | "done";
  mode: string;
  range: { from: number; to: number };
  progress: { checked: number; next: number; to: number; phase: string };
  report: Report | null;
}
export interface Report {
  job_id: string;
  ok: boolean;
  mode: string;
  range: { from: number; to: number };
  checked: { entries: number; seals: number; bundle_entries: number; sampled: number; pruned?: number };
  finished_at: string;
  duration_ms: number;
  failures: VerificationFailure[];
  pruned?: PrunedRange | null;
}
export interface VerificationFailure {
  kind: string;
  seq?: number | null;
  key?: string;
  detail?: string;
  expected?: unknown;
  found?: unknown;
}

/** GET /v1/tenants/:t/snapshots. */
export interface SnapshotPage {
  snapshots: SealSummary[];
  next_cursor: string | null;
}
export interface SealSummary {
  id: string;
  from: number;
  to: number;
  root: string;
  sealed_at: string;
  bundle_sha256: string;
}

/** GET /v1/keys?tenant=: the tenant's published verifier keys. */
export interface VerifierKeys {
  keys: PublishedKey[];
}
export interface PublishedKey {
  tenant: string;
  origin: string;
  version: number;
  verifier_key: string;
}

/** GET /v1/tenants/:t/keys. */
export interface KeyList {
  keys: KeyRow[];
}
export interface KeyRow {
  id: string;
  name: string | null;
  /** "secret" or "publishable". */
  type: string;
  start: string | null;
  allowed_origins?: string[];
  permissions: string[];
  created_at: string;
  last_used_at: string | null;
  /** When it stops working (null: never), and whether it has. */
  expires_at: string | null;
  expired: boolean;
  /** The view its reads are narrowed to (absent: the whole log). */
  view?: View;
}

/** A view (src/core/views.ts): every present field narrows. */
export interface View {
  received_from?: string;
  received_to?: string;
  action_prefix?: string;
  actor?: string;
  target?: { type?: string; id: string };
}

/** GET /v1/tenants/:t/grants: an auditor view granted to a member for a window. */
export interface Grant {
  id: string;
  user_id: string;
  permissions: string[];
  view: View;
  reason: string;
  starts_at: string;
  expires_at: string;
  created_by: string;
  created_at: string;
  revoked_at: string | null;
  revoked_by: string | null;
  active: boolean;
}
export interface GrantList {
  grants: Grant[];
}

/** GET /v1/tenants/:t/elevations: just-in-time elevation requests. */
export interface Elevation {
  id: string;
  user_id: string;
  permission: string;
  duration_seconds: number;
  reason: string;
  status: "requested" | "approved" | "refused" | "cancelled";
  requested_at: string;
  decided_by: string | null;
  decided_at: string | null;
  decision_reason: string | null;
  expires_at: string | null;
  active: boolean;
}
export interface ElevationList {
  elevations: Elevation[];
  max_elevation_seconds: number;
}

/** POST /v1/tenants/:t/keys: the new key, shown once. */
export interface CreatedKey {
  key: string;
  name: string;
  type: string;
  permissions: string[];
  expires_at?: string;
  view?: View;
}

/** GET /v1/tenants/:t/settings. */
export interface Settings {
  seal_interval_seconds: number;
  retention_days: number;
  legal_hold: boolean;
  max_clock_skew_seconds: number;
  witnesses: { url: string; key: string }[] | null;
  witness_quorum: number | null;
  /** The checkpoint and hash tiles under /logs/<tenant>/ are readable without a credential. */
  public_log: boolean;
  /** Scheduled audits: incremental every N hours, full every N days. */
  audit_interval_hours: number;
  full_audit_interval_days: number;
  max_elevation_seconds: number;
}

/** A legal hold and its scope (GET /v1/tenants/:t/holds): the core's own types, as the server answers them. */
export type { Hold, HoldScope } from "../core/holds";
/** GET /v1/tenants/:t/holds. */
export interface HoldList {
  holds: Hold[];
  active: number;
}

/** POST /v1/tenants/:t/holds and …/holds/:id/release: the hold now, and the receipt of the entry recording the change. */
export interface HoldChanged {
  hold: Hold;
  receipt: { seq: number };
}

/** GET /v1/tenants/:t/schemas: the latest version of each action's schema. */
export interface EventSchemaList {
  schemas: { action: string; version: number; versions: number; sha256: string; created_at: string; created_by: string }[];
}

/** GET /v1/tenants/:t/schemas/:action[?version=]: one version with its schema. */
export interface EventSchema {
  action: string;
  version: number;
  sha256: string;
  created_at: string;
  created_by: string;
  schema: Record<string, unknown>;
}

/** PUT /v1/tenants/:t/schemas/:action: the version stored and the receipt of its sealtrail.schema.changed entry. */
export interface EventSchemaChanged {
  schema: EventSchema;
  receipt: { seq: number };
}

/** PUT /v1/tenants/:t/settings: the settings now, and the receipt of the entry recording the change. */
export interface SettingsChanged {
  settings: Settings;
  receipt?: { seq: number };
}
