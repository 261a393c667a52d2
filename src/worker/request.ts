/** Reading and validating request input at the boundary; every refusal is a Failure. */
import type { Context } from "hono";
import type { z } from "zod";
import { readBounded } from "../core/bytes";
import type { JsonValue } from "../core/jcs";
import type { AppEnv } from "./app-env";
import { Failure, type InvalidInput, type SchemaRefusal } from "./errors";
import { LIMITS } from "./event-schema";
import { readJson } from "../core/strict-json";

/**
 * For routes whose body is optional: `{}` when the request sends none (no Content-Length, or 0,
 * and not chunked), else the body read as `readJsonBody` reads it.
 */
export async function readOptionalJsonBody(c: Context<AppEnv>): Promise<JsonValue> {
  const sent = (c.req.header("content-length") ?? "0") !== "0" || c.req.header("transfer-encoding") !== undefined;
  return sent ? readJsonBody(c) : {};
}

/** Reads a JSON body under the size limit, strictly (see strict-json.ts). */
export async function readJsonBody(c: Context<AppEnv>): Promise<JsonValue> {
  const type = c.req.header("content-type") ?? null;
  if (!type || !/^application\/json\s*(;|$)/i.test(type)) {
    throw new Failure({ reason: "unsupported_media_type", got: type });
  }
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > LIMITS.maxBodyBytes) throw new Failure({ reason: "body_too_large", limit: LIMITS.maxBodyBytes });
  const bytes = await readCapped(c.req.raw.body, LIMITS.maxBodyBytes);
  const parsed = readJson(bytes, LIMITS.maxBodyDepth);
  if (!parsed.ok) throw new Failure(parsed.error);
  return parsed.value;
}

/** Reads a stream into memory, refusing it as soon as it passes `limit` bytes. */
export async function readCapped(body: ReadableStream<Uint8Array> | null, limit: number): Promise<Uint8Array> {
  const bytes = await readBounded(body, limit);
  if (!bytes) throw new Failure({ reason: "body_too_large", limit });
  return bytes;
}

/** A schema's own refusals (event-schema.ts sets `params: { reason }` on its refinements). */
const SCHEMA_REFUSALS: ReadonlySet<string> = new Set<SchemaRefusal>(["reserved_action", "event_too_deep", "event_too_large"]);

/**
 * Parses with a zod schema; the first issue becomes the error the client sees: a refusal the
 * schema names itself, `unknown_field`, or else `invalid` (what was being validated).
 */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, invalid: InvalidInput = "invalid_event"): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const named = issue.code === "custom" ? (issue.params as { reason?: string } | undefined)?.reason : undefined;
  let reason: InvalidInput | SchemaRefusal = invalid;
  if (named !== undefined && SCHEMA_REFUSALS.has(named)) reason = named as SchemaRefusal;
  else if (issue.code === "unrecognized_keys") reason = "unknown_field";
  throw new Failure({ reason, path: issue.path.join("."), message: issue.message });
}
