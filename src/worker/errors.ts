/**
 * Domain errors and the one map from them to HTTP (every error body is
 * {"error":{"code","message"}}). Handlers throw `Failure`; `HTTP` alone picks statuses and
 * wire codes, one of each per reason, so openapi.ts can list each route's errors from it.
 * Clients get a short, stable message; details that help an attacker stay in the logs.
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { JsonReadError } from "../core/strict-json";

/** A zod schema's refusal, named after what it validated (request.ts `parseWith`). */
export type InvalidInput =
  | "invalid_event"
  | "invalid_query"
  | "invalid_key_request"
  | "invalid_settings"
  | "invalid_verify_request"
  | "invalid_rebuild_request"
  | "invalid_invitation_request"
  | "invalid_hold"
  | "invalid_source_request"
  | "invalid_stream_request"
  | "invalid_viewer_token_request"
  | "invalid_event_schema"
  | "invalid_grant"
  | "invalid_elevation";

/** Refusals a schema names itself, whatever it validates (zod issue `params.reason`; unknown fields). */
export type SchemaRefusal = "unknown_field" | "reserved_action" | "event_too_deep" | "event_too_large";

/** The first zod issue of a refused input: `path` (dotted, may be empty) and zod's message. */
type Refusal<R> = R extends unknown ? { reason: R; path: string; message: string } : never;

export type AppError =
  // Who is asking (tenant-access.ts, cors.ts).
  | { reason: "unauthenticated" }
  | { reason: "key_expired"; expiredAt: string }
  | { reason: "outside_view"; what: string }
  | { reason: "view_scoped"; what: string }
  | { reason: "self_approval" }
  | { reason: "elevation_too_long"; maxSeconds: number }
  | { reason: "elevation_not_pending"; id: string; status: string }
  | { reason: "grant_ended"; id: string }
  | { reason: "forbidden"; missing: string }
  | { reason: "origin_not_allowed"; origin: string | null }
  | { reason: "cross_site_request"; origin: string | null }
  | { reason: "preflight_refused" }
  | { reason: "rate_limited"; retryAfterSeconds: number }
  // What is asked for.
  | { reason: "not_found"; what: string }
  | { reason: "entry_not_found"; seq: number }
  | { reason: "tenant_required" }
  // The request's body, headers and query (request.ts, strict-json.ts, the routes).
  | { reason: "unsupported_media_type"; got: string | null }
  | { reason: "body_too_large"; limit: number }
  | JsonReadError
  | Refusal<InvalidInput | SchemaRefusal>
  | { reason: "too_many_events"; limit: number }
  | { reason: "entry_too_large"; bytes: number; limit: number }
  | { reason: "invalid_idempotency_key"; why: "malformed" | "header_on_batch" }
  | { reason: "invalid_cursor" }
  | { reason: "index_out_of_range"; index: number; size: number }
  | { reason: "size_out_of_range"; size: number; treeSize: number }
  | { reason: "idempotency_conflict"; key: string }
  // Legal holds (routes/holds.ts, durable/holds.ts, hold-changes.ts).
  | {
      reason: "legal_hold_active";
      setting: string;
      from: number;
      to: number;
      holdId: string;
      holdReason: string;
      activeHolds: number;
    }
  | { reason: "legal_hold_not_a_setting" }
  | { reason: "too_many_holds"; limit: number }
  | { reason: "hold_not_found"; id: string }
  | { reason: "hold_already_released"; id: string; releasedAt: string; releasedBy: string }
  | { reason: "rebuild_refused"; why: string }
  | { reason: "invalid_witness"; index: number; detail: string }
  | { reason: "witness_quorum_unreachable"; quorum: number; witnesses: number }
  | { reason: "too_many_sources"; limit: number }
  | { reason: "too_many_streams"; limit: number }
  // Log streams (routes/streams.ts): a destination the outbound rules refuse (durable/outbound.ts).
  | { reason: "invalid_destination"; detail: string }
  // Erasure (durable/personal-fields.ts, routes/subjects.ts).
  | { reason: "subject_held"; hold: string; holdReason: string }
  | { reason: "personal_fields_unavailable" }
  // Event schemas (routes/schemas.ts, durable/event-schemas.ts) and search (search.ts).
  | { reason: "schema_violation"; action: string; version: number; index: number; path: string; message: string }
  | { reason: "too_many_event_schemas"; limit: number }
  | { reason: "invalid_search"; why: string }
  // Invitations (invitations.ts, membership-log.ts).
  | { reason: "invitation_secret_invalid" }
  | { reason: "invitation_not_for_you" }
  | { reason: "invitation_not_pending" }
  | { reason: "membership_limit_reached" }
  // Tenant creation (placement.ts).
  | { reason: "invalid_jurisdiction"; got: string }
  // The log (the Durable Objects behind tenant-log.ts) and the stores behind it.
  | { reason: "overloaded"; retryAfterSeconds: number }
  | { reason: "log_unavailable" }
  | { reason: "not_mirrored"; retryAfterSeconds: number }
  | { reason: "not_reconciled" }
  | { reason: "split_view"; refusal: { reason: string; key: string; detail: string } }
  | { reason: "seal_failed"; detail: string }
  | { reason: "integrity_error"; seq: number }
  // Retention (durable/retention.ts): the body of an entry below the floor was deleted; its leaf hash and proofs remain.
  | { reason: "entry_pruned"; seq: number; floor: number; prunedBy: number | null }
  | { reason: "bundle_pruned"; id: string; floor: number; prunedBy: number | null }
  // Viewer tokens (viewer-token.ts, routes/viewer.ts; issue #19.5).
  | { reason: "viewer_token_invalid"; why: "malformed" | "signature" | "expired" }
  | { reason: "viewer_token_route" }
  | { reason: "view_widened" }
  | { reason: "internal" };

export type ErrorReason = AppError["reason"];

export class Failure extends Error {
  constructor(readonly error: AppError) {
    super(error.reason);
  }
}

export interface WireError {
  error: { code: string; message: string };
}

export interface HttpError {
  status: ContentfulStatusCode;
  body: WireError;
  headers?: Record<string, string>;
}

/** How one reason is answered: always this status and this code. */
export interface WireSpec<E extends AppError = AppError> {
  status: ContentfulStatusCode;
  code: string;
  message: (e: E) => string;
  headers?: (e: E) => Record<string, string>;
  /** What operators need and clients must not see, to the logs. */
  log?: (e: E) => void;
}

type Variant<R extends ErrorReason> = Extract<AppError, { reason: R }>;

const refused = (e: { path: string; message: string }) => (e.path ? `${e.path}: ${e.message}` : e.message);
/** Tenant text in a message, at most 200 characters. */
const clip = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…` : s);
const retryAfter = (seconds: number) => () => ({ "Retry-After": String(seconds) });

/** The one error map: every reason's status, wire code, message and headers. */
export const HTTP: { readonly [R in ErrorReason]: WireSpec<Variant<R>> } = {
  unauthenticated: { status: 401, code: "unauthenticated", message: () => "Sign in, or send an API key." },
  key_expired: {
    status: 401,
    code: "key_expired",
    message: (e) => `This API key expired at ${e.expiredAt}. Ask an admin of the tenant for a new one.`,
  },
  outside_view: {
    status: 403,
    code: "outside_view",
    message: (e) => `${e.what} is outside the view this credential is scoped to.`,
  },
  view_scoped: {
    status: 403,
    code: "outside_view",
    message: (e) => `${e.what} may hold entries outside this credential's view: a credential scoped to a view cannot read it.`,
  },
  self_approval: {
    status: 403,
    code: "self_approval",
    message: () => "An elevation must be approved or refused by an owner or admin other than the member who asked for it.",
  },
  elevation_too_long: {
    status: 400,
    code: "elevation_too_long",
    message: (e) => `An elevation lasts at most ${e.maxSeconds} seconds in this tenant (setting max_elevation_seconds).`,
  },
  elevation_not_pending: {
    status: 409,
    code: "elevation_not_pending",
    message: (e) => `Elevation ${e.id} is ${e.status}, not awaiting a decision; nothing was changed.`,
  },
  grant_ended: { status: 409, code: "grant_ended", message: (e) => `Grant ${e.id} has already ended; nothing was changed.` },
  forbidden: { status: 403, code: "forbidden", message: (e) => `This credential lacks the "${e.missing}" permission.` },
  cross_site_request: {
    status: 403,
    code: "cross_site_request",
    message: () => "A request made with a signed-in session's cookie must come from a page of this site.",
  },
  origin_not_allowed: { status: 403, code: "origin_not_allowed", message: () => "This publishable key may not be used from this origin." },
  preflight_refused: {
    status: 403,
    code: "preflight_refused",
    message: () => "Browsers may send only POST, from an origin one of the tenant's publishable keys allows.",
    headers: () => ({ vary: "Origin" }),
  },
  rate_limited: {
    status: 429,
    code: "rate_limited",
    message: () => "Too many requests for this key.",
    headers: (e) => ({ "Retry-After": String(e.retryAfterSeconds) }),
  },
  not_found: { status: 404, code: "not_found", message: (e) => `${e.what} not found.` },
  entry_not_found: { status: 404, code: "not_found", message: () => "Entry not found." },
  tenant_required: {
    status: 400,
    code: "tenant_required",
    message: () => "Name the tenant: GET /v1/keys?tenant=<tenant id>. Keys are published per tenant; tenants are not listed.",
  },
  unsupported_media_type: { status: 415, code: "unsupported_media_type", message: () => "Send Content-Type: application/json." },
  body_too_large: { status: 413, code: "body_too_large", message: (e) => `The request body exceeds ${e.limit} bytes.` },
  invalid_utf8: { status: 400, code: "invalid_utf8", message: () => "The request body is not valid UTF-8." },
  invalid_json: { status: 400, code: "invalid_json", message: (e) => `The request body is not valid JSON (at offset ${e.offset}).` },
  duplicate_key: { status: 400, code: "duplicate_key", message: (e) => `The JSON object key ${JSON.stringify(e.key)} appears twice.` },
  reserved_key: { status: 400, code: "reserved_key", message: (e) => `The JSON object key ${JSON.stringify(e.key)} is not accepted.` },
  lone_surrogate: { status: 400, code: "lone_surrogate", message: () => "A JSON string contains an unpaired UTF-16 surrogate." },
  number_out_of_range: {
    status: 400,
    code: "number_out_of_range",
    message: () =>
      "A JSON number is not a value an IEEE 754 double holds exactly as written (RFC 7493 §2.2): " +
      "too large, too small, or too many digits. Send it as a string.",
  },
  too_deep: { status: 400, code: "too_deep", message: (e) => `JSON nesting deeper than ${e.limit} levels.` },
  invalid_event: { status: 400, code: "invalid_event", message: refused },
  invalid_query: { status: 400, code: "invalid_query", message: refused },
  invalid_key_request: { status: 400, code: "invalid_key_request", message: refused },
  invalid_settings: { status: 400, code: "invalid_settings", message: refused },
  invalid_verify_request: { status: 400, code: "invalid_verify_request", message: refused },
  invalid_rebuild_request: { status: 400, code: "invalid_rebuild_request", message: refused },
  invalid_invitation_request: { status: 400, code: "invalid_invitation_request", message: refused },
  invalid_hold: { status: 400, code: "invalid_hold", message: refused },
  invalid_source_request: { status: 400, code: "invalid_source_request", message: refused },
  invalid_stream_request: { status: 400, code: "invalid_stream_request", message: refused },
  invalid_viewer_token_request: { status: 400, code: "invalid_viewer_token_request", message: refused },
  invalid_event_schema: { status: 400, code: "invalid_event_schema", message: refused },
  invalid_grant: { status: 400, code: "invalid_grant", message: refused },
  invalid_elevation: { status: 400, code: "invalid_elevation", message: refused },
  unknown_field: { status: 400, code: "unknown_field", message: refused },
  reserved_action: { status: 400, code: "reserved_action", message: refused },
  event_too_deep: { status: 400, code: "too_deep", message: refused },
  event_too_large: { status: 413, code: "event_too_large", message: refused },
  // c2sp.org/tlog-tiles entry bundles hold entries of at most 65,535 bytes (durable/entry-size.ts).
  entry_too_large: {
    status: 413,
    code: "entry_too_large",
    message: (e) => `The entry would exceed ${e.limit} bytes, the largest an entry bundle holds (c2sp.org/tlog-tiles); nothing was stored.`,
  },
  too_many_events: { status: 413, code: "too_many_events", message: (e) => `A batch holds at most ${e.limit} events.` },
  invalid_idempotency_key: {
    status: 400,
    code: "invalid_idempotency_key",
    message: (e) =>
      e.why === "malformed"
        ? "Idempotency-Key must be 1 to 128 printable ASCII characters."
        : "A batch takes an idempotency_key per event, not an Idempotency-Key header.",
  },
  invalid_cursor: { status: 400, code: "invalid_cursor", message: () => "cursor is not one this API issued." },
  index_out_of_range: { status: 400, code: "index_out_of_range", message: (e) => `index must be below size (${e.size}).` },
  size_out_of_range: {
    status: 400,
    code: "size_out_of_range",
    message: (e) => `Sizes must satisfy 0 < from <= to <= the tree size (${e.treeSize}).`,
  },
  idempotency_conflict: {
    status: 409,
    code: "idempotency_conflict",
    message: () => "This idempotency key was used with a different body.",
  },
  // The hold's reason is the tenant's own text, shown to the tenant's admin (bounded).
  legal_hold_active: {
    status: 409,
    code: "legal_hold_active",
    message: (e) =>
      `The retention period cannot be lowered (${e.setting} from ${e.from} to ${e.to}) while a legal hold is active: ` +
      `hold ${e.holdId} ("${clip(e.holdReason)}")${e.activeHolds > 1 ? ` and ${e.activeHolds - 1} more` : ""}. ` +
      "Release the holds first (POST /v1/tenants/:t/holds/:id/release); nothing was changed.",
  },
  legal_hold_not_a_setting: {
    status: 400,
    code: "legal_hold_not_a_setting",
    message: () =>
      "legal_hold is no longer a setting: create a hold with POST /v1/tenants/:t/holds and release it with " +
      "POST /v1/tenants/:t/holds/:id/release (each logged). GET /settings shows legal_hold: true while any hold is active.",
  },
  too_many_holds: {
    status: 409,
    code: "too_many_holds",
    message: (e) => `A tenant has at most ${e.limit} active legal holds; release one first. Nothing was stored.`,
  },
  hold_not_found: { status: 404, code: "hold_not_found", message: () => "This tenant has no legal hold with that id." },
  hold_already_released: {
    status: 409,
    code: "hold_already_released",
    message: (e) => `Hold ${e.id} was already released (at ${e.releasedAt} by ${e.releasedBy}); nothing was changed.`,
  },
  rebuild_refused: { status: 422, code: "rebuild_refused", message: (e) => `The rebuild stopped: ${e.why}.` },
  invalid_witness: { status: 400, code: "invalid_witness", message: (e) => `witnesses[${e.index}]: ${e.detail}.` },
  witness_quorum_unreachable: {
    status: 422,
    code: "witness_quorum_unreachable",
    message: (e) => `A witness quorum of ${e.quorum} needs at least ${e.quorum} witnesses; there are ${e.witnesses}. Nothing was changed.`,
  },
  too_many_streams: {
    status: 409,
    code: "too_many_streams",
    message: (e) => `A tenant has at most ${e.limit} log streams; delete one first. Nothing was stored.`,
  },
  too_many_sources: {
    status: 409,
    code: "too_many_sources",
    message: (e) => `The tenant tracks ${e.limit} sources, the most it may; nothing was changed.`,
  },
  invalid_destination: { status: 400, code: "invalid_destination", message: (e) => `destination: ${e.detail}.` },
  subject_held: {
    status: 409,
    code: "subject_held",
    message: (e) =>
      `Legal hold ${e.hold} (${JSON.stringify(e.holdReason)}) covers this subject: its personal data cannot be erased ` +
      "until the hold is released. Nothing was changed.",
  },
  // The deployment has no SEALTRAIL_SUBJECT_KEY_SECRET (at least 32 bytes): nothing can be encrypted.
  personal_fields_unavailable: {
    status: 503,
    code: "personal_fields_unavailable",
    message: () => "This deployment cannot encrypt personal fields: its subject key secret is not set. Nothing was changed.",
  },
  schema_violation: {
    status: 400,
    code: "schema_violation",
    message: (e) =>
      `Event ${e.index}: ${e.path} does not match the schema of "${clip(e.action)}" (version ${e.version}): ${clip(e.message)} ` +
      "Nothing was stored.",
  },
  too_many_event_schemas: {
    status: 409,
    code: "too_many_event_schemas",
    message: (e) => `A tenant declares schemas for at most ${e.limit} actions; nothing was changed.`,
  },
  invalid_search: { status: 400, code: "invalid_search", message: (e) => `q: ${e.why}` },
  invitation_secret_invalid: {
    status: 403,
    code: "invitation_secret_invalid",
    message: () => "This invitation link is not valid: ask for a new one.",
  },
  invitation_not_for_you: {
    status: 403,
    code: "invitation_not_for_you",
    message: () => "Sign in with the address the invitation was sent to.",
  },
  invitation_not_pending: {
    status: 409,
    code: "invitation_not_pending",
    message: () => "This invitation was already accepted, rejected or cancelled, or it has expired.",
  },
  membership_limit_reached: { status: 409, code: "membership_limit_reached", message: () => "The tenant has reached its member limit." },
  invalid_jurisdiction: {
    status: 400,
    code: "invalid_jurisdiction",
    message: (e) => `jurisdiction must be "eu" or "fedramp" (or absent), not ${e.got}.`,
  },
  overloaded: {
    status: 503,
    code: "overloaded",
    message: () => "The log is busy; try again shortly.",
    headers: (e) => ({ "Retry-After": String(e.retryAfterSeconds) }),
  },
  log_unavailable: {
    status: 503,
    code: "log_unavailable",
    message: () => "The log could not commit this request; nothing was stored.",
    headers: retryAfter(5),
  },
  // `Prefer: durability=mirrored`: the entry IS committed (durable in the log) and will be copied
  // to D1; only the copy was not confirmed in time. A retry with the same Idempotency-Key gets
  // the same receipt (docs/design.md invariant 3).
  not_mirrored: {
    status: 503,
    code: "not_mirrored",
    message: () =>
      "The event is committed to the log (durable), but the D1 copy you asked to wait for (durability=mirrored) " +
      "is not confirmed yet. Retry with the same Idempotency-Key to get its receipt.",
    headers: (e) => ({ "Retry-After": String(e.retryAfterSeconds) }),
  },
  // The log has not yet compared itself with R2 (it does on start): nothing is signed before.
  not_reconciled: {
    status: 503,
    code: "log_unavailable",
    message: () => "The log could not commit this request; nothing was stored.",
    headers: retryAfter(5),
  },
  split_view: {
    status: 503,
    code: "log_unavailable",
    message: () => "The log refused to write: its snapshot store disagrees with it. An operator must investigate.",
    headers: retryAfter(60),
    // The details (which R2 object disagrees) are for operators, in the logs and in stats.
    log: (e) => console.error("log refused to write", e.refusal),
  },
  seal_failed: {
    status: 503,
    code: "seal_failed",
    message: () => "The snapshot could not be written now; it will be retried.",
    headers: retryAfter(30),
    log: (e) => console.error("seal failed", e.detail),
  },
  // 502: a store behind this server (D1) answered with data the log itself contradicts. A
  // retry will not help; the server's copy is corrupt or was tampered with.
  integrity_error: {
    status: 502,
    code: "integrity_error",
    message: (e) =>
      `The stored copy of entry ${e.seq} is not the entry the signed log holds: it is corrupt or was tampered with. ` +
      "Nothing was served; run a verification, and tell an operator.",
  },
  entry_pruned: {
    status: 410,
    code: "entry_pruned",
    message: (e) =>
      `Entry ${e.seq} was pruned by the retention sweep: bodies below entry ${e.floor} are deleted` +
      `${e.prunedBy === null ? "" : ` (recorded by entry ${e.prunedBy}, sealtrail.retention.pruned)`}. ` +
      "Its leaf hash stays in the log: its inclusion proof still verifies.",
    headers: (e) => ({ "Sealtrail-Retention-Floor": String(e.floor) }),
  },
  bundle_pruned: {
    status: 410,
    code: "bundle_pruned",
    message: (e) =>
      `Snapshot ${e.id}'s bundle was pruned by the retention sweep (bodies below entry ${e.floor} are deleted` +
      `${e.prunedBy === null ? "" : `; recorded by entry ${e.prunedBy}`}). Its manifest and checkpoint remain, and its leaf ` +
      "hashes are in the hash tiles.",
    headers: (e) => ({ "Sealtrail-Retention-Floor": String(e.floor) }),
  },
  viewer_token_invalid: {
    status: 401,
    code: "viewer_token_invalid",
    message: (e) =>
      e.why === "expired"
        ? "This viewer token has expired: ask the page that embeds the viewer for a new one."
        : "This viewer token is not valid.",
  },
  viewer_token_route: {
    status: 403,
    code: "viewer_token_route",
    message: () => "A viewer token reads entries, their proofs, exports and checkpoints of its view; nothing else.",
  },
  view_widened: {
    status: 403,
    code: "view_widened",
    message: () => "A viewer token's view must lie within the view of the credential that mints it.",
  },
  internal: { status: 500, code: "internal", message: () => "Internal error." },
};

export function toHttp(e: AppError): HttpError {
  const spec = HTTP[e.reason] as WireSpec;
  spec.log?.(e);
  const headers = spec.headers?.(e);
  return { status: spec.status, body: { error: { code: spec.code, message: spec.message(e) } }, ...(headers ? { headers } : {}) };
}
