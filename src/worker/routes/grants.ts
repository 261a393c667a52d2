/**
 * /v1/tenants/:t/grants and /v1/tenants/:t/elevations (issue #19.1 grants, #19.2 just-in-time
 * elevation; docs/design.md "Permissions"). Rows live in the control database (grants.ts); every
 * change is an entry in the tenant's log, with who and why:
 * - sealtrail.grant.created / .revoked / .used / .ended
 * - sealtrail.elevation.requested / .approved / .refused / .used / .ended
 * Each change is written first and logged second; a failed append undoes the write and answers
 * the append's error, so an applied change is always in the log.
 */
import { and, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono, type Context } from "hono";
import { z } from "zod";
import { checkView, type View } from "../../core/views";
import { member } from "../../db/auth-schema";
import { recordAccess } from "../access-log";
import type { AppEnv } from "../app-env";
import { Failure } from "../errors";
import { type ElevationRow, elevationView, type GrantRow, grantView, noticeEnded } from "../grants";
import { PERMISSIONS } from "../permissions";
import { readJsonBody, readOptionalJsonBody } from "../request";
import { bodyOf, LOG_APPEND, route } from "../route-spec";
import { requirePermission } from "../tenant-access";
import { tenantLog } from "../tenant-log";

/** The longest grant: 90 days. */
export const MAX_GRANT_SECONDS = 90 * 86_400;
/** What a grant gives: an auditor's permissions, within its view. */
const GRANT_PERMISSIONS = ["read", "verify"] as const;

const Reason = z.string().trim().min(1).max(1024);
const Time = z.iso.datetime({ offset: true }).describe("RFC 3339");

const ViewBody = z
  .unknown()
  .superRefine((v, ctx) => {
    const r = checkView(v);
    if (!r.ok) ctx.addIssue({ code: "custom", message: r.message });
  })
  .describe("a view (src/core/views.ts): received_from, received_to, action_prefix, actor, target {type?, id}; {} is the whole log");

const CreateGrant = z
  .strictObject({
    user_id: z.string().min(1).max(64).optional(),
    member_id: z.string().min(1).max(64).optional(),
    view: ViewBody,
    starts_at: Time.optional(),
    expires_at: Time.optional(),
    duration_seconds: z.number().int().min(1).max(MAX_GRANT_SECONDS).optional(),
    reason: Reason,
  })
  .refine((g) => (g.user_id === undefined) !== (g.member_id === undefined), { message: "give user_id or member_id", path: ["user_id"] })
  .refine((g) => (g.expires_at === undefined) !== (g.duration_seconds === undefined), {
    message: "give expires_at or duration_seconds",
    path: ["expires_at"],
  });

const GrantView = z.object({
  id: z.string(),
  user_id: z.string(),
  permissions: z.array(z.enum(PERMISSIONS)),
  view: z.record(z.string(), z.unknown()),
  reason: z.string(),
  starts_at: z.string(),
  expires_at: z.string(),
  created_by: z.string(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
  revoked_by: z.string().nullable(),
  active: z.boolean(),
});

const RequestElevation = z.strictObject({
  permission: z.enum(PERMISSIONS),
  duration_seconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 86_400),
  reason: Reason,
});
const Decision = z.strictObject({ reason: Reason.optional() });

const ElevationView = z.object({
  id: z.string(),
  user_id: z.string(),
  permission: z.string(),
  duration_seconds: z.number().int(),
  reason: z.string(),
  status: z.enum(["requested", "approved", "refused", "cancelled"]),
  requested_at: z.string(),
  decided_by: z.string().nullable(),
  decided_at: z.string().nullable(),
  decision_reason: z.string().nullable(),
  expires_at: z.string().nullable(),
  active: z.boolean(),
});

const MEMBER = "signed-in members only (not API keys)";

export const GRANT_ROUTES = {
  createGrant: route({
    method: "post",
    path: "/v1/tenants/{t}/grants",
    summary: "Grant a member an auditor view (read and verify within a view) for a window; it ends by itself (logged)",
    permissions: ["admin"],
    access: MEMBER,
    body: CreateGrant,
    invalid: "invalid_grant",
    status: 201,
    response: z.object({ grant: GrantView }),
    errors: LOG_APPEND,
  }),
  listGrants: route({
    method: "get",
    path: "/v1/tenants/{t}/grants",
    summary: "Grants, newest first (ends noticed by this listing are logged)",
    permissions: ["admin"],
    access: MEMBER,
    response: z.object({ grants: z.array(GrantView) }),
    errors: LOG_APPEND,
  }),
  revokeGrant: route({
    method: "post",
    path: "/v1/tenants/{t}/grants/{id}/revoke",
    summary: "End a grant now (logged)",
    permissions: ["admin"],
    access: MEMBER,
    body: Decision,
    invalid: "invalid_grant",
    optionalBody: true,
    response: z.object({ grant: GrantView }),
    errors: ["grant_ended", ...LOG_APPEND],
  }),
  requestElevation: route({
    method: "post",
    path: "/v1/tenants/{t}/elevations",
    summary: "Ask for a permission for a while, with a reason (logged); an owner or admin other than you decides",
    access: MEMBER,
    body: RequestElevation,
    invalid: "invalid_elevation",
    status: 201,
    response: z.object({ elevation: ElevationView }),
    errors: ["unauthenticated", "forbidden", "not_found", "cross_site_request", "elevation_too_long", ...LOG_APPEND],
  }),
  listElevations: route({
    method: "get",
    path: "/v1/tenants/{t}/elevations",
    summary: "Elevation requests, newest first: every one for owners and admins, your own for other members",
    access: MEMBER,
    response: z.object({ elevations: z.array(ElevationView), max_elevation_seconds: z.number().int() }),
    errors: ["unauthenticated", "forbidden", "not_found", "cross_site_request", ...LOG_APPEND],
  }),
  approveElevation: route({
    method: "post",
    path: "/v1/tenants/{t}/elevations/{id}/approve",
    summary: "Approve an elevation (owners and admins by role, never the requester; logged); it lasts its duration from now",
    permissions: ["admin"],
    access: MEMBER,
    body: Decision,
    invalid: "invalid_elevation",
    optionalBody: true,
    response: z.object({ elevation: ElevationView }),
    errors: ["self_approval", "elevation_not_pending", ...LOG_APPEND],
  }),
  refuseElevation: route({
    method: "post",
    path: "/v1/tenants/{t}/elevations/{id}/refuse",
    summary: "Refuse an elevation (owners and admins by role, never the requester; logged)",
    permissions: ["admin"],
    access: MEMBER,
    body: Decision,
    invalid: "invalid_elevation",
    optionalBody: true,
    response: z.object({ elevation: ElevationView }),
    errors: ["self_approval", "elevation_not_pending", ...LOG_APPEND],
  }),
};

function memberOnly(c: Context<AppEnv>): string {
  const { principal } = c.var.access;
  if (principal.type !== "user") throw new Failure({ reason: "forbidden", missing: "a signed-in member (not an API key)" });
  return principal.userId;
}

/** Owners and admins by role: an admin permission held through an elevation does not decide elevations. */
function deciderOnly(c: Context<AppEnv>): string {
  const userId = memberOnly(c);
  if (c.var.access.via?.kind === "elevation") throw new Failure({ reason: "forbidden", missing: "admin (by role, not by an elevation)" });
  return userId;
}

/** The tenant's `max_elevation_seconds` setting. */
async function maxElevationSeconds(c: Context<AppEnv>): Promise<number> {
  return (await tenantLog(c).settingsView(c.var.access.tenantId)).max_elevation_seconds;
}

async function grantRow(c: Context<AppEnv>, id: string): Promise<GrantRow> {
  const row = await c.env.DB.prepare("SELECT * FROM access_grant WHERE id = ? AND tenant_id = ?")
    .bind(id, c.var.access.tenantId)
    .first<GrantRow>();
  if (!row) throw new Failure({ reason: "not_found", what: "Grant" });
  return row;
}

async function elevationRow(c: Context<AppEnv>, id: string): Promise<ElevationRow> {
  const row = await c.env.DB.prepare("SELECT * FROM elevation WHERE id = ? AND tenant_id = ?")
    .bind(id, c.var.access.tenantId)
    .first<ElevationRow>();
  if (!row) throw new Failure({ reason: "not_found", what: "Elevation" });
  return row;
}

/** The member's user id, from a user id or a member id; 404 when they are not a member of the tenant. */
async function memberUser(c: Context<AppEnv>, by: { user_id?: string; member_id?: string }): Promise<string> {
  const where = by.user_id !== undefined ? eq(member.userId, by.user_id) : eq(member.id, by.member_id!);
  const row = await drizzle(c.env.DB)
    .select({ userId: member.userId })
    .from(member)
    .where(and(eq(member.organizationId, c.var.access.tenantId), where))
    .get();
  if (!row) throw new Failure({ reason: "not_found", what: "Member" });
  return row.userId;
}

/** Runs `undo` and rethrows when the append recording a change fails: an applied change is always logged. */
async function logOrUndo(append: () => Promise<void>, undo: () => Promise<unknown>): Promise<void> {
  try {
    await append();
  } catch (e) {
    await undo();
    throw e;
  }
}

export const grants = new Hono<AppEnv>()
  .post("/grants", requirePermission("admin"), async (c) => {
    const by = memberOnly(c);
    const body = bodyOf(GRANT_ROUTES.createGrant, await readJsonBody(c));
    const view = (checkView(body.view) as { ok: true; view: View }).view;
    const userId = await memberUser(c, body);
    const now = Date.now();
    const starts = body.starts_at ? Date.parse(body.starts_at) : now;
    const expires = body.expires_at ? Date.parse(body.expires_at) : starts + body.duration_seconds! * 1000;
    if (expires <= now || expires <= starts) {
      throw new Failure({ reason: "invalid_grant", path: "expires_at", message: "must be in the future and after starts_at" });
    }
    if (expires - starts > MAX_GRANT_SECONDS * 1000) {
      throw new Failure({ reason: "invalid_grant", path: "expires_at", message: `a grant lasts at most ${MAX_GRANT_SECONDS} seconds` });
    }
    const row: GrantRow = {
      id: crypto.randomUUID(),
      tenant_id: c.var.access.tenantId,
      user_id: userId,
      permissions: JSON.stringify(GRANT_PERMISSIONS),
      view: JSON.stringify(view),
      reason: body.reason,
      starts_at: starts,
      expires_at: expires,
      created_by: by,
      created_at: now,
      revoked_at: null,
      revoked_by: null,
      ended_logged_at: null,
    };
    await c.env.DB.prepare(
      `INSERT INTO access_grant (id, tenant_id, user_id, permissions, view, reason, starts_at, expires_at, created_by, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
      .bind(row.id, row.tenant_id, row.user_id, row.permissions, row.view, row.reason, row.starts_at, row.expires_at, by, now)
      .run();
    const wire = grantView(row, now);
    await logOrUndo(
      () =>
        recordAccess(
          c,
          "sealtrail.grant.created",
          { id: row.id, type: "grant" },
          {
            user_id: userId,
            permissions: [...GRANT_PERMISSIONS],
            view: wire.view as Record<string, string>,
            starts_at: wire.starts_at,
            expires_at: wire.expires_at,
            reason: row.reason,
          },
        ),
      () => c.env.DB.prepare("DELETE FROM access_grant WHERE id = ?").bind(row.id).run(),
    );
    return c.json({ grant: wire }, 201);
  })
  .get("/grants", requirePermission("admin"), async (c) => {
    memberOnly(c);
    const now = Date.now();
    const { results } = await c.env.DB.prepare("SELECT * FROM access_grant WHERE tenant_id = ? ORDER BY created_at DESC LIMIT 500")
      .bind(c.var.access.tenantId)
      .all<GrantRow>();
    await noticeEnded(c, results, [], now);
    return c.json({ grants: results.map((g) => grantView(g, now)) });
  })
  .post("/grants/:id/revoke", requirePermission("admin"), async (c) => {
    const by = memberOnly(c);
    const body = bodyOf(GRANT_ROUTES.revokeGrant, await readOptionalJsonBody(c));
    const found = await grantRow(c, c.req.param("id"));
    const now = Date.now();
    if (found.revoked_at !== null || found.expires_at <= now) throw new Failure({ reason: "grant_ended", id: found.id });
    const won = await c.env.DB.prepare(
      "UPDATE access_grant SET revoked_at = ?, revoked_by = ?, ended_logged_at = ? WHERE id = ? AND revoked_at IS NULL",
    )
      .bind(now, by, now, found.id)
      .run();
    if (won.meta.changes === 0) throw new Failure({ reason: "grant_ended", id: found.id });
    // Revoked first, then logged (the safe side); a failed append restores it and answers the error.
    await logOrUndo(
      () =>
        recordAccess(
          c,
          "sealtrail.grant.revoked",
          { id: found.id, type: "grant" },
          { user_id: found.user_id, ...(body.reason ? { reason: body.reason } : {}), grant_reason: found.reason },
        ),
      () =>
        c.env.DB.prepare("UPDATE access_grant SET revoked_at = NULL, revoked_by = NULL, ended_logged_at = NULL WHERE id = ?")
          .bind(found.id)
          .run(),
    );
    return c.json({ grant: grantView({ ...found, revoked_at: now, revoked_by: by, ended_logged_at: now }, now) });
  })
  .post("/elevations", async (c) => {
    const userId = memberOnly(c);
    const body = bodyOf(GRANT_ROUTES.requestElevation, await readJsonBody(c));
    const max = await maxElevationSeconds(c);
    if (body.duration_seconds > max) throw new Failure({ reason: "elevation_too_long", maxSeconds: max });
    const now = Date.now();
    const row: ElevationRow = {
      id: crypto.randomUUID(),
      tenant_id: c.var.access.tenantId,
      user_id: userId,
      permission: body.permission,
      duration_s: body.duration_seconds,
      reason: body.reason,
      status: "requested",
      requested_at: now,
      decided_by: null,
      decided_at: null,
      decision_reason: null,
      expires_at: null,
      ended_logged_at: null,
    };
    await c.env.DB.prepare(
      "INSERT INTO elevation (id, tenant_id, user_id, permission, duration_s, reason, status, requested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
      .bind(row.id, row.tenant_id, userId, row.permission, row.duration_s, row.reason, row.status, now)
      .run();
    await logOrUndo(
      () =>
        recordAccess(
          c,
          "sealtrail.elevation.requested",
          { id: row.id, type: "elevation" },
          { permission: row.permission, duration_seconds: row.duration_s, reason: row.reason },
        ),
      () => c.env.DB.prepare("DELETE FROM elevation WHERE id = ?").bind(row.id).run(),
    );
    return c.json({ elevation: elevationView(row, now) }, 201);
  })
  .get("/elevations", async (c) => {
    const userId = memberOnly(c);
    const now = Date.now();
    const all = c.var.access.permissions.has("admin");
    const stmt = all
      ? c.env.DB.prepare("SELECT * FROM elevation WHERE tenant_id = ? ORDER BY requested_at DESC LIMIT 500").bind(c.var.access.tenantId)
      : c.env.DB.prepare("SELECT * FROM elevation WHERE tenant_id = ? AND user_id = ? ORDER BY requested_at DESC LIMIT 500").bind(
          c.var.access.tenantId,
          userId,
        );
    const { results } = await stmt.all<ElevationRow>();
    await noticeEnded(c, [], results, now);
    return c.json({ elevations: results.map((e) => elevationView(e, now)), max_elevation_seconds: await maxElevationSeconds(c) });
  })
  .post("/elevations/:id/approve", requirePermission("admin"), (c) => decideElevation(c, "approve"))
  .post("/elevations/:id/refuse", requirePermission("admin"), (c) => decideElevation(c, "refuse"));

/** Approves or refuses a pending elevation: owners and admins by role, never the requester; written, then logged. */
async function decideElevation(c: Context<AppEnv>, decision: "approve" | "refuse") {
  const by = deciderOnly(c);
  const body = bodyOf(GRANT_ROUTES.approveElevation, await readOptionalJsonBody(c));
  const found = await elevationRow(c, c.req.param("id") ?? "");
  if (found.user_id === by) throw new Failure({ reason: "self_approval" });
  if (found.status !== "requested") throw new Failure({ reason: "elevation_not_pending", id: found.id, status: found.status });
  const now = Date.now();
  const status = decision === "approve" ? "approved" : "refused";
  const expires = decision === "approve" ? now + found.duration_s * 1000 : null;
  const won = await c.env.DB.prepare(
    "UPDATE elevation SET status = ?, decided_by = ?, decided_at = ?, decision_reason = ?, expires_at = ? WHERE id = ? AND status = 'requested'",
  )
    .bind(status, by, now, body.reason ?? null, expires, found.id)
    .run();
  if (won.meta.changes === 0) throw new Failure({ reason: "elevation_not_pending", id: found.id, status: "decided" });
  const decided: ElevationRow = {
    ...found,
    status,
    decided_by: by,
    decided_at: now,
    decision_reason: body.reason ?? null,
    expires_at: expires,
  };
  await logOrUndo(
    () =>
      recordAccess(
        c,
        `sealtrail.elevation.${status}`,
        { id: found.id, type: "elevation" },
        {
          user_id: found.user_id,
          permission: found.permission,
          requested_reason: found.reason,
          ...(body.reason ? { reason: body.reason } : {}),
          ...(expires !== null ? { expires_at: new Date(expires).toISOString() } : {}),
        },
      ),
    () =>
      c.env.DB.prepare(
        "UPDATE elevation SET status = 'requested', decided_by = NULL, decided_at = NULL, decision_reason = NULL, expires_at = NULL WHERE id = ?",
      )
        .bind(found.id)
        .run(),
  );
  return c.json({ elevation: elevationView(decided, now) });
}
