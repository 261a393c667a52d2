/**
 * /v1/tenants/:t/verify: verification runs (`verify` permission). POST starts one (or
 * returns the one running) and works on it before answering: small logs get their report at
 * once (200), larger ones continue in the background (202) and are followed with
 * GET /verify/:job. GET /verify lists past reports.
 */
import { and, desc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono, type Context } from "hono";
import { z } from "zod";
import type { JsonValue } from "../../core/jcs";
import { verificationReports } from "../../db/audit-schema";
import { principalEvent } from "../access-log";
import type { AppEnv } from "../app-env";
import { Failure } from "../errors";
import { provenance } from "../provenance";
import { parseWith, readJsonBody } from "../request";
import { requirePermission } from "../tenant-access";

const Seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const StartBody = z.strictObject({
  mode: z.enum(["full", "incremental"]).default("full"),
  from: Seq.optional(),
  to: Seq.optional(),
});

const audit = (c: Context<AppEnv>) => c.env.LOG_AUDIT.get(c.env.LOG_AUDIT.idFromName(c.var.access.tenantId));
const verify = requirePermission("verify");

export const verification = new Hono<AppEnv>()
  .post("/verify", verify, async (c) => {
    const hasBody = (c.req.header("content-length") ?? "0") !== "0" || c.req.header("transfer-encoding") !== undefined;
    const body: JsonValue = hasBody ? await readJsonBody(c) : {};
    const args = parseWith(StartBody, body, "invalid_verify_request");
    const tenant = c.var.access.tenantId;
    const jobId = crypto.randomUUID();
    const seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
    const job = await audit(c).start(
      tenant,
      { jobId, mode: args.mode, seed, ...(args.from !== undefined ? { from: args.from } : {}), ...(args.to !== undefined ? { to: args.to } : {}) },
      { event: principalEvent(c, "sealtrail.log.verified", { id: tenant, type: "tenant" }), provenance: provenance(c) },
    );
    c.header("location", `/v1/tenants/${tenant}/verify/${job.job_id}`);
    return c.json(job, job.status === "done" ? 200 : 202);
  })
  .get("/verify", verify, async (c) => {
    const rows = await drizzle(c.env.DB)
      .select({ jobId: verificationReports.jobId, mode: verificationReports.mode, ok: verificationReports.ok, failures: verificationReports.failures, createdAt: verificationReports.createdAt })
      .from(verificationReports)
      .where(and(eq(verificationReports.tenantId, c.var.access.tenantId)))
      .orderBy(desc(verificationReports.createdAt))
      .limit(50);
    return c.json({
      reports: rows.map((r) => ({ job_id: r.jobId, mode: r.mode, ok: r.ok, failures: r.failures, created_at: new Date(r.createdAt).toISOString() })),
    });
  })
  .get("/verify/:job", verify, async (c) => {
    const id = c.req.param("job");
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new Failure({ reason: "not_found", what: "Verification" });
    const job = await audit(c).job(id);
    if (!job) throw new Failure({ reason: "not_found", what: "Verification" });
    return c.json(job);
  });
