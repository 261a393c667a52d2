/**
 * POST /v1/tenants/:t/rebuild (`admin`): restores the tenant's D1 rows from the sealed R2
 * bundles and the Durable Object's unsealed entries, checking each against the log's tree.
 * Long rebuilds answer `done: false` with `next_seal`: post again with it to continue.
 */
import { Hono } from "hono";
import { z } from "zod";
import type { JsonValue } from "../../core/jcs";
import { recordAccess } from "../access-log";
import type { AppEnv } from "../app-env";
import { Failure } from "../errors";
import { parseWith, readJsonBody } from "../request";
import { requirePermission } from "../tenant-access";
import { tenantLog } from "../tenant-log";

/** How long one request works before it answers with where it stopped. */
export const REBUILD_REQUEST_BUDGET_MS = 10_000;

const Body = z.strictObject({ next_seal: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0) });

export const rebuild = new Hono<AppEnv>().post("/rebuild", requirePermission("admin"), async (c) => {
  const hasBody = (c.req.header("content-length") ?? "0") !== "0";
  const body: JsonValue = hasBody ? await readJsonBody(c) : {};
  const { next_seal } = parseWith(Body, body, "invalid_rebuild_request");
  const tenant = c.var.access.tenantId;
  const result = await tenantLog(c).rebuildD1(tenant, next_seal, REBUILD_REQUEST_BUDGET_MS);
  if (!result.ok) {
    await recordAccess(c, "sealtrail.log.rebuild_refused", { id: tenant, type: "tenant" }, { ...result.error });
    throw new Failure({ reason: "invalid_request", code: "rebuild_refused", message: `The rebuild stopped: ${result.error.reason}.`, status: 422 });
  }
  await recordAccess(c, "sealtrail.log.rebuilt", { id: tenant, type: "tenant" }, { from_seal: next_seal, ...result.value });
  return c.json({ done: result.value.done, restored: result.value.restored, next_seal: result.value.nextSeal });
});
