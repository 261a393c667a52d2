/**
 * POST /v1/tenants/:t/retention/sweep (`admin`): runs the retention sweep now (durable/retention.ts),
 * as the daily schedule does. It answers with what it pruned (the range, the cutoff, the checkpoint
 * the range is pruned under, the entry recording it), the floor, the entries a hold kept, and
 * whether the deletions are done (an R2 object under a bucket lock, or D1 failing, leaves them to
 * be retried: `error` says why).
 */
import { Hono } from "hono";
import { z } from "zod";
import { PRUNED_ACTION } from "../../durable/retention";
import { principalEvent } from "../access-log";
import type { AppEnv } from "../app-env";
import { provenance } from "../provenance";
import { LOG_APPEND, route } from "../route-spec";
import { requirePermission } from "../tenant-access";
import { tenantLog } from "../tenant-log";

const Sweep = z.object({
  pruned: z
    .object({
      from: z.number().int(),
      to: z.number().int(),
      cutoff: z.string(),
      checkpoint: z.object({ size: z.number().int(), root: z.string() }),
      seq: z.number().int().describe("the sealtrail.retention.pruned entry recording it"),
    })
    .nullable()
    .describe("entries [from, to) pruned by this sweep; null when nothing was due (or all of it is held)"),
  floor: z.number().int().describe("bodies of entries below it are deleted (except those a hold keeps)"),
  held_kept: z.number().int().describe("entries below the floor whose bodies a legal hold keeps"),
  cleaned: z.boolean().describe("every deletion below the floor is done (false: retried by the log's alarm)"),
  error: z.string().nullable(),
});

export const RETENTION_ROUTE = route({
  method: "post",
  path: "/v1/tenants/{t}/retention/sweep",
  summary: "Run the retention sweep now: prune whole sealed bundles older than the period (logged)",
  permissions: ["admin"],
  response: Sweep,
  errors: [...LOG_APPEND],
});

export const retention = new Hono<AppEnv>().post("/retention/sweep", requirePermission(...RETENTION_ROUTE.permissions), async (c) => {
  const tenant = c.var.access.tenantId;
  const by = String(provenance(c).principal_id);
  const event = principalEvent(c, PRUNED_ACTION, { id: tenant, type: "tenant" }, { by });
  return c.json((await tenantLog(c).sweepRetention(tenant, event, provenance(c))) satisfies z.infer<typeof Sweep>);
});
