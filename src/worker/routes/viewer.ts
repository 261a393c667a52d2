/**
 * The embeddable viewer (issue #19.5; README "Embeddable viewer", docs/design.md "Viewer tokens").
 *
 * POST /v1/tenants/:t/viewer-tokens: a tenant's backend (an API key with `read`, or a member
 * with `read`) mints a signed token for a view that lies within its own (`narrows`), for at most
 * an hour; the minting is an entry (`sealtrail.viewer_token.minted`, with the token id and view).
 *
 * GET /embed/viewer/:t: the viewer's page, to be framed by the tenant's pages. Its CSP allows only
 * this origin's script, style and requests, and `frame-ancestors` lists the tenant's allowed
 * origins: those of its publishable keys in use (`allowed_origins`, routes/keys.ts), 'none' if it
 * has none (or no such tenant: the answer does not tell). The token never travels in its URL:
 * the host passes it in the fragment or by postMessage (src/console/viewer/viewer.ts).
 */
import { and, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { z } from "zod";
import { apikey } from "../../db/auth-schema";
import { recordAccess } from "../access-log";
import type { AppEnv } from "../app-env";
import { PUBLISHABLE_KEY_CONFIG } from "../auth-options";
import { Failure } from "../errors";
import { readJsonBody } from "../request";
import { bodyOf, LOG_APPEND, route } from "../route-spec";
import { allowedOriginsOf, requirePermission, TENANT_ID } from "../tenant-access";
import { signViewerToken, VIEWER_TOKEN_MAX_TTL_SECONDS, type ViewerClaims } from "../viewer-token";
import { checkView, narrows, type View } from "../../core/views";

const ViewSchema = z.unknown().transform((v, ctx) => {
  const checked = checkView(v);
  if (!checked.ok) {
    ctx.addIssue({ code: "custom", message: checked.message });
    return z.NEVER;
  }
  return checked.view;
});

export const VIEWER_ROUTES_SPEC = {
  mint: route({
    method: "post",
    path: "/v1/tenants/{t}/viewer-tokens",
    summary: `Mint a viewer token for a view within the caller's own, valid at most ${VIEWER_TOKEN_MAX_TTL_SECONDS} s (logged)`,
    permissions: ["read"],
    access: "an API key or member with read; the view must lie within the caller's own view",
    body: z.strictObject({
      view: ViewSchema,
      ttl_seconds: z.number().int().min(1).max(VIEWER_TOKEN_MAX_TTL_SECONDS).default(900),
    }),
    invalid: "invalid_viewer_token_request",
    response: z.object({
      token: z.string().describe("stv1.<payload>.<signature>; send as Authorization: Bearer"),
      token_id: z.string(),
      tenant: z.string(),
      view: z.record(z.string(), z.unknown()),
      expires_at: z.string(),
    }),
    status: 201,
    errors: ["view_widened", ...LOG_APPEND],
  }),
  page: route({
    method: "get",
    path: "/embed/viewer/{t}",
    summary: "The embeddable viewer's page (framed only by the tenant's allowed origins; the token comes by fragment or postMessage)",
    responseType: "text/html",
    errors: [],
  }),
};

/** The minting credential's own view (a scoped key's, a grant's; the whole log otherwise). */
const ownView = (access: { view?: View }): View => access.view ?? {};

export const viewerTokens = new Hono<AppEnv>().post(
  "/viewer-tokens",
  requirePermission(...VIEWER_ROUTES_SPEC.mint.permissions),
  async (c) => {
    const body = bodyOf(VIEWER_ROUTES_SPEC.mint, await readJsonBody(c));
    const { principal, tenantId } = c.var.access;
    if (!narrows(body.view, ownView(c.var.access))) throw new Failure({ reason: "view_widened" });
    const nowS = Math.floor(Date.now() / 1000);
    const claims: ViewerClaims = {
      tid: crypto.randomUUID(),
      t: tenantId,
      view: body.view,
      iat: nowS,
      // Never beyond the minting credential: an expiring key, a grant or an elevation that ends sooner.
      exp: Math.min(nowS + body.ttl_seconds, Math.floor((c.var.access.expiresAtMs ?? Infinity) / 1000)),
      by: principal.type === "user" ? principal.userId : principal.type === "viewer_token" ? principal.tokenId : principal.keyId,
    };
    const token = await signViewerToken(c.env.SEALTRAIL_SIGNING_SECRET, claims);
    const expiresAt = new Date(claims.exp * 1000).toISOString();
    // Logged before the token is handed out: a token the log does not know of is never issued.
    await recordAccess(
      c,
      "sealtrail.viewer_token.minted",
      { id: claims.tid, type: "viewer_token" },
      { token_id: claims.tid, view: body.view as Record<string, string>, expires_at: expiresAt, ttl_seconds: body.ttl_seconds },
    );
    return c.json({ token, token_id: claims.tid, tenant: tenantId, view: body.view, expires_at: expiresAt }, 201);
  },
);

/** Origins that may frame the tenant's viewer: those of its publishable keys in use. */
export async function viewerOrigins(db: D1Database, tenant: string, nowMs: number): Promise<string[]> {
  if (!TENANT_ID.test(tenant)) return [];
  const rows = await drizzle(db)
    .select({ metadata: apikey.metadata, enabled: apikey.enabled, expiresAt: apikey.expiresAt })
    .from(apikey)
    .where(and(eq(apikey.referenceId, tenant), eq(apikey.configId, PUBLISHABLE_KEY_CONFIG)))
    .all();
  const origins = new Set<string>();
  for (const r of rows) {
    if (r.enabled === false || (r.expiresAt != null && r.expiresAt.getTime() < nowMs)) continue;
    // Stored through routes/keys.ts's Origin pattern (scheme://host[:port]); checked again, as they go into a header.
    for (const o of allowedOriginsOf(r.metadata)) if (/^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?$/.test(o)) origins.add(o);
  }
  return [...origins].sort();
}

/** The viewer page's CSP: only this origin's script, style and requests; framed only by `origins`. */
export const viewerCsp = (origins: readonly string[]): string =>
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; " +
  `frame-ancestors ${origins.length > 0 ? origins.join(" ") : "'none'"}`;

/** The page: a shell the script (dist/console/viewer.js, from src/console/viewer/) fills in; no inline script or style. */
export const VIEWER_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Audit log</title>
<link rel="stylesheet" href="/viewer.css">
<script src="/viewer.js" defer></script>
</head>
<body><main id="viewer" aria-live="polite"></main></body>
</html>
`;

export const viewerPage = new Hono<AppEnv>().get("/viewer/:t", async (c) => {
  const origins = await viewerOrigins(c.env.DB, c.req.param("t"), Date.now());
  return c.html(VIEWER_PAGE, 200, { "content-security-policy": viewerCsp(origins), "cache-control": "no-store" });
});
