/**
 * Resolves the caller to a tenant (docs/design.md invariant 1: the tenant comes from the
 * authenticated principal, never from an unchecked client value). Order of refusals:
 * no credential 401; a tenant the caller does not belong to 404 (its existence is not
 * revealed); a missing permission 403.
 */
import { and, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { defaultKeyHasher } from "@better-auth/api-key";
import { sha256Hex } from "../core/hash";
import { apikey, member } from "../db/auth-schema";
import type { AppEnv, TenantAccess } from "./app-env";
import { parseKeyMetadata } from "./cors";
import { API_KEY_PREFIX, API_KEY_RATE_LIMIT, PUBLISHABLE_KEY_CONFIG, PUBLISHABLE_KEY_PREFIX, TENANT_KEY_CONFIG } from "./auth-options";
import { trustedOrigins } from "./auth-options";
import { Failure } from "./errors";
import { KEY_CACHE_TTL_MS, VerifiedKeyCache, type VerifiedKey } from "./key-cache";
import { LOG_STATEMENT, PERMISSIONS, permissionsOfRoles, type Permission } from "./permissions";
import { viewerTokenAccess } from "./viewer-access";
import { checkView, isWholeLog, type View } from "../core/views";
import { recordAccess } from "./access-log";
import { boundedAccessOf } from "./grants";

const SAFE_METHODS = new Set(["GET", "HEAD"]);

/** better-auth ids are 32 alphanumeric characters; anything else names no tenant. */
export const TENANT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Whether a request carries any credential tenantAccess would read (a key, a bearer token, a cookie). */
export const hasCredential = (headers: Headers): boolean =>
  headers.has("x-api-key") || headers.has("authorization") || headers.has("cookie");

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

/**
 * Verified secret keys of this isolate (key-cache.ts). A cached entry serves at most the
 * requests the key's rate limit allows per TTL before better-auth counts the key again.
 */
export const verifiedKeys = new VerifiedKeyCache(
  KEY_CACHE_TTL_MS,
  Math.ceil((API_KEY_RATE_LIMIT.maxRequests * KEY_CACHE_TTL_MS) / API_KEY_RATE_LIMIT.timeWindow),
);

/** What Sealtrail stores in a key's metadata besides better-auth's own fields (routes/keys.ts). */
export interface KeyTerms {
  /** When the key stops working (ms since the epoch), or null. */
  expiresAtMs: number | null;
  /** The view its reads are narrowed to, or undefined for the whole log. */
  view?: View;
}

/**
 * A key's expiry and view, from its metadata. Our own expiry, not better-auth's `expiresAt`:
 * better-auth deletes an expired key when it is next verified, which would turn a clear
 * `key_expired` into "no such key" and leave nothing to list. A view that no longer checks (it
 * was stored checked) sees nothing: fail closed.
 */
export function keyTermsOf(metadata: unknown): KeyTerms {
  // better-auth's verification hands metadata back parsed, with ISO timestamps revived as Dates:
  // a JSON round trip turns them back into the strings we stored (toISOString is the stored form).
  const plain = typeof metadata === "string" ? parseKeyMetadata(metadata) : metadata == null ? null : JSON.parse(JSON.stringify(metadata));
  const parsed = plain as { expires_at?: unknown; view?: unknown } | null;
  const at = typeof parsed?.expires_at === "string" ? Date.parse(parsed.expires_at) : Number.NaN;
  const expiresAtMs = parsed?.expires_at === undefined ? null : Number.isNaN(at) ? 0 : at;
  if (parsed?.view === undefined) return { expiresAtMs };
  const checked = checkView(parsed.view);
  return {
    expiresAtMs,
    view: checked.ok ? checked.view : { received_from: "9999-12-31T00:00:00.000Z", received_to: "9999-12-31T00:00:00.001Z" },
  };
}

/**
 * Refuses an expired key (401 key_expired). The first refusal after the expiry disables the key
 * (a conditional write: one request wins) and logs `sealtrail.key.expired` in the key's tenant,
 * with the key as the actor; later refusals find it disabled and log nothing. If that append
 * fails, the key is enabled again (so a later use logs it) and the append's error is answered.
 */
async function refuseExpired(
  c: Context<AppEnv>,
  keyId: string,
  tenantId: string,
  expiresAtMs: number,
  type: "api_key" | "publishable_key",
) {
  const db = drizzle(c.env.DB);
  verifiedKeys.evictKey(keyId, Date.now());
  const expiredAt = new Date(expiresAtMs).toISOString();
  const first = await db
    .update(apikey)
    .set({ enabled: false })
    .where(and(eq(apikey.id, keyId), eq(apikey.enabled, true)))
    .returning({ id: apikey.id });
  if (first.length > 0) {
    const principal = type === "api_key" ? { type, keyId } : { type, keyId, origin: c.req.header("origin") ?? "" };
    c.set("access", { tenantId, principal, permissions: new Set() });
    try {
      await recordAccess(
        c,
        "sealtrail.key.expired",
        { id: keyId, type: "api_key" },
        { expired_at: expiredAt, noticed: "first use after expiry" },
      );
    } catch (e) {
      await db.update(apikey).set({ enabled: true }).where(eq(apikey.id, keyId));
      throw e;
    }
  }
  throw new Failure({ reason: "key_expired", expiredAt });
}

/** A key better-auth refused as disabled: 401 key_expired if it is disabled because it expired, else unauthenticated. */
async function refusedDisabled(db: D1Database, key: string): Promise<never> {
  const row = await drizzle(db)
    .select({ metadata: apikey.metadata })
    .from(apikey)
    .where(eq(apikey.key, await defaultKeyHasher(key)))
    .get();
  const { expiresAtMs } = keyTermsOf(row?.metadata ?? null);
  if (expiresAtMs !== null && expiresAtMs <= Date.now()) {
    throw new Failure({ reason: "key_expired", expiredAt: new Date(expiresAtMs).toISOString() });
  }
  throw new Failure({ reason: "unauthenticated" });
}

/** better-auth's verification (D1 reads, and writes of last_request and rate-limit counters). */
async function verifyWithAuth(c: Context<AppEnv>, key: string, configId: string): Promise<VerifiedKey & { metadata: unknown }> {
  const result = await c.var.auth.api.verifyApiKey({ body: { key, configId } });
  if (!result.valid || !result.key) {
    if (result.error?.code === "KEY_DISABLED") await refusedDisabled(c.env.DB, key);
    if (result.error?.code === "RATE_LIMITED") {
      // better-auth spreads the APIError body, which carries `details.tryAgainIn` (ms).
      const { details } = result.error as { details?: { tryAgainIn?: number } };
      const tryAgainIn = details?.tryAgainIn ?? 1000;
      throw new Failure({ reason: "rate_limited", retryAfterSeconds: Math.max(1, Math.ceil(tryAgainIn / 1000)) });
    }
    throw new Failure({ reason: "unauthenticated" });
  }
  const granted = (result.key.permissions?.[LOG_STATEMENT] ?? []).filter((p): p is Permission =>
    (PERMISSIONS as readonly string[]).includes(p),
  );
  const theirs = result.key.expiresAt ? new Date(result.key.expiresAt).getTime() : null;
  const terms = keyTermsOf(result.key.metadata);
  const expiresAtMs = theirs === null ? terms.expiresAtMs : Math.min(theirs, terms.expiresAtMs ?? Infinity);
  return {
    keyId: result.key.id,
    tenantId: result.key.referenceId,
    permissions: granted,
    expiresAtMs,
    ...(terms.view && !isWholeLog(terms.view) ? { view: terms.view } : {}),
    metadata: result.key.metadata,
  };
}

/**
 * The checks of a publishable key that must not cost its rate budget: the stored key (found by
 * better-auth's own hash of it, as better-auth looks it up) must exist, be a publishable key in
 * use, belong to this tenant (else 404) and list this request's Origin (else 403). Reads one D1
 * row and writes nothing; better-auth then verifies (and counts) only requests that pass.
 */
async function precheckPublishable(c: Context<AppEnv>, key: string, tenantId: string, origin: string | undefined): Promise<void> {
  const row = await drizzle(c.env.DB)
    .select({
      id: apikey.id,
      configId: apikey.configId,
      referenceId: apikey.referenceId,
      enabled: apikey.enabled,
      expiresAt: apikey.expiresAt,
      metadata: apikey.metadata,
    })
    .from(apikey)
    .where(eq(apikey.key, await defaultKeyHasher(key)))
    .get();
  const expired = row?.expiresAt != null && row.expiresAt.getTime() < Date.now();
  // Our own expiry (keyTermsOf), refused as such before anything else about the key.
  const ours = row && row.configId === PUBLISHABLE_KEY_CONFIG ? keyTermsOf(row.metadata).expiresAtMs : null;
  if (row && ours !== null && ours <= Date.now()) {
    if (row.enabled === false) throw new Failure({ reason: "key_expired", expiredAt: new Date(ours).toISOString() });
    await refuseExpired(c, row.id, row.referenceId, ours, "publishable_key");
  }
  if (!row || row.configId !== PUBLISHABLE_KEY_CONFIG || row.enabled === false || expired) throw new Failure({ reason: "unauthenticated" });
  if (row.referenceId !== tenantId) throw new Failure({ reason: "not_found", what: "Tenant" });
  if (!origin || !allowedOriginsOf(row.metadata).includes(origin))
    throw new Failure({ reason: "origin_not_allowed", origin: origin ?? null });
}

/**
 * A cookie is sent by the browser whatever page made the request: a request made while one is
 * present must come from a page of this site (CSRF). Reads too: every read is logged in the
 * reader's name with its query, so a link or an <img> on another site must not make one with
 * the victim's cookie. The console's own requests are same-origin; "none" is an address the
 * person typed or a bookmark. A sibling subdomain ("same-site") is another origin with code
 * this log does not vouch for: refused too, unless it is one of TRUSTED_ORIGINS (whose fetches
 * carry their Origin). A change must also carry a trusted Origin, as better-auth's own routes
 * require. (better-auth falls back to the cookie when a bearer token is bad, so the check keys
 * on the cookie, not on the absence of a bearer token.) Requests without a cookie (bearer
 * tokens, keys) and clients that send no Sec-Fetch-Site (curl, older browsers) pass.
 */
export function refuseCrossSite(c: Context<AppEnv>): void {
  if (!c.req.header("cookie")) return;
  const origin = c.req.header("origin") ?? null;
  const site = c.req.header("sec-fetch-site")?.toLowerCase();
  const trusted = origin !== null && trustedOrigins(c.env).includes(origin);
  if ((site === "cross-site" || site === "same-site") && !trusted) throw new Failure({ reason: "cross_site_request", origin });
  if (!SAFE_METHODS.has(c.req.method) && !trusted) throw new Failure({ reason: "cross_site_request", origin });
}

export const tenantAccess = createMiddleware<AppEnv>(async (c, next) => {
  // CORS preflights carry no credentials; the ingest route answers them itself (cors.ts).
  if (c.req.method === "OPTIONS") return next();
  const auth = c.var.auth;
  const tenantId = c.req.param("t") ?? "";
  const key = apiKeyOf(c.req.raw.headers);
  let access: TenantAccess;

  const viewer = await viewerTokenAccess(c, tenantId);
  if (viewer) {
    access = viewer;
  } else if (key !== undefined) {
    const publishable = key.startsWith(PUBLISHABLE_KEY_PREFIX);
    if (publishable) {
      // A publishable key works only from the browser origins it was issued for, and only appends.
      // Anyone can copy it from a page and send it from anywhere: the tenant and the origin are
      // checked against the stored key first, so that only requests that pass them reach
      // better-auth, whose verification counts the key's rate limit.
      const origin = c.req.header("origin");
      await precheckPublishable(c, key, tenantId, origin);
      const verified = await verifyWithAuth(c, key, PUBLISHABLE_KEY_CONFIG);
      // Checked again on the verified key (its origins may have changed since the precheck).
      if (verified.tenantId !== tenantId) throw new Failure({ reason: "not_found", what: "Tenant" });
      if (!origin || !allowedOriginsOf(verified.metadata).includes(origin)) {
        throw new Failure({ reason: "origin_not_allowed", origin: origin ?? null });
      }
      access = {
        tenantId,
        principal: { type: "publishable_key", keyId: verified.keyId, origin },
        permissions: new Set(verified.permissions.filter((p) => p === "append")),
      };
    } else {
      // Secret keys: better-auth (and its D1 writes) once per KEY_CACHE_TTL_MS per isolate (key-cache.ts).
      // SHA-256 of the key (hex): the cache never holds a key itself.
      const digest = sha256Hex(key);
      let verified: VerifiedKey | undefined = verifiedKeys.get(digest, Date.now());
      if (!verified) {
        // The TTL counts from before the verification: nothing verified before a revocation
        // is trusted later than the revocation plus KEY_CACHE_TTL_MS.
        const startedMs = Date.now();
        verified = await verifyWithAuth(c, key, TENANT_KEY_CONFIG);
        // An expired key is refused (and its expiry logged once), never cached.
        if (verified.expiresAtMs !== null && verified.expiresAtMs <= Date.now()) {
          await refuseExpired(c, verified.keyId, verified.tenantId, verified.expiresAtMs, "api_key");
        }
        verifiedKeys.set(digest, verified, startedMs);
      }
      if (verified.tenantId !== tenantId) throw new Failure({ reason: "not_found", what: "Tenant" });
      access = {
        tenantId,
        principal: { type: "api_key", keyId: verified.keyId },
        permissions: new Set(verified.permissions),
        ...(verified.view ? { view: verified.view } : {}),
        ...(verified.expiresAtMs !== null ? { expiresAtMs: verified.expiresAtMs } : {}),
      };
    }
  } else {
    const session = await auth.api.getSession({ headers: c.req.raw.headers });
    if (!session) throw new Failure({ reason: "unauthenticated" });
    // A cookie is sent by the browser whatever page made the request: a request made while one
    // is present must come from a page of this site (CSRF); a change must also carry an Origin
    // of this site, as better-auth's own routes require.
    // (better-auth falls back to the cookie when a bearer token is bad, so the check keys on the
    // cookie, not on the absence of a bearer token.) Clients without cookies are unaffected.
    refuseCrossSite(c);
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
    // Grants and approved elevations in force now (checked on every request: no job ends them);
    // ended ones are logged here, the first time they are noticed (grants.ts).
    c.set("access", access);
    const bounded = await boundedAccessOf(c, tenantId, session.user.id, Date.now());
    if (bounded.length > 0) access = { ...access, bounded };
  }
  c.set("access", access);
  await next();
});

/**
 * Passes if the caller holds any one of `permissions`: by its role or key, else by a grant or an
 * approved elevation in force now (grants.ts). Using one of those is logged
 * (`sealtrail.grant.used` / `sealtrail.elevation.used`: which, for what route, its reason) and
 * marks the request (`via`; a grant's view then narrows every read of the request).
 */
export async function usePermission(c: Context<AppEnv>, permissions: readonly Permission[]): Promise<void> {
  const access = c.var.access;
  if (permissions.some((p) => access.permissions.has(p))) return;
  const now = Date.now();
  const use = access.bounded?.find((b) => b.expiresAtMs > now && permissions.some((p) => b.permissions.includes(p)));
  if (!use) throw new Failure({ reason: "forbidden", missing: permissions.join('" or "') });
  const view = use.view && !isWholeLog(use.view) ? use.view : undefined;
  c.set("access", {
    tenantId: access.tenantId,
    principal: access.principal,
    permissions: new Set([...access.permissions, ...use.permissions]),
    ...(view ? { view } : {}),
    via: { kind: use.kind, id: use.id },
    expiresAtMs: Math.min(access.expiresAtMs ?? Infinity, use.expiresAtMs),
  });
  await recordAccess(
    c,
    `sealtrail.${use.kind}.used`,
    { id: use.id, type: use.kind },
    {
      permission: permissions.find((p) => use.permissions.includes(p))!,
      route: `${c.req.method} ${new URL(c.req.url).pathname}`,
      reason: use.reason,
      expires_at: new Date(use.expiresAtMs).toISOString(),
    },
  );
}

/** Passes if the caller holds any one of `permissions` (usePermission). */
export const requirePermission = (...permissions: [Permission, ...Permission[]]) =>
  createMiddleware<AppEnv>(async (c, next) => {
    await usePermission(c, permissions);
    await next();
  });
