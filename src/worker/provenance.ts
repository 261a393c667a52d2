import type { Context } from "hono";
import type { JsonObject } from "../core/entry";
import type { AppEnv } from "./app-env";

const clip = (s: string | undefined, max: number) => (s === undefined ? undefined : s.slice(0, max));

/**
 * Provenance stamped by the server into every entry: who appended it and from where. The
 * client cannot set any of it. Absent values are left out rather than written as null.
 * Events sent from browsers with a publishable key carry principal_type "publishable_key"
 * and the verified origin.
 */
export function provenance(c: Context<AppEnv>): JsonObject {
  const { principal } = c.var.access;
  const fields: Record<string, string | undefined> = {
    principal_type: principal.type,
    principal_id: principal.type === "user" ? principal.userId : principal.type === "viewer_token" ? principal.tokenId : principal.keyId,
    key_id: principal.type === "user" || principal.type === "viewer_token" ? undefined : principal.keyId,
    ip: clip(c.req.header("cf-connecting-ip"), 64),
    user_agent: clip(c.req.header("user-agent"), 512),
    origin: clip(c.req.header("origin"), 256),
    // cf-ray when Cloudflare sets it; clipped, as a client can send one where it does not.
    request_id: clip(c.var.requestId, 128),
  };
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v.isWellFormed() ? v : v.toWellFormed();
  return out;
}
