/**
 * A viewer token as a principal (issue #19.5): `Authorization: Bearer stv1.…` (viewer-token.ts).
 * It grants `read` within its view on the routes of `VIEWER_ROUTES` only, all GET: the list,
 * one entry, its proof, the export, the checkpoint and the RFC 6962 proofs. Everything else
 * (settings, stats, keys, writes, other tenants) is refused before any route runs.
 */
import { and, eq, type SQL } from "drizzle-orm";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import type { Context } from "hono";
import { auditEvents } from "../db/audit-schema";
import type { AppEnv, TenantAccess } from "./app-env";
import { Failure } from "./errors";
import { tenantData } from "./placement";
import { tenantLog } from "./tenant-log";
import { isViewerToken, verifyViewerToken } from "./viewer-token";
import { entryTextInView, type View } from "../core/views";
import { viewConditions } from "./viewer-view";

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
  };
}

/** The view the request's principal is held to, if any (VIEWER stand-in until KEYS' enforcement merges). */
export function accessView(c: Context<AppEnv>): View | undefined {
  const { principal } = c.var.access;
  return principal.type === "viewer_token" ? principal.view : undefined;
}

/** Stored bytes of entry `seq`: D1, else the log (entries not mirrored yet); undefined if neither holds it. */
async function entryBytes(c: Context<AppEnv>, seq: number): Promise<string | undefined> {
  const row = await drizzle((await tenantData(c)).db)
    .select({ entry: auditEvents.entry })
    .from(auditEvents)
    .where(and(eq(auditEvents.tenantId, c.var.access.tenantId), eq(auditEvents.seq, seq)))
    .get();
  return row?.entry ?? (await tenantLog(c).entry(seq))?.entry;
}

/**
 * A proof or entry of `seq` for a principal held to a view: refused (403 outside_view) unless
 * the entry is in the view. An entry nobody holds is left to the route (its own 404 / range error).
 */
export async function refuseOutsideView(c: Context<AppEnv>, seq: number, bytes?: string): Promise<void> {
  const view = accessView(c);
  if (view === undefined) return;
  const entry = bytes ?? (await entryBytes(c, seq));
  if (entry === undefined) return;
  if (!entryTextInView(view, entry)) throw new Failure({ reason: "outside_view" });
}

/** The view's SQL conditions for list and export (none without a view). */
export const accessViewConditions = (c: Context<AppEnv>, db: DrizzleD1Database): SQL[] => {
  const view = accessView(c);
  return view === undefined ? [] : viewConditions(db, c.var.access.tenantId, view);
};
