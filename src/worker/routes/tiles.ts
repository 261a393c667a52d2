/**
 * /logs/:t/: the tenant's log as c2sp.org/tlog-tiles (docs/design.md "Tiles"): `checkpoint`,
 * hash tiles `tile/<L>/<N>[.p/<W>]` and entry bundles `tile/entries/<N>[.p/<W>]`, exactly as the
 * spec spells them (src/core/tiles.ts `parseTilePath`; any other spelling is 404).
 *
 * Who may read: the checkpoint and hash tiles need `read` or `verify`, or nobody's credential
 * when the tenant's `public_log` setting is on (hashes and sizes only). Entry bundles always need
 * `read`, and each download is logged (access-log.ts), as every other read of entries is.
 * Full tiles come from R2 (durable/tiles.ts writes them as the tree grows) and are immutable;
 * partial tiles, and full ones not yet written, are computed by the tenant's Durable Object.
 */
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono, type Context } from "hono";
import { parseTilePath, TILE_WIDTH, type TileRef } from "../../core/tiles";
import { organization } from "../../db/auth-schema";
import { tileKey } from "../../durable/tiles";
import { recordAccess } from "../access-log";
import type { AppEnv } from "../app-env";
import { Failure } from "../errors";
import type { Permission } from "../permissions";
import { LOG_APPEND, LOG_CALL, route } from "../route-spec";
import { hasCredential, TENANT_ID, tenantAccess, usePermission } from "../tenant-access";
import { refuseViewScoped } from "../view-access";
import { tenantStores } from "../../durable/placement";
import { placementOf } from "../placement";
import { tenantLogOf } from "../tenant-log";

/** Until the log has compared itself with R2, or if R2 disagrees, it signs nothing (routes/proofs.ts). */
const SIGNED = ["not_reconciled", "split_view"] as const;
const READ_OR_VERIFY = ["read", "verify"] as const;
const PUBLIC = "Anyone, when the tenant's `public_log` setting is on; otherwise a credential with `read` or `verify`.";

export const TILE_ROUTES = {
  checkpoint: route({
    method: "get",
    path: "/logs/{t}/checkpoint",
    summary: "The current signed checkpoint; with witnesses required, the newest one with their quorum (c2sp.org/tlog-tiles)",
    permissions: READ_OR_VERIFY,
    access: PUBLIC,
    responseType: "text/plain",
    errors: [...SIGNED, ...LOG_CALL],
  }),
  entries: route({
    method: "get",
    path: "/logs/{t}/tile/entries/{path}",
    summary: "An entry bundle, `<N>[.p/<W>]` (c2sp.org/tlog-tiles: uint16 length-prefixed entries); logged",
    permissions: ["read"],
    responseType: "application/octet-stream",
    errors: ["view_scoped", ...LOG_APPEND],
  }),
  tile: route({
    method: "get",
    path: "/logs/{t}/tile/{path}",
    summary: "A Merkle tree tile, `<L>/<N>[.p/<W>]` (c2sp.org/tlog-tiles: 32-byte hashes, 256 when full)",
    permissions: READ_OR_VERIFY,
    access: PUBLIC,
    responseType: "application/octet-stream",
    errors: [...LOG_CALL],
  }),
};

/** A year, and immutable: a full tile never changes (c2sp.org/tlog-tiles "Merkle Tree"). */
const FULL_TILE_MAX_AGE = 31_536_000;
/** A partial tile of width W never changes either, but it is computed: a short lifetime. */
const PARTIAL_TILE_MAX_AGE = 60;

/**
 * Whether a tenant's log is public, as this isolate last read it (D1 for the tenant, then its
 * Durable Object's settings), trusted for PUBLIC_CACHE_MS: a public log's tiles are fetched by the
 * hundred, and turning `public_log` off takes effect within that time. Bounded: the oldest entry
 * goes first.
 */
export const PUBLIC_CACHE_MS = 5_000;
const PUBLIC_CACHE_MAX = 1_000;
const publicLogs = new Map<string, { public: boolean; atMs: number }>();

/** After a settings change (routes/settings.ts): this isolate reads the setting again. */
export const forgetPublicLog = (tenant: string): boolean => publicLogs.delete(tenant);

async function isPublic(c: Context<AppEnv>, tenant: string): Promise<boolean> {
  const now = Date.now();
  const known = publicLogs.get(tenant);
  if (known && now - known.atMs < PUBLIC_CACHE_MS) return known.public;
  // A D1 read before the object: a request naming no tenant never creates a Durable Object.
  const row = await drizzle(c.env.DB).select({ id: organization.id }).from(organization).where(eq(organization.id, tenant)).get();
  const open = row !== undefined && (await tenantLogOf(c.env, tenant).settings(tenant)).publicLog;
  publicLogs.delete(tenant);
  if (publicLogs.size >= PUBLIC_CACHE_MAX) publicLogs.delete(publicLogs.keys().next().value!);
  publicLogs.set(tenant, { public: open, atMs: now });
  return open;
}

interface Reader {
  tenant: string;
  /** No credential: the tenant's log is public. */
  anonymous: boolean;
}

/**
 * Who reads: a caller with a credential goes through tenantAccess (401/404/403 as everywhere)
 * and needs one of `permissions`; without one, only a public log's checkpoint and hash tiles
 * are served. A tenant that does not exist and one that is not public answer alike (401).
 */
async function readerOf(c: Context<AppEnv>, permissions: readonly Permission[], publicOk: boolean): Promise<Reader> {
  const tenant = c.req.param("t") ?? "";
  if (hasCredential(c.req.raw.headers)) {
    await tenantAccess(c, async () => {});
    await usePermission(c, permissions);
    return { tenant: c.var.access.tenantId, anonymous: false };
  }
  if (!publicOk || !TENANT_ID.test(tenant) || !(await isPublic(c, tenant))) throw new Failure({ reason: "unauthenticated" });
  return { tenant, anonymous: true };
}

/** The tile a request names, spelled exactly as c2sp.org/tlog-tiles spells it. */
function tileOf(c: Context<AppEnv>, tenant: string, entries: boolean): TileRef {
  const path = new URL(c.req.url).pathname;
  const ref = parseTilePath(path.slice(`/logs/${tenant}/`.length));
  if (!ref || (ref.level === "entries") !== entries) throw new Failure({ reason: "not_found", what: "Tile" });
  return ref;
}

/** A tile's bytes: a full one from R2 when written, else computed by the Durable Object (404 beyond the tree). */
async function tileBytes(c: Context<AppEnv>, tenant: string, ref: TileRef): Promise<Uint8Array> {
  if (ref.width === TILE_WIDTH) {
    // The tenant's own bucket (its jurisdiction's: placement.ts).
    const { bucket } = tenantStores(c.env, await placementOf(c.env, tenant));
    const stored = await bucket.get(tileKey(tenant, ref));
    if (stored) return new Uint8Array(await stored.arrayBuffer());
  }
  const computed = await tenantLogOf(c.env, tenant).tile(tenant, ref);
  if (!computed.ok) throw new Failure(computed.error);
  return computed.value;
}

function send(c: Context<AppEnv>, bytes: Uint8Array, ref: TileRef, reader: Reader) {
  const scope = reader.anonymous ? "public" : "private";
  const age = ref.width === TILE_WIDTH ? `max-age=${FULL_TILE_MAX_AGE}, immutable` : `max-age=${PARTIAL_TILE_MAX_AGE}`;
  c.header("content-type", "application/octet-stream");
  c.header("cache-control", `${scope}, ${age}`);
  if (reader.anonymous) c.header("access-control-allow-origin", "*");
  return c.body(bytes as Uint8Array<ArrayBuffer>, 200);
}

export const tiles = new Hono<AppEnv>()
  .get("/checkpoint", async (c) => {
    const reader = await readerOf(c, TILE_ROUTES.checkpoint.permissions, true);
    // With witnesses required, the newest witnessed checkpoint (docs/design.md "Tiles").
    const cp = await tenantLogOf(c.env, reader.tenant).publishedCheckpoint(reader.tenant);
    if (!cp.ok) throw new Failure(cp.error);
    // "This endpoint is mutable, so its headers SHOULD prevent caching beyond a few seconds."
    const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" };
    if (reader.anonymous) headers["access-control-allow-origin"] = "*";
    return c.text(cp.value.note, 200, headers);
  })
  // Before tile/*, which would match these paths too.
  .get("/tile/entries/*", async (c) => {
    const reader = await readerOf(c, TILE_ROUTES.entries.permissions, false);
    // A bundle holds 256 entries, whatever a view allows: refused to a credential scoped to one.
    refuseViewScoped(c, "An entry bundle");
    const ref = tileOf(c, reader.tenant, true);
    const bytes = await tileBytes(c, reader.tenant, ref);
    await recordAccess(
      c,
      "sealtrail.entries.downloaded",
      { id: String(ref.index), type: "entry_bundle" },
      { from: ref.index * TILE_WIDTH, count: ref.width },
    );
    return send(c, bytes, ref, reader);
  })
  .get("/tile/*", async (c) => {
    const reader = await readerOf(c, TILE_ROUTES.tile.permissions, true);
    const ref = tileOf(c, reader.tenant, false);
    return send(c, await tileBytes(c, reader.tenant, ref), ref, reader);
  });
