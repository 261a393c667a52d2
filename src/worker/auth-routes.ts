/**
 * Which of better-auth's HTTP endpoints the Worker passes on (issue #13, item 1). Only /v1
 * routes may change API keys, and every change to roles or memberships must land in the
 * tenant's log, so each endpoint the plugins mount is classified here:
 *
 * - "open": changes nothing about keys, roles or memberships (sign-in, sessions, reads);
 * - "logged": a membership or tenant change, recorded by the organization hooks
 *   (membership-log.ts) before it is applied;
 * - "refused": answered 404 by the Worker, never reaching better-auth.
 *
 * The check is an exact match of the request's method and path against this list: a path that
 * is not spelled exactly as an allowed endpoint (trailing slash, other case, doubled or encoded
 * slashes, dot segments the URL parser left, …) is refused, whatever better-auth would make of
 * it. An endpoint missing from the list (a better-auth upgrade that adds one) is refused too;
 * test/worker/auth-hardening.test.ts lists every mounted endpoint and fails until it is classified.
 */
/** What is read of a better-auth instance here: its endpoints (auth.api). */
type AuthApi = { readonly api: object };

export const AUTH_BASE_PATH = "/api/auth";

type Policy = "open" | "logged" | "refused";

/** Every endpoint better-auth 1.7.5 mounts with our plugins, by path, and why it is classified so. */
export const AUTH_ENDPOINTS: Record<string, { policy: Policy; why: string }> = {
  // People and sessions: nothing here changes a key, role or membership.
  "/sign-up/email": { policy: "open", why: "creates a person (no tenant)" },
  "/sign-in/email": { policy: "open", why: "session" },
  "/sign-in/social": { policy: "open", why: "session (no provider is configured)" },
  "/callback/:id": { policy: "open", why: "OAuth callback (no provider is configured)" },
  "/sign-out": { policy: "open", why: "session" },
  "/get-session": { policy: "open", why: "read" },
  "/list-sessions": { policy: "open", why: "read" },
  "/update-session": { policy: "open", why: "session fields" },
  "/revoke-session": { policy: "open", why: "ends a session of one's own" },
  "/revoke-sessions": { policy: "open", why: "ends one's own sessions" },
  "/revoke-other-sessions": { policy: "open", why: "ends one's own sessions" },
  "/refresh-token": { policy: "open", why: "OAuth tokens (no provider is configured)" },
  "/get-access-token": { policy: "open", why: "OAuth tokens (no provider is configured)" },
  "/account-info": { policy: "open", why: "read" },
  "/list-accounts": { policy: "open", why: "read" },
  "/link-social": { policy: "open", why: "login methods of one's own" },
  "/unlink-account": { policy: "open", why: "login methods of one's own" },
  "/update-user": { policy: "open", why: "name and image (not the email)" },
  "/change-email": { policy: "open", why: "disabled unless configured (it is not)" },
  "/change-password": { policy: "open", why: "one's own password" },
  "/verify-password": { policy: "open", why: "read" },
  "/request-password-reset": { policy: "open", why: "no email is sent (none is configured)" },
  "/reset-password": { policy: "open", why: "needs a reset token, which is never sent" },
  "/reset-password/:token": { policy: "open", why: "needs a reset token, which is never sent" },
  "/send-verification-email": { policy: "open", why: "no email is configured" },
  "/verify-email": { policy: "open", why: "needs a token, which is never sent" },
  "/ok": { policy: "open", why: "health" },
  "/error": { policy: "open", why: "error page" },
  // Deleting a person deletes their memberships (foreign keys cascade) with no log entry.
  "/delete-user": { policy: "refused", why: "would remove memberships unlogged" },
  "/delete-user/callback": { policy: "refused", why: "would remove memberships unlogged" },

  // Organizations (tenants).
  "/organization/create": { policy: "open", why: "a new tenant, whose log starts empty; its creator is its first owner" },
  "/organization/update": { policy: "logged", why: "sealtrail.tenant.updated" },
  "/organization/delete": { policy: "refused", why: "a tenant's log outlives its people (also disabled in better-auth)" },
  "/organization/set-active": { policy: "open", why: "session field" },
  "/organization/check-slug": { policy: "open", why: "read" },
  "/organization/get-organization": { policy: "open", why: "read" },
  "/organization/get-full-organization": { policy: "open", why: "read" },
  "/organization/list": { policy: "open", why: "read" },
  "/organization/has-permission": { policy: "open", why: "read" },
  "/organization/get-active-member": { policy: "open", why: "read" },
  "/organization/get-active-member-role": { policy: "open", why: "read" },
  "/organization/list-members": { policy: "open", why: "read" },
  "/organization/invite-member": { policy: "logged", why: "sealtrail.member.invited; the answer carries the link's secret" },
  "/organization/cancel-invitation": { policy: "logged", why: "sealtrail.member.invitation_cancelled" },
  "/organization/reject-invitation": { policy: "logged", why: "sealtrail.member.invitation_rejected" },
  "/organization/accept-invitation": { policy: "refused", why: "needs the link's secret: POST /v1/invitations/:id/accept" },
  "/organization/get-invitation": { policy: "open", why: "read (the invitee's own)" },
  "/organization/list-invitations": { policy: "open", why: "read (never the link secrets)" },
  "/organization/list-user-invitations": { policy: "open", why: "read" },
  "/organization/update-member-role": { policy: "logged", why: "sealtrail.member.role_updated" },
  "/organization/remove-member": { policy: "logged", why: "sealtrail.member.removed, then the member's keys are revoked" },
  "/organization/leave": { policy: "logged", why: "sealtrail.member.left, then the member's keys are revoked" },

  // API keys: only /v1/tenants/:t/keys creates, changes, lists or revokes keys.
  "/api-key/create": { policy: "refused", why: "POST /v1/tenants/:t/keys (logged)" },
  "/api-key/update": { policy: "refused", why: "PATCH /v1/tenants/:t/keys/:id (logged)" },
  "/api-key/delete": { policy: "refused", why: "DELETE /v1/tenants/:t/keys/:id (logged)" },
  "/api-key/get": { policy: "refused", why: "GET /v1/tenants/:t/keys" },
  "/api-key/list": { policy: "refused", why: "GET /v1/tenants/:t/keys" },
};

/** The paths better-auth must also refuse itself (its `disabledPaths`), should a request ever reach it. */
export const REFUSED_AUTH_PATHS = Object.entries(AUTH_ENDPOINTS)
  .filter(([, e]) => e.policy === "refused")
  .map(([path]) => path);

/** The endpoints better-auth would route over HTTP: path and methods (server-only ones excluded). */
export function mountedAuthEndpoints(auth: AuthApi): { path: string; methods: string[] }[] {
  const out: { path: string; methods: string[] }[] = [];
  for (const endpoint of Object.values(auth.api)) {
    const e = endpoint as { path?: unknown; options?: { method?: string | string[]; metadata?: { SERVER_ONLY?: boolean } } };
    if (typeof e.path !== "string" || !e.options || e.options.metadata?.SERVER_ONLY) continue;
    out.push({ path: e.path, methods: [e.options.method ?? []].flat() });
  }
  return out;
}

type Matcher = { methods: Set<string>; pattern: RegExp };
const matchers = new WeakMap<AuthApi, Matcher[]>();

/** Exact patterns of the endpoints passed on: ":param" matches one segment of safe characters. */
function matchersOf(auth: AuthApi): Matcher[] {
  let list = matchers.get(auth);
  if (!list) {
    list = mountedAuthEndpoints(auth)
      .filter((e) => AUTH_ENDPOINTS[e.path] && AUTH_ENDPOINTS[e.path]!.policy !== "refused")
      .map((e) => {
        const source = (AUTH_BASE_PATH + e.path)
          .split("/")
          .map((seg) => (seg.startsWith(":") ? "[A-Za-z0-9_-]+" : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
          .join("/");
        return { methods: new Set(e.methods), pattern: new RegExp(`^${source}$`) };
      });
    matchers.set(auth, list);
  }
  return list;
}

/** Whether a request to /api/auth/* may reach better-auth: its method and path, spelled exactly. */
export function authRouteAllowed(auth: AuthApi, method: string, pathname: string): boolean {
  return matchersOf(auth).some((m) => m.methods.has(method) && m.pattern.test(pathname));
}
