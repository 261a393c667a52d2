/**
 * Each route described once, next to its handler: the handler checks the spec's permissions
 * and validates with the spec's schemas (`queryOf`, `bodyOf`), and openapi.ts documents the
 * same objects, with each route's error codes and statuses taken from errors.ts `HTTP`.
 * test/worker/openapi.test.ts holds the specs to the routes the app serves and to the errors
 * it answers with.
 */
import type { Context } from "hono";
import type { z } from "zod";
import type { JsonValue } from "../core/jcs";
import type { AppEnv } from "./app-env";
import type { ErrorReason, InvalidInput } from "./errors";
import type { Permission } from "./permissions";
import { parseWith } from "./request";

export interface RouteSpec {
  method: "get" | "post" | "put" | "patch" | "delete";
  /** The full path, with `{name}` for Hono's `:name`. */
  path: string;
  summary: string;
  /** A tenant route: the caller needs one of these permissions (tenant-access.ts). */
  permissions?: readonly [Permission, ...Permission[]];
  /** Who may call it, when it is more than `permissions` says (for the reference). */
  access?: string;
  /** The query's schema (refusals: 400 invalid_query). */
  query?: z.ZodObject;
  /** The JSON body's schema, and the code of its refusals. */
  body?: z.ZodType;
  invalid?: InvalidInput;
  /** The body is optional: no body is `{}`. */
  optionalBody?: true;
  /** The JSON response's schema, or the media type of another kind of response. */
  response?: z.ZodType;
  responseType?: string;
  status?: 200 | 201;
  /** The reasons it answers with, besides those its permissions, query and body imply. */
  errors: readonly ErrorReason[];
  /** Errors answered by someone else (better-auth), in their own words. */
  otherErrors?: string;
}

/** A route's spec, its schemas' types kept (for `queryOf` and `bodyOf`). */
export const route = <const S extends RouteSpec>(spec: S): S => spec;

/** tenant-access.ts: no or a bad credential, its rate limit, a tenant it does not reach, a missing permission. */
const TENANT_ACCESS: readonly ErrorReason[] = [
  "unauthenticated",
  "key_expired",
  "rate_limited",
  "cross_site_request",
  "origin_not_allowed",
  "not_found",
  "forbidden",
  // A viewer token (viewer-access.ts): invalid or expired, or used on a route it does not open.
  "viewer_token_invalid",
  "viewer_token_route",
];

/** request.ts `readJsonBody` and strict-json.ts. */
export const JSON_BODY: readonly ErrorReason[] = [
  "unsupported_media_type",
  "body_too_large",
  "invalid_utf8",
  "invalid_json",
  "duplicate_key",
  "reserved_key",
  "lone_surrogate",
  "number_out_of_range",
  "too_deep",
];

/** Any call to a Durable Object (tenant-log.ts `failClosed`). */
export const LOG_CALL: readonly ErrorReason[] = ["log_unavailable"];

/** An append to the tenant's log: the route's own, or `recordAccess` (reads and changes are logged). */
export const LOG_APPEND: readonly ErrorReason[] = ["log_unavailable", "overloaded", "split_view", "entry_too_large"];

/** Every reason a route can answer with: its own and those its spec implies. */
export function errorsOf(spec: RouteSpec): ErrorReason[] {
  const implied: ErrorReason[] = [];
  if (spec.permissions) implied.push(...TENANT_ACCESS);
  if (spec.query) implied.push("invalid_query", "unknown_field");
  if (spec.body) implied.push(...JSON_BODY, spec.invalid ?? "invalid_event", "unknown_field");
  return [...new Set([...implied, ...spec.errors, "internal" as const])];
}

/** The request's query, parsed with the route's schema. */
export const queryOf = <S extends RouteSpec & { query: z.ZodObject }>(c: Context<AppEnv>, spec: S): z.infer<S["query"]> =>
  parseWith<S["query"]>(spec.query, c.req.query(), "invalid_query");

/** A JSON body (read with request.ts `readJsonBody`), parsed with the route's schema. */
export const bodyOf = <S extends RouteSpec & { body: z.ZodType; invalid: InvalidInput }>(spec: S, body: JsonValue): z.infer<S["body"]> =>
  parseWith<S["body"]>(spec.body, body, spec.invalid);
