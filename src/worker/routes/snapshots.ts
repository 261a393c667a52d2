/**
 * /v1/tenants/:t/snapshots: sealed snapshots (signed manifest, checkpoint, entry bundle) for
 * `verify`, and POST /v1/tenants/:t/seal for `admin`. Downloads are logged as events.
 */
import { Hono, type Context } from "hono";
import { stream } from "hono/streaming";
import { z } from "zod";
import type { Manifest } from "../../core/manifest";
import { sealKeys, sealPrefix } from "../../core/seal";
import type { SealSummary } from "../../durable/log-types";
import { recordAccess } from "../access-log";
import type { AppEnv } from "../app-env";
import { Failure } from "../errors";
import { LOG_APPEND, LOG_CALL, queryOf, route, type RouteSpec } from "../route-spec";
import { requirePermission } from "../tenant-access";
import { refuseViewScoped } from "../view-access";
import { tenantLog } from "../tenant-log";
import { tenantData } from "../placement";

export const SNAPSHOT_PAGE_DEFAULT = 50;
export const SNAPSHOT_PAGE_MAX = 100;

const VERIFY = ["verify"] as const;

/** A snapshot's parts: each download is logged (an append), or refused if it cannot be. */
const part = (path: string, summary: string, responseType: string, pruned = false): RouteSpec =>
  route({
    method: "get",
    path,
    summary,
    permissions: VERIFY,
    responseType,
    errors: pruned ? ["not_found", "view_scoped", "bundle_pruned", ...LOG_APPEND] : ["not_found", "view_scoped", ...LOG_APPEND],
  });

const Snapshot = z.object({
  id: z.string(),
  from: z.number().int(),
  to: z.number().int(),
  root: z.string(),
  bundle_sha256: z.string(),
  sealed_at: z.string(),
  manifest_key: z.string(),
  bundle_key: z.string(),
}) satisfies z.ZodType<SealSummary>;

export const SNAPSHOT_ROUTES = {
  seal: route({
    method: "post",
    path: "/v1/tenants/{t}/seal",
    summary: "Seal waiting entries now",
    permissions: ["admin"],
    response: z.object({ sealed: z.array(Snapshot) }),
    errors: ["seal_failed", "split_view", ...LOG_CALL],
  }),
  list: route({
    method: "get",
    path: "/v1/tenants/{t}/snapshots",
    summary: "Sealed snapshots",
    permissions: VERIFY,
    query: z.strictObject({
      cursor: z.string().max(1024).optional(),
      limit: z.coerce.number().int().min(1).max(SNAPSHOT_PAGE_MAX).default(SNAPSHOT_PAGE_DEFAULT),
    }),
    response: z.object({ snapshots: z.array(Snapshot), next_cursor: z.string().nullable(), source: z.enum(["kv", "r2"]) }),
    errors: ["invalid_cursor", ...LOG_CALL],
  }),
  manifest: part("/v1/tenants/{t}/snapshots/{id}", "A snapshot's signed manifest", "text/plain"),
  checkpoint: part(
    "/v1/tenants/{t}/snapshots/{id}/checkpoint",
    "A snapshot's signed checkpoint, with its witnesses' cosignatures",
    "text/plain",
  ),
  bundle: part(
    "/v1/tenants/{t}/snapshots/{id}/bundle",
    "A snapshot's entry bundle (JSON lines); 410 bundle_pruned below the retention floor",
    "application/x-ndjson",
    true,
  ),
};

const verify = requirePermission(...VERIFY);

/** A seal's summary read back from its manifest in R2 (used when the KV index lags). */
async function summaryFromR2(bucket: R2Bucket, tenant: string, id: string): Promise<SealSummary | undefined> {
  const manifest = await bucket.get(sealKeys(tenant, Number(id)).manifest);
  if (!manifest) return undefined;
  const note = await manifest.text();
  const m = JSON.parse(note.slice(0, note.indexOf("\n"))) as Manifest;
  return {
    id,
    from: m.from,
    to: m.to,
    root: m.root,
    bundle_sha256: m.bundle_sha256,
    sealed_at: m.sealed_at,
    manifest_key: sealKeys(tenant, Number(id)).manifest,
    bundle_key: m.bundle_key,
  };
}

async function listFromR2(c: Context<AppEnv>, tenant: string, cursor: string | undefined, limit: number) {
  const { bucket } = await tenantData(c);
  const listed = await bucket.list({ prefix: sealPrefix(tenant), delimiter: "/", limit, ...(cursor ? { cursor } : {}) });
  const ids = listed.delimitedPrefixes.map((p) => p.slice(sealPrefix(tenant).length, -1));
  const snapshots = (await Promise.all(ids.map((id) => summaryFromR2(bucket, tenant, id)))).filter((s) => s !== undefined);
  return { snapshots, next_cursor: listed.truncated ? `r2:${listed.cursor}` : null, source: "r2" as const };
}

function snapshotId(c: Context<AppEnv>): number {
  const id = c.req.param("id") ?? "";
  if (!/^[0-9]{12}$/.test(id)) throw new Failure({ reason: "not_found", what: "Snapshot" });
  return Number(id);
}

async function download(c: Context<AppEnv>, part: "manifest" | "checkpoint" | "bundle") {
  const tenant = c.var.access.tenantId;
  // A seal bundle holds every entry it seals: refused to a credential scoped to a view.
  if (part === "bundle") refuseViewScoped(c, "A snapshot bundle");
  const id = snapshotId(c);
  const object = await (await tenantData(c)).bucket.get(sealKeys(tenant, id)[part]);
  if (!object && part === "bundle") {
    // A bundle below the retention floor was deleted on purpose (durable/retention.ts): 410, not 404.
    const seal = (await tenantLog(c).seals(tenant, id, 1))[0];
    const { floor, entry } = await tenantLog(c).retention(tenant);
    if (seal && seal.to <= floor) throw new Failure({ reason: "bundle_pruned", id: c.req.param("id")!, floor, prunedBy: entry });
  }
  if (!object) throw new Failure({ reason: "not_found", what: "Snapshot" });
  await recordAccess(c, "sealtrail.snapshot.downloaded", { id: c.req.param("id")!, type: "snapshot" }, { part });
  return object;
}

export const snapshots = new Hono<AppEnv>()
  .post("/seal", requirePermission(...SNAPSHOT_ROUTES.seal.permissions), async (c) => {
    const result = await tenantLog(c).sealNow(c.var.access.tenantId);
    if (!result.ok) throw new Failure(result.error);
    return c.json(result.value);
  })

  .get("/snapshots", verify, async (c) => {
    const q = queryOf(c, SNAPSHOT_ROUTES.list);
    const tenant = c.var.access.tenantId;
    if (q.cursor?.startsWith("r2:")) return c.json(await listFromR2(c, tenant, q.cursor.slice(3), q.limit));
    const kvCursor = q.cursor?.startsWith("kv:") ? q.cursor.slice(3) : undefined;
    if (q.cursor !== undefined && kvCursor === undefined) {
      throw new Failure({ reason: "invalid_cursor" });
    }
    const listed = await c.env.KV.list<SealSummary>({
      prefix: sealPrefix(tenant),
      limit: q.limit,
      ...(kvCursor ? { cursor: kvCursor } : {}),
    });
    const items = listed.keys.flatMap((k) => (k.metadata ? [k.metadata] : []));
    if (listed.list_complete) {
      // KV is eventually consistent: if it has not caught up with the log, list R2 instead.
      const latest = (await tenantLog(c).stats()).latest_seal?.id;
      const lastListed = items[items.length - 1]?.id;
      if (latest !== undefined && (lastListed === undefined || lastListed < latest) && kvCursor === undefined) {
        return c.json(await listFromR2(c, tenant, undefined, q.limit));
      }
    }
    return c.json({ snapshots: items, next_cursor: listed.list_complete ? null : `kv:${listed.cursor}`, source: "kv" });
  })

  .get("/snapshots/:id", verify, async (c) => {
    const object = await download(c, "manifest");
    return c.text(await object.text(), 200, { "content-type": "text/plain; charset=utf-8" });
  })

  .get("/snapshots/:id/checkpoint", verify, async (c) => {
    const object = await download(c, "checkpoint");
    const note = await object.text();
    // The R2 object is the log's signed checkpoint, as sealed; the witnesses' cosignatures of
    // it (docs/design.md "Witnessing") follow its signature line.
    const size = Number(note.split("\n", 2)[1]);
    const lines = Number.isSafeInteger(size) ? await tenantLog(c).cosignatureLines(c.var.access.tenantId, size) : "";
    return c.text(note + lines, 200, { "content-type": "text/plain; charset=utf-8" });
  })

  .get("/snapshots/:id/bundle", verify, async (c) => {
    const object = await download(c, "bundle");
    const sha = object.customMetadata?.sha256;
    c.header("content-type", "application/x-ndjson; charset=utf-8");
    c.header("content-length", String(object.size));
    c.header("content-disposition", `attachment; filename="${c.req.param("id")}.jsonl"`);
    if (sha) {
      // What Sealtrail recorded when it wrote the bundle; the signed manifest is the authority.
      c.header("x-sealtrail-bundle-sha256", sha);
      c.header("repr-digest", `sha-256=:${sha}:`);
    }
    return stream(c, async (s) => {
      await s.pipe(object.body);
    });
  });
