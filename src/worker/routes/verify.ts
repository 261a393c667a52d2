/**
 * /v1/tenants/:t/verify: verification runs (`verify` permission). POST starts one (or
 * returns the one running) and works on it before answering: small logs get their report at
 * once (200), larger ones continue in the background (202) and are followed with
 * GET /verify/:job. GET /verify lists past reports. A run given `from` or `to` is a `range`
 * run, recorded as such with the range it checked: only a `full` run is the tenant's status.
 */
import { and, desc, eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { z } from "zod";
import { verificationReports } from "../../db/audit-schema";
import { principalEvent } from "../access-log";
import type { AppEnv } from "../app-env";
import { Failure } from "../errors";
import { provenance } from "../provenance";
import { readOptionalJsonBody } from "../request";
import { bodyOf, LOG_CALL, route } from "../route-spec";
import { requirePermission } from "../tenant-access";
import { logAudit } from "../tenant-log";
import { StartBody } from "../verify-request";
import { tenantData } from "../placement";

const Range = z.object({ from: z.number().int(), to: z.number().int() }).describe("entries [from, to)");
const Mode = z.enum(["full", "incremental", "range"]).describe("only a full run is the tenant's verification status");
const Failures = z.array(
  z.object({
    kind: z.string(),
    seq: z.number().int().nullable().optional(),
    key: z.string().optional(),
    detail: z.string().optional(),
    expected: z.unknown().optional(),
    found: z.unknown().optional(),
  }),
);
/** Retention: bodies deleted below `to`, as the log's newest sealtrail.retention.pruned entry (`under`) says. */
export const PrunedRangeSchema = z
  .object({
    from: z.number().int(),
    to: z.number().int(),
    under: z.number().int(),
    checkpoint: z.object({ size: z.number().int(), root: z.string() }),
  })
  .describe("entries [from, to) pruned by retention under entry `under` and checkpoint (size, root): reported, not failed");
const Report = z.object({
  job_id: z.string(),
  tenant: z.string(),
  mode: Mode,
  ok: z.boolean(),
  range: Range,
  checked: z.object({
    entries: z.number().int(),
    seals: z.number().int(),
    bundle_entries: z.number().int(),
    sampled: z.number().int(),
    pruned: z.number().int().optional().describe("entries below the retention floor whose bodies were deleted (their leaves checked)"),
  }),
  started_at: z.string(),
  finished_at: z.string(),
  duration_ms: z.number().int(),
  failures: Failures,
  pruned: PrunedRangeSchema.nullable().optional(),
});
const Job = z.object({
  job_id: z.string(),
  status: z.enum(["running", "done"]),
  mode: Mode,
  range: Range,
  progress: z.object({ checked: z.number().int(), next: z.number().int(), to: z.number().int(), phase: z.string() }),
  report: Report.nullable(),
});
const ReportRow = z.object({
  job_id: z.string(),
  mode: Mode,
  range: Range.nullable(),
  ok: z.boolean(),
  failures: z.number().int(),
  created_at: z.string(),
});

const VERIFY = ["verify"] as const;

export const VERIFY_ROUTES = {
  start: route({
    method: "post",
    path: "/v1/tenants/{t}/verify",
    summary: "Start a verification run (from/to make it a range run); 200 with its report if it finished at once, else 202",
    permissions: VERIFY,
    body: StartBody,
    invalid: "invalid_verify_request",
    optionalBody: true,
    response: Job,
    errors: LOG_CALL,
  }),
  list: route({
    method: "get",
    path: "/v1/tenants/{t}/verify",
    summary: "Past verification reports, newest first",
    permissions: VERIFY,
    response: z.object({ reports: z.array(ReportRow) }),
    errors: [],
  }),
  job: route({
    method: "get",
    path: "/v1/tenants/{t}/verify/{job}",
    summary: "A verification run's progress and report",
    permissions: VERIFY,
    response: Job,
    errors: ["not_found", ...LOG_CALL],
  }),
};

const verify = requirePermission(...VERIFY);

export const verification = new Hono<AppEnv>()
  .post("/verify", verify, async (c) => {
    const body = await readOptionalJsonBody(c);
    const args = bodyOf(VERIFY_ROUTES.start, body);
    const mode = args.mode ?? (args.from !== undefined || args.to !== undefined ? "range" : "full");
    const tenant = c.var.access.tenantId;
    const jobId = crypto.randomUUID();
    const seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
    const job = await logAudit(c).start(
      tenant,
      { jobId, mode, seed, ...(args.from !== undefined ? { from: args.from } : {}), ...(args.to !== undefined ? { to: args.to } : {}) },
      { event: principalEvent(c, "sealtrail.log.verified", { id: tenant, type: "tenant" }), provenance: provenance(c) },
    );
    c.header("location", `/v1/tenants/${tenant}/verify/${job.job_id}`);
    return c.json(job satisfies z.infer<typeof Job>, job.status === "done" ? 200 : 202);
  })
  .get("/verify", verify, async (c) => {
    const r = verificationReports;
    const rows = await drizzle((await tenantData(c)).db)
      .select({
        jobId: r.jobId,
        mode: r.mode,
        ok: r.ok,
        failures: r.failures,
        createdAt: r.createdAt,
        // Reports written before migration 0006 have no range columns; their JSON has the range.
        from: sql<number | null>`coalesce(${r.fromSeq}, json_extract(${r.report}, '$.range.from'))`,
        to: sql<number | null>`coalesce(${r.toSeq}, json_extract(${r.report}, '$.range.to'))`,
      })
      .from(r)
      .where(and(eq(r.tenantId, c.var.access.tenantId)))
      .orderBy(desc(r.createdAt))
      .limit(50);
    return c.json({
      reports: rows.map((row) => ({
        job_id: row.jobId,
        mode: row.mode,
        range: row.from === null || row.to === null ? null : { from: row.from, to: row.to },
        ok: row.ok,
        failures: row.failures,
        created_at: new Date(row.createdAt).toISOString(),
      })),
    });
  })
  .get("/verify/:job", verify, async (c) => {
    const id = c.req.param("job");
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new Failure({ reason: "not_found", what: "Verification" });
    const job = await logAudit(c).job(id);
    if (!job) throw new Failure({ reason: "not_found", what: "Verification" });
    return c.json(job satisfies z.infer<typeof Job>);
  });
