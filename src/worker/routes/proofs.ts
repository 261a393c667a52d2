/**
 * /v1/tenants/:t/checkpoint and /v1/tenants/:t/proof/*: the tenant's signed tree head
 * (c2sp.org/tlog-checkpoint) and RFC 6962 proofs as JSON, for `read` or `verify`. Proof
 * downloads are logged as access events; checkpoints are not: a checkpoint is a signed
 * statement meant to be published, and clients poll it.
 */
import { Hono } from "hono";
import { z } from "zod";
import { recordAccess } from "../access-log";
import type { AppEnv } from "../app-env";
import { parseWith } from "../request";
import { requirePermission } from "../tenant-access";
import { proofFailure, tenantLog } from "../tenant-log";

const Count = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const InclusionQuery = z.strictObject({ index: Count, size: Count });
const ConsistencyQuery = z.strictObject({ from: Count, to: Count });

// Middleware per route, not .use(): this app is mounted at /v1/tenants/:t, where a
// path-less use() would also guard every other tenant route.
const readOrVerify = requirePermission("read", "verify");

export const proofs = new Hono<AppEnv>()
  .get("/checkpoint", readOrVerify, async (c) => {
    const cp = await tenantLog(c).checkpoint(c.var.access.tenantId);
    if (!cp.ok) throw proofFailure(cp.error);
    return c.text(cp.value.note, 200, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
  })
  .get("/proof/inclusion", readOrVerify, async (c) => {
    const q = parseWith(InclusionQuery, c.req.query(), "invalid_query");
    const r = await tenantLog(c).inclusionProof(c.var.access.tenantId, q.index, q.size);
    if (!r.ok) throw proofFailure(r.error);
    await recordAccess(c, "sealtrail.proof.downloaded", { id: String(q.index), type: "entry" }, { format: "inclusion", size: q.size });
    return c.json(r.value);
  })
  .get("/proof/consistency", readOrVerify, async (c) => {
    const q = parseWith(ConsistencyQuery, c.req.query(), "invalid_query");
    const r = await tenantLog(c).consistencyProof(c.var.access.tenantId, q.from, q.to);
    if (!r.ok) throw proofFailure(r.error);
    await recordAccess(c, "sealtrail.proof.downloaded", { id: c.var.access.tenantId, type: "tenant" }, { format: "consistency", from: q.from, to: q.to });
    return c.json(r.value);
  });
