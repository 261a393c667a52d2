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
import { Failure } from "../errors";
import { LOG_APPEND, LOG_CALL, queryOf, route } from "../route-spec";
import { requirePermission } from "../tenant-access";
import { requireEntryInView } from "../view-access";
import { tenantLog } from "../tenant-log";

const Count = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Hashes = z.array(z.string().describe("base64 SHA-256"));

/** Until the log has compared itself with R2 (not_reconciled), or if R2 disagrees (split_view), it signs nothing. */
const SIGNED = ["not_reconciled", "split_view"] as const;

export const PROOF_ROUTES = {
  checkpoint: route({
    method: "get",
    path: "/v1/tenants/{t}/checkpoint",
    summary: "The current signed checkpoint (c2sp.org/tlog-checkpoint)",
    permissions: ["read", "verify"],
    responseType: "text/plain",
    errors: [...SIGNED, ...LOG_CALL],
  }),
  inclusion: route({
    method: "get",
    path: "/v1/tenants/{t}/proof/inclusion",
    summary: "RFC 6962 inclusion proof",
    permissions: ["read", "verify"],
    query: z.strictObject({ index: Count, size: Count }),
    response: z.object({ index: z.number().int(), size: z.number().int(), hashes: Hashes }),
    errors: ["index_out_of_range", "size_out_of_range", "outside_view", ...SIGNED, ...LOG_APPEND],
  }),
  consistency: route({
    method: "get",
    path: "/v1/tenants/{t}/proof/consistency",
    summary: "RFC 6962 consistency proof",
    permissions: ["read", "verify"],
    query: z.strictObject({ from: Count, to: Count }),
    response: z.object({ from: z.number().int(), to: z.number().int(), hashes: Hashes }),
    errors: ["size_out_of_range", ...SIGNED, ...LOG_APPEND],
  }),
};

const { checkpoint, inclusion, consistency } = PROOF_ROUTES;

// Middleware per route, not .use(): this app is mounted at /v1/tenants/:t, where a
// path-less use() would also guard every other tenant route.
export const proofs = new Hono<AppEnv>()
  .get("/checkpoint", requirePermission(...checkpoint.permissions), async (c) => {
    const cp = await tenantLog(c).checkpoint(c.var.access.tenantId);
    if (!cp.ok) throw new Failure(cp.error);
    return c.text(cp.value.note, 200, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
  })
  .get("/proof/inclusion", requirePermission(...inclusion.permissions), async (c) => {
    const q = queryOf(c, inclusion);
    await requireEntryInView(c, q.index);
    const r = await tenantLog(c).inclusionProof(c.var.access.tenantId, q.index, q.size);
    if (!r.ok) throw new Failure(r.error);
    await recordAccess(c, "sealtrail.proof.downloaded", { id: String(q.index), type: "entry" }, { format: "inclusion", size: q.size });
    return c.json(r.value);
  })
  .get("/proof/consistency", requirePermission(...consistency.permissions), async (c) => {
    const q = queryOf(c, consistency);
    const r = await tenantLog(c).consistencyProof(c.var.access.tenantId, q.from, q.to);
    if (!r.ok) throw new Failure(r.error);
    await recordAccess(
      c,
      "sealtrail.proof.downloaded",
      { id: c.var.access.tenantId, type: "tenant" },
      { format: "consistency", from: q.from, to: q.to },
    );
    return c.json(r.value);
  });
