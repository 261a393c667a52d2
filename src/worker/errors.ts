/**
 * Domain errors and the one map from them to HTTP (every error body is
 * {"error":{"code","message"}}). Handlers throw `Failure`; `toHttp` alone picks statuses.
 * Clients get a short, stable message; details that help an attacker stay in the logs.
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { JsonReadError } from "../core/strict-json";

export type AppError =
  | { reason: "unauthenticated" }
  | { reason: "forbidden"; missing: string }
  | { reason: "origin_not_allowed"; origin: string | null }
  | { reason: "cross_site_request"; origin: string | null }
  | { reason: "not_found"; what: string }
  | { reason: "tenant_required" }
  | { reason: "rate_limited"; retryAfterSeconds: number }
  | { reason: "unsupported_media_type"; got: string | null }
  | { reason: "body_too_large"; limit: number }
  | JsonReadError
  | { reason: "invalid_request"; code: string; message: string; status?: 400 | 413 | 422 }
  | { reason: "idempotency_conflict"; key: string }
  /** An invitation that cannot be accepted: wrong or missing link secret, used, or for someone else. */
  | { reason: "invitation_refused"; why: "secret_invalid" | "not_pending" | "not_for_you" | "limit_reached" }
  | { reason: "overloaded"; retryAfterSeconds: number }
  | { reason: "log_unavailable" }
  | { reason: "split_view"; refusal: { reason: string; key: string; detail: string } }
  | { reason: "seal_failed"; detail: string }
  | { reason: "legal_hold_active"; retentionYears: number; requested: number }
  | { reason: "integrity_error"; seq: number }
  | { reason: "internal" };

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

const wire = (code: string, message: string): WireError => ({ error: { code, message } });

export function toHttp(e: AppError): HttpError {
  switch (e.reason) {
    case "unauthenticated":
      return { status: 401, body: wire("unauthenticated", "Sign in, or send an API key.") };
    case "forbidden":
      return { status: 403, body: wire("forbidden", `This credential lacks the "${e.missing}" permission.`) };
    case "cross_site_request":
      return { status: 403, body: wire("cross_site_request", "A request made with a signed-in session's cookie must come from a page of this site.") };
    case "origin_not_allowed":
      return { status: 403, body: wire("origin_not_allowed", "This publishable key may not be used from this origin.") };
    case "not_found":
      return { status: 404, body: wire("not_found", `${e.what} not found.`) };
    case "tenant_required":
      return { status: 400, body: wire("tenant_required", "Name the tenant: GET /v1/keys?tenant=<tenant id>. Keys are published per tenant; tenants are not listed.") };
    case "rate_limited":
      return {
        status: 429,
        body: wire("rate_limited", "Too many requests for this key."),
        headers: { "Retry-After": String(e.retryAfterSeconds) },
      };
    case "unsupported_media_type":
      return { status: 415, body: wire("unsupported_media_type", "Send Content-Type: application/json.") };
    case "body_too_large":
      return { status: 413, body: wire("body_too_large", `The request body exceeds ${e.limit} bytes.`) };
    case "invalid_utf8":
      return { status: 400, body: wire("invalid_utf8", "The request body is not valid UTF-8.") };
    case "invalid_json":
      return { status: 400, body: wire("invalid_json", `The request body is not valid JSON (at offset ${e.offset}).`) };
    case "duplicate_key":
      return { status: 400, body: wire("duplicate_key", `The JSON object key ${JSON.stringify(e.key)} appears twice.`) };
    case "reserved_key":
      return { status: 400, body: wire("reserved_key", `The JSON object key ${JSON.stringify(e.key)} is not accepted.`) };
    case "lone_surrogate":
      return { status: 400, body: wire("lone_surrogate", "A JSON string contains an unpaired UTF-16 surrogate.") };
    case "number_out_of_range":
      return { status: 400, body: wire(
          "number_out_of_range",
          "A JSON number is not a value an IEEE 754 double holds exactly as written (RFC 7493 §2.2): too large, too small, or too many digits. Send it as a string.",
        ) };
    case "too_deep":
      return { status: 400, body: wire("too_deep", `JSON nesting deeper than ${e.limit} levels.`) };
    case "invalid_request":
      return { status: e.status ?? 400, body: wire(e.code, e.message) };
    case "invitation_refused":
      switch (e.why) {
        case "secret_invalid":
          return { status: 403, body: wire("invitation_secret_invalid", "This invitation link is not valid: ask for a new one.") };
        case "not_for_you":
          return { status: 403, body: wire("invitation_not_for_you", "Sign in with the address the invitation was sent to.") };
        case "not_pending":
          return { status: 409, body: wire("invitation_not_pending", "This invitation was already accepted, rejected or cancelled, or it has expired.") };
        case "limit_reached":
          return { status: 409, body: wire("membership_limit_reached", "The tenant has reached its member limit.") };
      }
    case "idempotency_conflict":
      return { status: 409, body: wire("idempotency_conflict", "This idempotency key was used with a different body.") };
    case "overloaded":
      return {
        status: 503,
        body: wire("overloaded", "The log is busy; try again shortly."),
        headers: { "Retry-After": String(e.retryAfterSeconds) },
      };
    case "log_unavailable":
      return {
        status: 503,
        body: wire("log_unavailable", "The log could not commit this request; nothing was stored."),
        headers: { "Retry-After": "5" },
      };
    case "split_view":
      // The details (which R2 object disagrees) are for operators, in the logs and in stats.
      console.error("log refused to write", e.refusal);
      return {
        status: 503,
        body: wire("log_unavailable", "The log refused to write: its snapshot store disagrees with it. An operator must investigate."),
        headers: { "Retry-After": "60" },
      };
    case "seal_failed":
      console.error("seal failed", e.detail);
      return { status: 503, body: wire("seal_failed", "The snapshot could not be written now; it will be retried."), headers: { "Retry-After": "30" } };
    case "legal_hold_active":
      return {
        status: 409,
        body: wire(
          "legal_hold_active",
          `Retention cannot be lowered (from ${e.retentionYears} to ${e.requested} years) while a legal hold is on, nor in the change that turns it on or off. Lift the hold first; nothing was changed.`,
        ),
      };
    case "integrity_error":
      // 502: a store behind this server (D1) answered with data the log itself contradicts. A
      // retry will not help; the server's copy is corrupt or was tampered with.
      return {
        status: 502,
        body: wire(
          "integrity_error",
          `The stored copy of entry ${e.seq} is not the entry the signed log holds: it is corrupt or was tampered with. Nothing was served; run a verification, and tell an operator.`,
        ),
      };
    case "internal":
      return { status: 500, body: wire("internal", "Internal error.") };
  }
}
