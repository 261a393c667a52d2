/**
 * Resolves the caller to a tenant (DESIGN.md invariant 1: the tenant comes from the
 * authenticated principal, never from an unchecked client value). Order of refusals:
 * no credential 401; a tenant the caller does not belong to 404 (its existence is not
 * revealed); a missing permission 403.
 */
import { and, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { createMiddleware } from "hono/factory";
import { member } from "../db/auth-schema";
import type { AppEnv, TenantAccess } from "./app-env";
import { parseKeyMetadata } from "./cors";
import { API_KEY_PREFIX, PUBLISHABLE_KEY_CONFIG, PUBLISHABLE_KEY_PREFIX, TENANT_KEY_CONFIG } from "./auth-options";
import { trustedOrigins } from "./auth";
import { Failure } from "./errors";
import { LOG_STATEMENT, PERMISSIONS, permissionsOfRoles, type Permission } from "./permissions";

const SAFE_METHODS = new Set(["GET", "HEAD"]);

/** better-auth ids are 32 alphanumeric characters; anything else names no tenant. */
const TENANT_ID = /^[A-Za-z0-9_-]{1,64}$/;

function apiKeyOf(headers: Headers): string | undefined {
  const header = headers.get("x-api-key");
  if (header) return header;
  const bearer = headers.get("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1];
  return bearer?.startsWith(API_KEY_PREFIX) || bearer?.startsWith(PUBLISHABLE_KEY_PREFIX) ? bearer : undefined;
}

/** The allowed origins stored with a publishable key. */
export function allowedOriginsOf(metadata: unknown): string[] {
  const parsed = typeof metadata === "string" ? parseKeyMetadata(metadata) : metadata;
  const origins = (parsed as { allowed_origins?: unknown } | null)?.allowed_origins;
  return Array.isArray(origins) ? origins.filter((o): o is string => typeof o === "string") : [];
}

export const tenantAccess = createMiddleware<AppEnv>(async (c, next) => {
  // CORS preflights carry no credentials; the ingest route answers them itself (cors.ts).
  if (c.req.method === "OPTIONS") return next();
  const auth = c.var.auth;
  const tenantId = c.req.param("t") ?? "";
  const key = apiKeyOf(c.req.raw.headers);
  let access: TenantAccess;

  if (key !== undefined) {
    const publishable = key.startsWith(PUBLISHABLE_KEY_PREFIX);
    const result = await auth.api.verifyApiKey({ body: { key, configId: publishable ? PUBLISHABLE_KEY_CONFIG : TENANT_KEY_CONFIG } });
    if (!result.valid || !result.key) {
      if (result.error?.code === "RATE_LIMITED") {
        // better-auth spreads the APIError body, which carries `details.tryAgainIn` (ms).
        const { details } = result.error as { details?: { tryAgainIn?: number } };
        const tryAgainIn = details?.tryAgainIn ?? 1000;
        throw new Failure({ reason: "rate_limited", retryAfterSeconds: Math.max(1, Math.ceil(tryAgainIn / 1000)) });
      }
      throw new Failure({ reason: "unauthenticated" });
    }
    if (result.key.referenceId !== tenantId) throw new Failure({ reason: "not_found", what: "Tenant" });
    const granted = (result.key.permissions?.[LOG_STATEMENT] ?? []).filter((p): p is Permission =>
      (PERMISSIONS as readonly string[]).includes(p),
    );
    if (publishable) {
      // A publishable key works only from the browser origins it was issued for, and only appends.
      const origin = c.req.header("origin");
      if (!origin || !allowedOriginsOf(result.key.metadata).includes(origin)) {
        throw new Failure({ reason: "origin_not_allowed", origin: origin ?? null });
      }
      access = { tenantId, principal: { type: "publishable_key", keyId: result.key.id, origin }, permissions: new Set(granted.filter((p) => p === "append")) };
    } else {
      access = { tenantId, principal: { type: "api_key", keyId: result.key.id }, permissions: new Set(granted) };
    }
  } else {
    const session = await auth.api.getSession({ headers: c.req.raw.headers });
    if (!session) throw new Failure({ reason: "unauthenticated" });
    // A cookie is sent by the browser whatever page made the request: a change made while one
    // is present must come from a page of this site (CSRF), as better-auth's own routes require.
    // (better-auth falls back to the cookie when a bearer token is bad, so the check keys on the
    // cookie, not on the absence of a bearer token.) Clients without cookies are unaffected.
    if (!SAFE_METHODS.has(c.req.method) && c.req.header("cookie")) {
      const origin = c.req.header("origin") ?? null;
      if (origin === null || !trustedOrigins(c.env).includes(origin)) throw new Failure({ reason: "cross_site_request", origin });
    }
    if (!TENANT_ID.test(tenantId)) throw new Failure({ reason: "not_found", what: "Tenant" });
    const row = await drizzle(c.env.DB)
      .select({ role: member.role })
      .from(member)
      .where(and(eq(member.organizationId, tenantId), eq(member.userId, session.user.id)))
      .get();
    if (!row) throw new Failure({ reason: "not_found", what: "Tenant" });
    access = {
      tenantId,
      principal: { type: "user", userId: session.user.id, sessionId: session.session.id },
      permissions: permissionsOfRoles(row.role),
    };
  }
  c.set("access", access);
  await next();
});

/** Passes if the caller holds any one of `permissions`. */
export const requirePermission = (...permissions: [Permission, ...Permission[]]) =>
  createMiddleware<AppEnv>(async (c, next) => {
    if (!permissions.some((p) => c.var.access.permissions.has(p))) {
      throw new Failure({ reason: "forbidden", missing: permissions.join('" or "') });
    }
    await next();
  });
