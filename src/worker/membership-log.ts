/**
 * /api/auth/*: better-auth answers, behind three guards, and every change to who may act on a
 * tenant is recorded in the tenant's own log by better-auth's organization hooks.
 *
 * Guards (authHandler): only the endpoints auth-routes.ts lets through reach better-auth, spelled
 * exactly; bodies are capped at MAX_AUTH_BODY_BYTES (413), from Content-Length and while
 * reading; and an invitation's one-time link secret, made by the hook, is added to the
 * invite-member answer (the only time anyone sees it).
 *
 * Logging (organizationHooks, leaveHook): better-auth calls the hooks with what it has read and
 * checked (the member and its role before a change, the invitation), so nothing is re-read
 * from the request. The acting person is the signed-in user of the better-auth call.
 *
 * Order: the record first, then the change. A `before…` hook appends the entry after
 * better-auth has checked the caller's right to make the change and before it writes it. If the
 * append fails the hook throws, better-auth writes nothing, and the caller gets the append's
 * error (503): an unrecorded change is never made, let alone reported as a success. A crash (or
 * a failed D1 write) after the append leaves an entry for a change that did not happen; the
 * caller saw no success and retries, which records it again. The log may so hold a change
 * twice or one that failed, never miss one that was made.
 * The exception is joining: the new member's id exists only after better-auth creates it, so
 * `afterAcceptInvitation` records it, and undoes the join (member deleted, invitation pending
 * again) if the append fails. A crash between the join and its record leaves an unrecorded
 * member, visible in the member list; the invitee's client saw no success.
 */
import { tryGetCurrentAuthEndpointContext } from "@better-auth/core/context";
import { createAuthMiddleware } from "better-auth/api";
import type { OrganizationOptions } from "better-auth/plugins";
import type { Context } from "hono";
import type { JsonObject } from "../core/entry";
import { recordAccess } from "./access-log";
import type { AppEnv } from "./app-env";
import { authRouteAllowed } from "./auth-routes";
import { Failure, type ErrorReason } from "./errors";
import { issueInvitationSecret, newId } from "./invitations";
import { placeNewTenant } from "./placement";
import { readCapped } from "./request";
import { requestScope } from "./request-scope";
import { LOG_APPEND, route } from "./route-spec";
import { revokeKeysCreatedBy } from "./routes/keys";
import { permissionsOfRoles } from "./permissions";

/**
 * Every better-auth body is a few fields (an email, a password, ids, a name). 64 KiB is far
 * above any of them and small enough to read into memory before better-auth parses it.
 */
export const MAX_AUTH_BODY_BYTES = 64 * 1024;

/** better-auth's routes, for the reference: our refusals are ours; better-auth's own errors are in its words. */
const authRoute = (method: "get" | "post", summary: string, errors: readonly ErrorReason[]) =>
  route({
    method,
    path: "/api/auth/{path}",
    summary,
    errors,
    otherErrors: "better-auth's own refusals ({code, message}: wrong password, no such organization, …)",
  });

export const AUTH_ROUTES = {
  post: authRoute(
    "post",
    "better-auth: sign-up/in/out, organizations (tenants), members and invitations (membership changes are logged in the tenant's log; " +
      'organization/create may name a `jurisdiction` ("eu" or "fedramp"), fixed for the tenant\'s life; ' +
      "invite-member answers with the link's one-time secret; api-key/*, accept-invitation and delete-user are refused; " +
      `bodies over ${MAX_AUTH_BODY_BYTES / 1024} KiB are refused with 413)`,
    ["not_found", "body_too_large", "invalid_jurisdiction", ...LOG_APPEND],
  ),
  get: authRoute("get", "better-auth: session and organization reads", ["not_found"]),
};

/** Handles /api/auth/*: refuses what auth-routes.ts refuses, caps the body, then better-auth answers. */
export async function authHandler(c: Context<AppEnv>): Promise<Response> {
  const { pathname } = new URL(c.req.url);
  if (!authRouteAllowed(c.var.auth, c.req.method, pathname)) throw new Failure({ reason: "not_found", what: "Route" });
  let request = c.req.raw;
  if (request.body) {
    const declared = Number(c.req.header("content-length") ?? "0");
    if (declared > MAX_AUTH_BODY_BYTES) throw new Failure({ reason: "body_too_large", limit: MAX_AUTH_BODY_BYTES });
    const body = await readCapped(request.body, MAX_AUTH_BODY_BYTES);
    if (pathname === CREATE_TENANT_PATH) requestScope().requestedJurisdiction = jurisdictionOf(body);
    request = new Request(request.url, { method: request.method, headers: request.headers, body });
  }
  const res = await c.var.auth.handler(request);
  const issued = requestScope().issuedInvitation;
  if (issued && res.status === 200) return withInvitationSecret(res, issued);
  return res;
}

/** Creating a tenant: its body may name a `jurisdiction` (better-auth's own schema drops the field). */
const CREATE_TENANT_PATH = "/api/auth/organization/create";

/** The `jurisdiction` field of a create body as sent (undefined if absent or not a JSON object: better-auth refuses those). */
function jurisdictionOf(body: Uint8Array): unknown {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(body)) as unknown;
    return parsed !== null && typeof parsed === "object" ? (parsed as { jurisdiction?: unknown }).jurisdiction : undefined;
  } catch {
    return undefined;
  }
}

/** The invite-member answer with the link's secret added (shown this once; only its hash is kept). */
async function withInvitationSecret(res: Response, issued: { id: string; secret: string }): Promise<Response> {
  const body = (await res.json()) as Record<string, unknown>;
  const headers = new Headers(res.headers);
  headers.delete("content-length");
  // The answer names the invitation the hook made the secret for (it always does).
  const out = body.id === issued.id ? { ...body, secret: issued.secret } : body;
  return new Response(JSON.stringify(out), { status: res.status, headers });
}

interface Actor {
  userId: string;
  sessionId: string;
}

/** The signed-in person making the current better-auth call. */
function actingUser(): Actor {
  type Ctx = { context?: { session?: { user: { id: string }; session: { id: string } } | null } };
  const session = (tryGetCurrentAuthEndpointContext() as Ctx | undefined)?.context?.session;
  if (!session) {
    console.error("organization hook without a signed-in caller");
    throw new Failure({ reason: "internal" });
  }
  return { userId: session.user.id, sessionId: session.session.id };
}

/** `userId` as the actor, in the current better-auth call's session. */
const asUser = (userId: string): Actor => ({ userId, sessionId: actingUser().sessionId });

type Target = { id: string; type: string };

/** Appends an entry to `tenant`'s log with `actor` as the actor; throws (503) if it cannot. */
async function record(tenant: string, actor: Actor, action: string, target: Target, metadata: JsonObject): Promise<Context<AppEnv>> {
  const { c } = requestScope();
  const principal = { type: "user" as const, userId: actor.userId, sessionId: actor.sessionId };
  c.set("access", { tenantId: tenant, principal, permissions: new Set() });
  try {
    await recordAccess(c, action, target, metadata);
  } catch (e) {
    console.error(`request ${c.var.requestId}: ${action} for ${tenant} not logged; the change is refused`, e);
    throw e instanceof Failure ? e : new Failure({ reason: "log_unavailable" });
  }
  return c;
}

type Hooks = NonNullable<OrganizationOptions["organizationHooks"]>;

/** better-auth's organization hooks: each membership change is recorded (see the header for the order). */
export function organizationHooks(): Hooks {
  return {
    beforeCreateOrganization: async () => {
      // The tenant's id is chosen here so that its placement is recorded before it exists.
      const id = newId();
      const { c, requestedJurisdiction } = requestScope();
      await placeNewTenant(c.env, id, requestedJurisdiction);
      return { data: { id } };
    },
    beforeCreateInvitation: async ({ invitation, inviter }) => {
      // The invitation's id is chosen here so the entry can name it before it exists.
      const { id, secret } = await issueInvitationSecret(requestScope().c.env.DB);
      const metadata = { email: invitation.email, role: invitation.role };
      await record(invitation.organizationId, asUser(inviter.id), "sealtrail.member.invited", { id, type: "invitation" }, metadata);
      requestScope().issuedInvitation = { id, secret };
      return { data: { id } };
    },
    beforeCancelInvitation: async ({ invitation: i, cancelledBy }) => {
      const target = { id: i.id, type: "invitation" };
      await record(i.organizationId, asUser(cancelledBy.id), "sealtrail.member.invitation_cancelled", target, {
        email: i.email,
        role: i.role,
      });
    },
    beforeRejectInvitation: async ({ invitation: i, user }) => {
      const target = { id: i.id, type: "invitation" };
      await record(i.organizationId, asUser(user.id), "sealtrail.member.invitation_rejected", target, { email: i.email, role: i.role });
    },
    beforeAcceptInvitation: async ({ invitation }) => {
      // Only POST /v1/invitations/:id/accept, after checking the link's secret, may accept.
      if (requestScope().acceptedInvitationId !== invitation.id) throw new Failure({ reason: "invitation_secret_invalid" });
    },
    afterAcceptInvitation: async ({ invitation, member, user }) => {
      try {
        const metadata = { role: member.role, invitation_id: invitation.id };
        await record(member.organizationId, asUser(user.id), "sealtrail.member.joined", { id: member.id, type: "member" }, metadata);
      } catch (e) {
        // Not recorded: undo the join, so the invitee can accept again once the log is back.
        const db = requestScope().c.env.DB;
        await db.batch([
          db.prepare("DELETE FROM member WHERE id = ?").bind(member.id),
          db.prepare("UPDATE invitation SET status = 'pending' WHERE id = ? AND status = 'accepted'").bind(invitation.id),
        ]);
        throw e;
      }
    },
    beforeUpdateMemberRole: async ({ member, newRole }) => {
      const metadata = { user_id: member.userId, role: newRole, previous_role: member.role };
      const c = await record(
        member.organizationId,
        actingUser(),
        "sealtrail.member.role_updated",
        { id: member.id, type: "member" },
        metadata,
      );
      // Keys are created with the creator's authority to manage keys (`admin`): a member who
      // loses it loses the keys they created too, or a demoted admin would keep acting as one
      // through a key. Revoked before the role changes (a refused change leaves them revoked:
      // the safe side), each revocation logged after the role change it follows.
      const roleText = Array.isArray(newRole) ? newRole.join(",") : String(newRole);
      if (permissionsOfRoles(member.role).has("admin") && !permissionsOfRoles(roleText).has("admin")) {
        await revokeKeysCreatedBy(c, member.organizationId, member.userId, "creator_demoted");
      }
    },
    beforeRemoveMember: async ({ member }) => {
      const metadata = { user_id: member.userId, role: member.role };
      const c = await record(member.organizationId, actingUser(), "sealtrail.member.removed", { id: member.id, type: "member" }, metadata);
      // The keys they created go with them, before the membership does.
      await revokeKeysCreatedBy(c, member.organizationId, member.userId, "creator_removed");
    },
    beforeUpdateOrganization: async ({ organization, member }) => {
      const tenant = member.organizationId;
      const current = await requestScope()
        .c.env.DB.prepare("SELECT name, slug FROM organization WHERE id = ?")
        .bind(tenant)
        .first<{ name: string; slug: string }>();
      await record(
        tenant,
        actingUser(),
        "sealtrail.tenant.updated",
        { id: tenant, type: "tenant" },
        {
          name: typeof organization.name === "string" ? organization.name : (current?.name ?? ""),
          slug: typeof organization.slug === "string" ? organization.slug : (current?.slug ?? ""),
        },
      );
    },
  };
}

/**
 * Leaving has no organization hook in better-auth 1.7.5, so a general before-hook records it.
 * It runs before better-auth's own checks, so it repeats the one that can refuse a member who
 * exists (the only owner may not leave) and records nothing when better-auth will refuse.
 */
export const leaveHook = createAuthMiddleware(async (ctx) => {
  if (ctx.path !== "/organization/leave") return;
  const tenant = (ctx.body as { organizationId?: unknown } | undefined)?.organizationId;
  if (typeof tenant !== "string") return;
  // The caller's session, as better-auth's leave route will find it (from the request's headers).
  const { c: scoped } = requestScope();
  const session = await scoped.var.auth.api.getSession({ headers: ctx.headers ?? scoped.req.raw.headers });
  if (!session) return;
  const db = scoped.env.DB;
  const me = await db
    .prepare("SELECT id, role FROM member WHERE organization_id = ? AND user_id = ?")
    .bind(tenant, session.user.id)
    .first<{ id: string; role: string }>();
  if (!me) return;
  const isOwner = (role: string) =>
    role
      .split(",")
      .map((r) => r.trim())
      .includes("owner");
  if (isOwner(me.role)) {
    const { results } = await db.prepare("SELECT role FROM member WHERE organization_id = ?").bind(tenant).all<{ role: string }>();
    if (results.filter((m) => isOwner(m.role)).length <= 1) return;
  }
  const actor = { userId: session.user.id, sessionId: session.session.id };
  const metadata = { user_id: session.user.id, role: me.role };
  const c = await record(tenant, actor, "sealtrail.member.left", { id: me.id, type: "member" }, metadata);
  await revokeKeysCreatedBy(c, tenant, session.user.id, "creator_left");
});
