/**
 * CORS for browser ingest (POST /v1/tenants/:t/events with a publishable key). Only origins
 * listed on one of the tenant's publishable keys get a preflight answer or CORS headers;
 * every other route, and every other credential, stays same-origin. Console sessions use
 * cookies on the Worker's own origin and need none of this.
 */
import { and, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { createMiddleware } from "hono/factory";
import { apikey } from "../db/auth-schema";
import type { AppEnv } from "./app-env";
import { PUBLISHABLE_KEY_CONFIG } from "./auth-options";
import { Failure } from "./errors";

const ALLOWED_HEADERS = "content-type, x-api-key, authorization, idempotency-key, prefer";
const PREFLIGHT_MAX_AGE_SECONDS = "600";

/** better-auth stores key metadata as JSON text (older versions stringified it twice). */
export function parseKeyMetadata(stored: string | null): unknown {
  let value: unknown = stored;
  for (let i = 0; i < 2 && typeof value === "string"; i++) {
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  return value;
}

async function tenantOrigins(db: D1Database, tenant: string): Promise<Set<string>> {
  const rows = await drizzle(db)
    .select({ metadata: apikey.metadata, enabled: apikey.enabled })
    .from(apikey)
    .where(and(eq(apikey.referenceId, tenant), eq(apikey.configId, PUBLISHABLE_KEY_CONFIG)));
  const origins = new Set<string>();
  for (const r of rows) {
    if (r.enabled === false) continue;
    const allowed = (parseKeyMetadata(r.metadata) as { allowed_origins?: unknown } | null)?.allowed_origins;
    if (Array.isArray(allowed)) for (const o of allowed) if (typeof o === "string") origins.add(o);
  }
  return origins;
}

export const ingestCors = createMiddleware<AppEnv>(async (c, next) => {
  const origin = c.req.header("origin");
  if (c.req.method === "OPTIONS") {
    const allowed =
      origin !== undefined &&
      c.req.header("access-control-request-method") === "POST" &&
      (await tenantOrigins(c.env.DB, c.req.param("t") ?? "")).has(origin);
    if (!allowed) throw new Failure({ reason: "preflight_refused" });
    return c.body(null, 204, {
      "access-control-allow-origin": origin,
      "access-control-allow-methods": "POST",
      "access-control-allow-headers": ALLOWED_HEADERS,
      "access-control-max-age": PREFLIGHT_MAX_AGE_SECONDS,
      vary: "Origin",
    });
  }
  await next();
  const principal = c.get("access")?.principal;
  if (origin !== undefined && principal?.type === "publishable_key" && principal.origin === origin) {
    c.res.headers.set("access-control-allow-origin", origin);
    c.res.headers.set("access-control-expose-headers", "X-Request-Id, Retry-After, Preference-Applied");
    c.res.headers.append("vary", "Origin");
  }
});
