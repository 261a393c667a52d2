/**
 * POST /v1/tenants/:t/rebuild (`admin`): restores the tenant's D1 rows from the sealed R2
 * bundles and the Durable Object's unsealed entries, checking each against the log's tree.
 * Long rebuilds answer `done: false` with `next_seal`: post again with it to continue.
 */
import { Hono } from "hono";
import { z } from "zod";
import { recordAccess } from "../access-log";
import type { AppEnv } from "../app-env";
import { Failure } from "../errors";
import { readOptionalJsonBody } from "../request";
import { bodyOf, LOG_APPEND, route } from "../route-spec";
import { requirePermission } from "../tenant-access";
import { tenantLog } from "../tenant-log";

/** How long one request works before it answers with where it stopped. */
export const REBUILD_REQUEST_BUDGET_MS = 10_000;

export const REBUILD_ROUTE = route({
  method: "post",
  path: "/v1/tenants/{t}/rebuild",
  summary: "Rebuild D1 rows from R2 bundles and the log's unsealed entries",
  permissions: ["admin"],
  body: z.strictObject({ next_seal: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0) }),
  invalid: "invalid_rebuild_request",
  optionalBody: true,
  response: z.object({ done: z.boolean(), restored: z.number().int(), next_seal: z.number().int() }),
  errors: ["rebuild_refused", ...LOG_APPEND],
});

export const rebuild = new Hono<AppEnv>().post("/rebuild", requirePermission(...REBUILD_ROUTE.permissions), async (c) => {
  const body = await readOptionalJsonBody(c);
  const { next_seal } = bodyOf(REBUILD_ROUTE, body);
  const tenant = c.var.access.tenantId;
  const result = await tenantLog(c).rebuildD1(tenant, next_seal, REBUILD_REQUEST_BUDGET_MS);
  if (!result.ok) {
    await recordAccess(c, "sealtrail.log.rebuild_refused", { id: tenant, type: "tenant" }, { ...result.error });
    throw new Failure({ reason: "rebuild_refused", why: result.error.reason });
  }
  await recordAccess(c, "sealtrail.log.rebuilt", { id: tenant, type: "tenant" }, { from_seal: next_seal, ...result.value });
  return c.json({ done: result.value.done, restored: result.value.restored, next_seal: result.value.nextSeal });
});
