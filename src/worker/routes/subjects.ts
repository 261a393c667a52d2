/**
 * POST /v1/tenants/:t/subjects/:subject/erase (`admin`, i.e. owners and admins): erasure of a
 * person's personal fields by crypto-shredding (docs/design.md "Personal fields and erasure").
 * The tenant's log appends `sealtrail.subject.erased` (target and metadata carry the subject's
 * hash, never its id) and, in the same commit, deletes every key of the subject: from then on
 * its encrypted fields read as erased everywhere. Entry bytes never change, so every proof and
 * verification still passes. An active legal hold covering the subject refuses it (409, naming
 * the hold). Erasing a subject with no key (again, or never seen) is logged all the same.
 */
import { Hono } from "hono";
import { z } from "zod";
import { subjectHash } from "../../core/personal-fields";
import { SUBJECT_ERASED_ACTION } from "../../durable/personal-fields";
import { principalEvent } from "../access-log";
import type { AppEnv } from "../app-env";
import { Failure } from "../errors";
import { FIELD_LIMITS } from "../event-schema";
import { provenance } from "../provenance";
import { LOG_APPEND, route } from "../route-spec";
import { requirePermission } from "../tenant-access";
import { tenantLog } from "../tenant-log";
import { Receipt } from "./events";

export const ERASE_ROUTE = route({
  method: "post",
  path: "/v1/tenants/{t}/subjects/{subject}/erase",
  summary: "Erase a subject's personal fields (destroys its keys; logged as sealtrail.subject.erased with the subject hashed)",
  permissions: ["admin"],
  response: z.object({
    subject_hash: z.string().describe('hex SHA-256 of "sealtrail subject v1\\n<tenant>\\n<subject>"'),
    keys_destroyed: z.number().int(),
    receipt: Receipt,
  }),
  errors: ["not_found", "subject_held", ...LOG_APPEND],
});

export const subjects = new Hono<AppEnv>().post("/subjects/:subject/erase", requirePermission(...ERASE_ROUTE.permissions), async (c) => {
  const subject = c.req.param("subject");
  // A subject is an actor id or an event's `subject`: the same bounds as those.
  if (subject.length === 0 || subject.length > FIELD_LIMITS.refId) throw new Failure({ reason: "not_found", what: "Subject" });
  const tenant = c.var.access.tenantId;
  const hash = subjectHash(tenant, subject);
  const event = principalEvent(c, SUBJECT_ERASED_ACTION, { id: hash, type: "subject" }, { subject_hash: hash });
  const result = await tenantLog(c).eraseSubject(tenant, subject, hash, event, provenance(c));
  if (!result.ok) throw new Failure(result.error);
  return c.json({ subject_hash: hash, keys_destroyed: result.keys ?? 0, receipt: result.receipts[0]! });
});
