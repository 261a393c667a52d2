/**
 * /v1/tenants/:t/sources (issue #18.4; README "Missed events: gaps and silence"): each numbered
 * source's last number, when it was last seen, its open gaps as exact missing ranges, its declared
 * cadence and whether it is silent; PUT …/sources/:id declares a cadence (admin; logged as
 * `sealtrail.source.cadence_set` in the commit that applies it). /stats/lag serves the mirror and
 * stream lag sampled once a minute for 24 hours (the console's KPI view). The log's own state
 * (like /stats), not log content: reads are not logged.
 */
import { Hono } from "hono";
import { z } from "zod";
import { CADENCE_MAX_SECONDS, CADENCE_MIN_SECONDS, KPI_SLOT_MS } from "../../durable/sources";
import { principalEvent } from "../access-log";
import type { AppEnv } from "../app-env";
import { Failure } from "../errors";
import { FIELD_LIMITS } from "../event-schema";
import { provenance } from "../provenance";
import { parseWith, readJsonBody } from "../request";
import { bodyOf, LOG_APPEND, LOG_CALL, queryOf, route } from "../route-spec";
import { requirePermission } from "../tenant-access";
import { tenantLog } from "../tenant-log";
import { Receipt } from "./events";

const Gap = z.object({
  from: z.number().int().describe("the first missing number"),
  to: z.number().int().describe("the last missing number (inclusive)"),
  opened_at: z.string(),
});

const SourceSchema = z.object({
  id: z.string(),
  last_seq: z.number().int().nullable().describe("the highest number received (null: none yet)"),
  events: z.number().int(),
  first_seen_at: z.string().nullable(),
  last_seen_at: z.string().nullable(),
  expected_every_seconds: z.number().nullable().describe("the declared cadence (null: none)"),
  silent: z.boolean().describe("no event for longer than the cadence"),
  silent_since: z.string().nullable(),
  missing: z.number().int().describe("numbers missing in the open gaps"),
  gaps: z.array(Gap).describe("open gaps, lowest first: every number in [from, to] was produced and has not arrived"),
  filled: z.number().int().describe("numbers that arrived late, into a gap"),
  restarts: z.number().int().describe("a 0 received after higher numbers: the source lost its counter"),
  duplicates: z.number().int().describe("other numbers received again (at or below the highest, in no open gap)"),
  last_reused: z.object({ seq: z.number().int(), at: z.string() }).nullable(),
  forgotten: z
    .object({ gaps: z.number().int(), missing: z.number().int() })
    .describe("the lowest ranges dropped past the cap of open ranges per source (100)"),
});

const SourceId = z.string().min(1).max(FIELD_LIMITS.sourceId);

const CadenceBody = z.strictObject({
  expected_every_seconds: z
    .number()
    .int()
    .min(CADENCE_MIN_SECONDS)
    .max(CADENCE_MAX_SECONDS)
    .nullable()
    .describe("at least one event this often, or the source is silent (an alert); null removes the cadence"),
});

export const SOURCE_ROUTES = {
  list: route({
    method: "get",
    path: "/v1/tenants/{t}/sources",
    summary: "Numbered sources: last number, last seen, open gaps (exact missing ranges), cadence, silent",
    permissions: ["read", "verify", "admin"],
    query: z.strictObject({
      after: SourceId.optional().describe("the last id of the previous page"),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
    }),
    response: z.object({ sources: z.array(SourceSchema), next: z.string().nullable() }),
    errors: LOG_CALL,
  }),
  cadence: route({
    method: "put",
    path: "/v1/tenants/{t}/sources/{id}",
    summary: "Declare a source's cadence (logged, applied in the same transaction)",
    permissions: ["admin"],
    body: CadenceBody,
    invalid: "invalid_source_request",
    response: z.object({ source: SourceSchema, receipt: Receipt }),
    errors: ["too_many_sources", ...LOG_APPEND],
  }),
  lag: route({
    method: "get",
    path: "/v1/tenants/{t}/stats/lag",
    summary: "Mirror and stream lag over the last 24 hours: the highest of each minute",
    permissions: ["read", "verify", "admin"],
    response: z.object({
      sample_seconds: z.number().int(),
      samples: z.array(
        z.object({
          at: z.string(),
          mirror_lag: z.number().int(),
          mirror_lag_ms: z.number().int(),
          stream_lag: z.number().int().nullable(),
          stream_lag_ms: z.number().int().nullable(),
        }),
      ),
    }),
    errors: LOG_CALL,
  }),
};

const { list, cadence, lag } = SOURCE_ROUTES;

export const sources = new Hono<AppEnv>()
  .get("/sources", requirePermission(...list.permissions), async (c) => {
    const { after, limit } = queryOf(c, list);
    return c.json(await tenantLog(c).sources(c.var.access.tenantId, after ?? null, limit));
  })
  .put("/sources/:id", requirePermission(...cadence.permissions), async (c) => {
    const id = parseWith(SourceId, c.req.param("id"), "invalid_source_request");
    const body = bodyOf(cadence, await readJsonBody(c));
    const tenant = c.var.access.tenantId;
    // The object adds metadata.source, .before and .after, read in the transaction that applies the change.
    const event = principalEvent(c, "sealtrail.source.cadence_set", { id, type: "source" });
    const result = await tenantLog(c).setSourceCadence(tenant, id, body.expected_every_seconds, event, provenance(c));
    if (!result.ok) throw new Failure(result.error);
    // One entry records the change: its receipt.
    return c.json({ source: result.source, receipt: result.receipts[0]! });
  })
  .get("/stats/lag", requirePermission(...lag.permissions), async (c) => {
    return c.json({ sample_seconds: KPI_SLOT_MS / 1000, samples: await tenantLog(c).lagSamples(c.var.access.tenantId) });
  });
