/**
 * A viewer token as a principal (issue #19.5): `Authorization: Bearer stv1.…` (viewer-token.ts).
 * It grants `read` within its view on the routes of `VIEWER_ROUTES` only, all GET: the list,
 * one entry, its proof, the export, the checkpoint and the RFC 6962 proofs. Everything else
 * (settings, stats, keys, writes, other tenants) is refused before any route runs.
 */
import type { Context } from "hono";
import type { AppEnv, TenantAccess } from "./app-env";
import { Failure } from "./errors";
import { isViewerToken, verifyViewerToken } from "./viewer-token";

/** The paths under /v1/tenants/:t a viewer token may GET. */
export const VIEWER_ROUTES: readonly RegExp[] = [
  /^\/events$/,
  /^\/events\/[0-9]+$/,
  /^\/events\/[0-9]+\/proof$/,
  /^\/export$/,
  /^\/checkpoint$/,
  /^\/proof\/inclusion$/,
  /^\/proof\/consistency$/,
];

export function bearerViewerToken(headers: Headers): string | undefined {
  const bearer = headers.get("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1];
  return bearer !== undefined && isViewerToken(bearer) ? bearer : undefined;
}

/** The access a viewer token gives to this request, or undefined if it carries none. */
export async function viewerTokenAccess(c: Context<AppEnv>, tenantId: string): Promise<TenantAccess | undefined> {
  const token = bearerViewerToken(c.req.raw.headers);
  if (token === undefined) return undefined;
  const checked = await verifyViewerToken(c.env.SEALTRAIL_SIGNING_SECRET, token, Date.now());
  if (!checked.ok) throw new Failure({ reason: "viewer_token_invalid", why: checked.why });
  const { claims } = checked;
  if (claims.t !== tenantId) throw new Failure({ reason: "not_found", what: "Tenant" });
  const prefix = `/v1/tenants/${tenantId}`;
  const rest = c.req.path.startsWith(prefix) ? c.req.path.slice(prefix.length) : "";
  if (c.req.method !== "GET" || !VIEWER_ROUTES.some((r) => r.test(rest))) throw new Failure({ reason: "viewer_token_route" });
  return {
    tenantId,
    principal: { type: "viewer_token", tokenId: claims.tid, view: claims.view, mintedBy: claims.by },
    permissions: new Set(["read"]),
    // The token's view narrows every read as a scoped key's does (view-access.ts: SQL for lists and
    // exports, 403 outside_view for entries and proofs).
    view: claims.view,
  };
}
