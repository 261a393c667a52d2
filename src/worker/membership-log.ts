/**
 * Changes to who may act on a tenant are recorded in the tenant's own log. They are made
 * through better-auth's organization routes (which check the caller's role and refuse role
 * names we did not define); this handler passes each request to better-auth and, when it
 * succeeded, appends what changed, with the signed-in person as the actor.
 *
 * Order: the change first, then its record. If the append fails, the change stands (it is in
 * better-auth's D1 tables) and the caller gets 503 log_unavailable, so an unrecorded change is
 * never reported as a success; the error is logged for the operator.
 */
import type { Context } from "hono";
import type { JsonObject } from "../core/entry";
import { recordAccess } from "./access-log";
import type { AppEnv } from "./app-env";
import { Failure } from "./errors";

/** What the request named, read before the change (the response may not say it all). */
interface Before {
  body: Body;
  /** The member's role before an update-member-role. */
  previousRole?: string;
  /** The invitation a cancel or reject names, as stored before the change. */
  invitation?: { organizationId: string; email: string; role: string };
}

interface Changed {
  tenant: string;
  target: { id: string; type: string };
  metadata: JsonObject;
}

type Body = Record<string, unknown>;

/** The membership routes' bodies are a few ids, an email and a role. */
const MAX_MEMBERSHIP_BODY_BYTES = 16 * 1024;
const s = (v: unknown) => (typeof v === "string" ? v : "");

/** The membership routes and how each response names what changed. */
export const MEMBERSHIP_ROUTES: Record<string, { action: string; changed: (res: Body, before: Before) => Changed | null }> = {
  "/api/auth/organization/invite-member": {
    action: "sealtrail.member.invited",
    changed: (r) => ({ tenant: s(r.organizationId), target: { id: s(r.id), type: "invitation" }, metadata: { email: s(r.email), role: s(r.role) } }),
  },
  "/api/auth/organization/cancel-invitation": {
    action: "sealtrail.member.invitation_cancelled",
    // better-auth may answer null here: the request still names the invitation.
    changed: (r, before) => ({
      tenant: s(r.organizationId) || (before.invitation?.organizationId ?? ""),
      target: { id: s(r.id) || s(before.body.invitationId), type: "invitation" },
      metadata: { email: s(r.email) || (before.invitation?.email ?? ""), role: s(r.role) || (before.invitation?.role ?? "") },
    }),
  },
  "/api/auth/organization/accept-invitation": {
    action: "sealtrail.member.joined",
    changed: (r) => {
      const m = (r.member ?? {}) as Body;
      return { tenant: s(m.organizationId), target: { id: s(m.id), type: "member" }, metadata: { role: s(m.role), invitation_id: s((r.invitation as Body | undefined)?.id) } };
    },
  },
  "/api/auth/organization/reject-invitation": {
    action: "sealtrail.member.invitation_rejected",
    changed: (_r, before) =>
      before.invitation
        ? { tenant: before.invitation.organizationId, target: { id: s(before.body.invitationId), type: "invitation" }, metadata: { email: before.invitation.email, role: before.invitation.role } }
        : null,
  },
  "/api/auth/organization/update-member-role": {
    action: "sealtrail.member.role_updated",
    changed: (r, before) => ({
      tenant: s(r.organizationId),
      target: { id: s(r.id), type: "member" },
      metadata: { user_id: s(r.userId), role: s(r.role), previous_role: before.previousRole ?? null },
    }),
  },
  "/api/auth/organization/remove-member": {
    action: "sealtrail.member.removed",
    changed: (r) => {
      const m = (r.member ?? {}) as Body;
      return { tenant: s(m.organizationId), target: { id: s(m.id), type: "member" }, metadata: { user_id: s(m.userId), role: s(m.role) } };
    },
  },
  "/api/auth/organization/update": {
    action: "sealtrail.tenant.updated",
    changed: (r) => ({ tenant: s(r.id), target: { id: s(r.id), type: "tenant" }, metadata: { name: s(r.name), slug: s(r.slug) } }),
  },
  "/api/auth/organization/leave": {
    action: "sealtrail.member.left",
    changed: (r) => ({ tenant: s(r.organizationId), target: { id: s(r.id), type: "member" }, metadata: { user_id: s(r.userId), role: s(r.role) } }),
  },
};

/** Handles /api/auth/*: better-auth answers; membership changes are then logged. */
export async function authHandler(c: Context<AppEnv>): Promise<Response> {
  const route = c.req.method === "POST" ? MEMBERSHIP_ROUTES[new URL(c.req.url).pathname] : undefined;
  if (!route) return c.var.auth.handler(c.req.raw);
  // Who is acting, and what they name, are read before the change: leaving or being removed
  // may end the membership, and an update's response does not say what the role was.
  const session = await c.var.auth.api.getSession({ headers: c.req.raw.headers });
  // No session: better-auth refuses the change; nothing to read or log.
  if (!session) return c.var.auth.handler(c.req.raw);
  // These routes take a few small fields: a larger body is not read here (better-auth judges it).
  const small = Number(c.req.header("content-length") ?? "0") <= MAX_MEMBERSHIP_BODY_BYTES;
  const before: Before = { body: small ? await asObject(c.req.raw.clone()) : {} };
  if (typeof before.body.memberId === "string") {
    const row = await c.env.DB.prepare("SELECT role FROM member WHERE id = ?").bind(before.body.memberId).first<{ role: string }>();
    if (row) before.previousRole = row.role;
  }
  if (typeof before.body.invitationId === "string") {
    const row = await c.env.DB.prepare("SELECT organization_id AS organizationId, email, role FROM invitation WHERE id = ?")
      .bind(before.body.invitationId)
      .first<{ organizationId: string; email: string; role: string }>();
    if (row) before.invitation = row;
  }
  const res = await c.var.auth.handler(c.req.raw);
  if (res.status !== 200) return res;
  const changed = route.changed(await asObject(res.clone()), before);
  if (!changed || !changed.tenant) return res;
  c.set("access", {
    tenantId: changed.tenant,
    principal: { type: "user", userId: session.user.id, sessionId: session.session.id },
    permissions: new Set(),
  });
  try {
    await recordAccess(c, route.action, changed.target, changed.metadata);
  } catch (e) {
    console.error(`request ${c.var.requestId}: ${route.action} for ${changed.tenant} took effect but was not logged`, e);
    throw e instanceof Failure ? e : new Failure({ reason: "log_unavailable" });
  }
  return res;
}

/** A JSON object body, or {} for anything else (null, an array, not JSON). */
async function asObject(r: Request | Response): Promise<Body> {
  try {
    const v = (await r.json()) as unknown;
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Body) : {};
  } catch {
    return {};
  }
}
