/**
 * /v1/tenants/:t/keys: API keys owned by the tenant (better-auth organization-owned keys),
 * each with its own permissions. Managing keys needs `admin` and a signed-in member: a key
 * cannot mint keys (better-auth checks the creating member's role as well).
 */
import { and, desc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono, type Context } from "hono";
import { z } from "zod";
import { apikey } from "../../db/auth-schema";
import type { AppEnv } from "../app-env";
import { TENANT_KEY_CONFIG } from "../auth-options";
import { Failure } from "../errors";
import { LOG_STATEMENT, PERMISSIONS } from "../permissions";
import { parseWith, readJsonBody } from "../request";
import { requirePermission } from "../tenant-access";

const CreateKey = z.strictObject({
  name: z.string().min(1).max(64),
  permissions: z
    .array(z.enum(PERMISSIONS))
    .min(1)
    .refine((p) => new Set(p).size === p.length, "permissions must not repeat"),
});

function memberOnly(c: Context<AppEnv>): string {
  const { principal } = c.var.access;
  if (principal.type !== "user") {
    throw new Failure({ reason: "forbidden", missing: "admin (as a signed-in member)" });
  }
  return principal.userId;
}

const keyPermissions = (stored: string | null): string[] => {
  const parsed = stored ? (JSON.parse(stored) as Record<string, string[]>) : {};
  return parsed[LOG_STATEMENT] ?? [];
};

export const keys = new Hono<AppEnv>()
  .use(requirePermission("admin"))
  .post("/", async (c) => {
    const userId = memberOnly(c);
    const body = parseWith(CreateKey, await readJsonBody(c), "invalid_key_request");
    // Server-side call without headers: `permissions` is server-only in better-auth.
    const created = await c.var.auth.api.createApiKey({
      body: {
        configId: TENANT_KEY_CONFIG,
        organizationId: c.var.access.tenantId,
        userId,
        name: body.name,
        permissions: { [LOG_STATEMENT]: body.permissions },
      },
    });
    return c.json(
      { id: created.id, key: created.key, name: body.name, permissions: body.permissions, created_at: created.createdAt },
      201,
    );
  })
  .get("/", async (c) => {
    memberOnly(c);
    const rows = await drizzle(c.env.DB)
      .select()
      .from(apikey)
      .where(and(eq(apikey.referenceId, c.var.access.tenantId), eq(apikey.configId, TENANT_KEY_CONFIG)))
      .orderBy(desc(apikey.createdAt));
    return c.json({
      keys: rows.map((k) => ({
        id: k.id,
        name: k.name,
        start: k.start,
        permissions: keyPermissions(k.permissions),
        enabled: k.enabled,
        created_at: k.createdAt,
        last_used_at: k.lastRequest,
      })),
    });
  })
  .delete("/:id", async (c) => {
    memberOnly(c);
    const removed = await drizzle(c.env.DB)
      .delete(apikey)
      .where(and(eq(apikey.id, c.req.param("id")), eq(apikey.referenceId, c.var.access.tenantId)))
      .returning({ id: apikey.id });
    if (removed.length === 0) throw new Failure({ reason: "not_found", what: "Key" });
    return c.json({ id: removed[0]!.id, revoked: true });
  });
