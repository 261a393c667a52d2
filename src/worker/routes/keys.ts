/**
 * /v1/tenants/:t/keys: API keys owned by the tenant (better-auth organization-owned keys),
 * each with its own permissions. Managing keys needs `admin` and a signed-in member: a key
 * cannot mint keys (better-auth checks the creating member's role as well). These routes are
 * the only way to create, change or revoke a key (better-auth's own /api/auth/api-key/* routes
 * are refused, auth-routes.ts), and every change is an entry in the tenant's log. A key records
 * who created it (`created_by` in its metadata); when that person leaves the tenant, is
 * removed, or loses the `admin` permission (a role change), the key is revoked
 * (`revokeKeysCreatedBy`, called by membership-log.ts).
 */
import { and, desc, eq, inArray } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono, type Context } from "hono";
import { z } from "zod";
import { apikey } from "../../db/auth-schema";
import type { AppEnv } from "../app-env";
import { PUBLISHABLE_KEY_CONFIG, TENANT_KEY_CONFIG } from "../auth-options";
import { Failure } from "../errors";
import { LOG_STATEMENT, PERMISSIONS } from "../permissions";
import { readJsonBody } from "../request";
import { recordAccess } from "../access-log";
import { bodyOf, LOG_APPEND, route } from "../route-spec";
import { parseKeyMetadata } from "../cors";
import { allowedOriginsOf, keyTermsOf, requirePermission, verifiedKeys } from "../tenant-access";
import { checkView } from "../../core/views";
import type { JsonObject } from "../../core/entry";

/** An origin as browsers send it: scheme, host and optional port; no path, no wildcard. */
const Origin = z
  .string()
  .max(256)
  .regex(/^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?$/, "an origin such as https://app.example.com");

export const MAX_ALLOWED_ORIGINS = 20;
/** The longest a key may be made to last with an expiry: 5 years. */
export const MAX_KEY_SECONDS = 5 * 366 * 86_400;

const CreateKey = z
  .strictObject({
    name: z.string().min(1).max(64),
    permissions: z
      .array(z.enum(PERMISSIONS))
      .min(1)
      .refine((p) => new Set(p).size === p.length, "permissions must not repeat"),
    // With allowed_origins the key is a publishable ingest key for browsers: append only.
    allowed_origins: z.array(Origin).min(1).max(MAX_ALLOWED_ORIGINS).optional(),
    expires_at: z.iso.datetime({ offset: true }).optional().describe("when the key stops working (RFC 3339), in the future"),
    expires_in_seconds: z.number().int().min(1).max(MAX_KEY_SECONDS).optional().describe("or: seconds from now"),
    view: z
      .unknown()
      .superRefine((v, ctx) => {
        const r = checkView(v);
        if (!r.ok) ctx.addIssue({ code: "custom", message: r.message });
      })
      .optional()
      .describe("narrows every read through the key (src/core/views.ts): received_from, received_to, action_prefix, actor, target"),
  })
  .refine((k) => !k.allowed_origins || (k.permissions.length === 1 && k.permissions[0] === "append"), {
    message: "a key with allowed_origins (a publishable key) may only have the append permission",
    path: ["permissions"],
  })
  .refine((k) => k.expires_at === undefined || k.expires_in_seconds === undefined, {
    message: "give expires_at or expires_in_seconds, not both",
    path: ["expires_at"],
  })
  .refine((k) => k.view === undefined || !k.allowed_origins, {
    message: "a view narrows reads: a publishable key only appends",
    path: ["view"],
  })
  // An admin key manages streams (which read the whole log), keys, settings and holds: a view
  // could not hold it to a slice, so the two are refused together.
  .refine((k) => k.view === undefined || !k.permissions.includes("admin"), {
    message: "a key with a view cannot have the admin permission (streams, keys and settings are not narrowed by a view)",
    path: ["view"],
  });

function memberOnly(c: Context<AppEnv>): string {
  const { principal } = c.var.access;
  if (principal.type !== "user") {
    throw new Failure({ reason: "forbidden", missing: "admin (as a signed-in member)" });
  }
  return principal.userId;
}

const KeyView = z.object({
  id: z.string(),
  name: z.string().nullable(),
  type: z.enum(["secret", "publishable"]),
  start: z.string().nullable().describe("the key's first characters"),
  allowed_origins: z.array(z.string()).optional().describe("publishable keys only"),
  permissions: z.array(z.string()),
  enabled: z.boolean().nullable(),
  created_by: z.string().nullable().describe("the member who created it; the key is revoked when they leave"),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  expires_at: z.string().nullable().describe("when it stops working; null: never"),
  expired: z.boolean(),
  view: z.record(z.string(), z.unknown()).optional().describe("the view its reads are narrowed to; absent: the whole log"),
});

const ADMIN = ["admin"] as const;
const MEMBER = "signed-in members only (not API keys)";

export const KEY_ROUTES = {
  create: route({
    method: "post",
    path: "/v1/tenants/{t}/keys",
    summary: "Create an API key (shown once; logged); allowed_origins makes a publishable (browser) ingest key, append only",
    permissions: ADMIN,
    access: MEMBER,
    body: CreateKey,
    invalid: "invalid_key_request",
    response: z.object({
      id: z.string(),
      key: z.string().describe("the secret, shown this once"),
      name: z.string(),
      type: z.enum(["secret", "publishable"]),
      permissions: z.array(z.enum(PERMISSIONS)),
      allowed_origins: z.array(z.string()).optional(),
      expires_at: z.string().optional(),
      view: z.record(z.string(), z.unknown()).optional(),
      created_at: z.string(),
    }),
    status: 201,
    errors: LOG_APPEND,
  }),
  list: route({
    method: "get",
    path: "/v1/tenants/{t}/keys",
    summary: "List API keys (without secrets)",
    permissions: ADMIN,
    access: MEMBER,
    response: z.object({ keys: z.array(KeyView) }),
    errors: [],
  }),
  update: route({
    method: "patch",
    path: "/v1/tenants/{t}/keys/{id}",
    summary: "Change a publishable key's allowed origins (logged)",
    permissions: ADMIN,
    access: MEMBER,
    body: z.strictObject({ allowed_origins: z.array(Origin).min(1).max(MAX_ALLOWED_ORIGINS) }),
    invalid: "invalid_key_request",
    response: z.object({ id: z.string(), allowed_origins: z.array(z.string()) }),
    errors: ["not_found", ...LOG_APPEND],
  }),
  revoke: route({
    method: "delete",
    path: "/v1/tenants/{t}/keys/{id}",
    summary: "Revoke an API key (logged)",
    permissions: ADMIN,
    access: MEMBER,
    response: z.object({ id: z.string(), revoked: z.literal(true) }),
    errors: ["not_found", ...LOG_APPEND],
  }),
};

/** Who created a key (a user id), from its metadata; null for keys made before this was recorded. */
export function keyCreator(metadata: string | null): string | null {
  const createdBy = (parseKeyMetadata(metadata) as { created_by?: unknown } | null)?.created_by;
  return typeof createdBy === "string" ? createdBy : null;
}

/**
 * Revokes every key of `tenant` that `userId` created, because they are leaving the tenant or
 * being removed from it (`reason`). Each key is deleted, forgotten by this isolate's cache, and
 * then its revocation is appended, with the acting person (c.var.access) as the actor. A failed
 * append throws: the caller (a membership hook) then refuses the membership change, and the keys
 * revoked so far stay revoked (the safe side); a retry revokes the rest.
 */
export async function revokeKeysCreatedBy(
  c: Context<AppEnv>,
  tenant: string,
  userId: string,
  reason: "creator_removed" | "creator_left" | "creator_demoted",
) {
  const db = drizzle(c.env.DB);
  const rows = await db
    .select({ id: apikey.id, metadata: apikey.metadata })
    .from(apikey)
    .where(and(eq(apikey.referenceId, tenant), inArray(apikey.configId, [TENANT_KEY_CONFIG, PUBLISHABLE_KEY_CONFIG])));
  for (const row of rows.filter((r) => keyCreator(r.metadata) === userId)) {
    const removed = await db
      .delete(apikey)
      .where(and(eq(apikey.id, row.id), eq(apikey.referenceId, tenant)))
      .returning({ id: apikey.id });
    if (removed.length === 0) continue;
    verifiedKeys.evictKey(row.id, Date.now());
    // Revoked first, then logged, as in DELETE /keys/:id.
    await recordAccess(c, "sealtrail.key.revoked", { id: row.id, type: "api_key" }, { reason, created_by: userId });
  }
}

/** A key's expiry and view, as the list shows them. */
function termsView(metadata: string | null) {
  const terms = keyTermsOf(metadata);
  return {
    expires_at: terms.expiresAtMs === null ? null : new Date(terms.expiresAtMs).toISOString(),
    expired: terms.expiresAtMs !== null && terms.expiresAtMs <= Date.now(),
    ...(terms.view ? { view: terms.view } : {}),
  };
}

const keyPermissions = (stored: string | null): string[] => {
  const parsed = stored ? (JSON.parse(stored) as Record<string, string[]>) : {};
  return parsed[LOG_STATEMENT] ?? [];
};

export const keys = new Hono<AppEnv>()
  .use(requirePermission(...ADMIN))
  .post("/", async (c) => {
    const userId = memberOnly(c);
    const body = bodyOf(KEY_ROUTES.create, await readJsonBody(c));
    // Server-side call without headers: `permissions` is server-only in better-auth.
    const publishable = body.allowed_origins !== undefined;
    const now = Date.now();
    const expiresAtMs =
      body.expires_at !== undefined
        ? Date.parse(body.expires_at)
        : body.expires_in_seconds !== undefined
          ? now + body.expires_in_seconds * 1000
          : null;
    if (expiresAtMs !== null && (expiresAtMs <= now || expiresAtMs > now + MAX_KEY_SECONDS * 1000)) {
      throw new Failure({
        reason: "invalid_key_request",
        path: "expires_at",
        message: `must be in the future, at most ${MAX_KEY_SECONDS} seconds away`,
      });
    }
    const expires: JsonObject = expiresAtMs === null ? {} : { expires_at: new Date(expiresAtMs).toISOString() };
    const checked = body.view === undefined ? undefined : checkView(body.view);
    const scoped: JsonObject = checked?.ok ? { view: checked.view as JsonObject } : {};
    const created = await c.var.auth.api.createApiKey({
      body: {
        configId: publishable ? PUBLISHABLE_KEY_CONFIG : TENANT_KEY_CONFIG,
        organizationId: c.var.access.tenantId,
        userId,
        name: body.name,
        permissions: { [LOG_STATEMENT]: body.permissions },
        // Our expiry and view live in the metadata (tenant-access.ts keyTermsOf says why not better-auth's expiresIn).
        metadata: { created_by: userId, ...(publishable ? { allowed_origins: body.allowed_origins } : {}), ...expires, ...scoped },
      },
    });
    // Durability point. The key exists now, but nobody holds its secret until this response
    // is sent, and it is sent only after the creation is in the tenant's log. If the append
    // fails, the key is deleted again and the caller gets the append's error (503): an
    // unrecorded key is never handed out. A crash between the two leaves a key whose secret
    // was never shown to anyone (unusable), visible in the key list without a log entry.
    // What the entry records and the response shows (with the secret) are the same description.
    const described = {
      name: body.name,
      type: publishable ? "publishable" : "secret",
      permissions: body.permissions,
      ...(publishable ? { allowed_origins: body.allowed_origins } : {}),
      ...expires,
      ...scoped,
    };
    try {
      await recordAccess(c, "sealtrail.key.created", { id: created.id, type: "api_key" }, described);
    } catch (e) {
      await drizzle(c.env.DB).delete(apikey).where(eq(apikey.id, created.id));
      throw e;
    }
    return c.json({ id: created.id, key: created.key, ...described, created_at: created.createdAt }, 201);
  })
  .get("/", async (c) => {
    memberOnly(c);
    const rows = await drizzle(c.env.DB)
      .select()
      .from(apikey)
      .where(and(eq(apikey.referenceId, c.var.access.tenantId), inArray(apikey.configId, [TENANT_KEY_CONFIG, PUBLISHABLE_KEY_CONFIG])))
      .orderBy(desc(apikey.createdAt));
    return c.json({
      keys: rows.map((k) => ({
        id: k.id,
        name: k.name,
        type: k.configId === PUBLISHABLE_KEY_CONFIG ? "publishable" : "secret",
        start: k.start,
        ...(k.configId === PUBLISHABLE_KEY_CONFIG ? { allowed_origins: allowedOriginsOf(k.metadata) } : {}),
        permissions: keyPermissions(k.permissions),
        enabled: k.enabled,
        created_by: keyCreator(k.metadata),
        created_at: k.createdAt,
        last_used_at: k.lastRequest,
        ...termsView(k.metadata),
      })),
    });
  })
  .patch("/:id", async (c) => {
    memberOnly(c);
    const body = bodyOf(KEY_ROUTES.update, await readJsonBody(c));
    const db = drizzle(c.env.DB);
    const where = and(
      eq(apikey.id, c.req.param("id")),
      eq(apikey.referenceId, c.var.access.tenantId),
      eq(apikey.configId, PUBLISHABLE_KEY_CONFIG),
    );
    const found = await db.select({ id: apikey.id, metadata: apikey.metadata }).from(apikey).where(where).get();
    if (!found) throw new Failure({ reason: "not_found", what: "Publishable key" });
    // Logged first: a change that is applied is always in the log (a logged change whose
    // write then fails shows up as a logged change the key list does not reflect).
    await recordAccess(
      c,
      "sealtrail.key.updated",
      { id: found.id, type: "api_key" },
      {
        before: { allowed_origins: allowedOriginsOf(found.metadata) },
        after: { allowed_origins: body.allowed_origins },
      },
    );
    // Everything else the metadata holds (creator, expiry) is kept.
    const metadata = { ...(parseKeyMetadata(found.metadata) as Record<string, unknown> | null), allowed_origins: body.allowed_origins };
    await db
      .update(apikey)
      .set({ metadata: JSON.stringify(metadata) })
      .where(where);
    return c.json({ id: found.id, allowed_origins: body.allowed_origins });
  })
  .delete("/:id", async (c) => {
    memberOnly(c);
    const removed = await drizzle(c.env.DB)
      .delete(apikey)
      .where(and(eq(apikey.id, c.req.param("id")), eq(apikey.referenceId, c.var.access.tenantId)))
      .returning({ id: apikey.id });
    if (removed.length === 0) throw new Failure({ reason: "not_found", what: "Key" });
    // This isolate stops trusting the key now; others within KEY_CACHE_TTL_MS (key-cache.ts).
    verifiedKeys.evictKey(removed[0]!.id, Date.now());
    // Revoked first, then logged: a failed append leaves the key revoked (the safe side).
    await recordAccess(c, "sealtrail.key.revoked", { id: removed[0]!.id, type: "api_key" });
    return c.json({ id: removed[0]!.id, revoked: true });
  });
