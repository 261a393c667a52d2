/**
 * /v1/tenants/:t/holds: legal holds (docs/design.md "Legal holds"). Creating and releasing one
 * needs `admin` (owners and admins, or an admin API key); each is an entry in the tenant's log,
 * appended in the transaction that changes the hold (`sealtrail.hold.created`,
 * `sealtrail.hold.released`: who is the actor, why is `metadata.reason`, what is
 * `metadata.scope`). Listing needs `admin` or `verify` (auditors): holds are governance state,
 * not log content, so listing is not itself logged (as reading settings is not).
 */
import { Hono } from "hono";
import { z } from "zod";
import { checkHoldScope, HOLD_KINDS, HOLD_LIMITS } from "../../core/holds";
import { principalEvent } from "../access-log";
import type { AppEnv } from "../app-env";
import { Failure } from "../errors";
import { provenance } from "../provenance";
import { readJsonBody } from "../request";
import { bodyOf, LOG_APPEND, LOG_CALL, route } from "../route-spec";
import { requirePermission } from "../tenant-access";
import { tenantLog } from "../tenant-log";
import { Receipt } from "./events";

const text = (max: number) => z.string().min(1).max(max);
const Time = z.string().max(64).describe("RFC 3339, e.g. 2026-01-01T00:00:00Z (stored in UTC, milliseconds)");

const Scope = z
  .discriminatedUnion("kind", [
    z.strictObject({ kind: z.literal("tenant") }).describe("every entry of the tenant"),
    z.strictObject({ kind: z.literal("time"), from: Time, to: Time }).describe("entries whose received_at is in [from, to)"),
    z.strictObject({ kind: z.literal("actor"), id: text(HOLD_LIMITS.id) }).describe("entries whose actor.id is id"),
    z
      .strictObject({ kind: z.literal("target"), type: text(HOLD_LIMITS.type).optional(), id: text(HOLD_LIMITS.id) })
      .describe("entries with a target of this id (and type, if given)"),
  ])
  .describe(`what the hold keeps: ${HOLD_KINDS.join(", ")}`);

const CreateHold = z.strictObject({ reason: text(HOLD_LIMITS.reason).describe("why (shown in the list and logged)"), scope: Scope });
const ReleaseHold = z.strictObject({ reason: text(HOLD_LIMITS.reason).describe("why it is released (logged)") });

const HoldView = z.object({
  id: z.string(),
  reason: z.string(),
  scope: Scope,
  created_at: z.string(),
  created_by: z.string().describe("<type>:<id> of who created it (user:<user id>, or the API key's type and id)"),
  released_at: z.string().optional(),
  released_by: z.string().optional(),
  release_reason: z.string().optional(),
});

export const HOLD_ROUTES = {
  create: route({
    method: "post",
    path: "/v1/tenants/{t}/holds",
    summary: "Create a legal hold (logged): the retention sweep keeps what it covers and the retention period cannot be lowered",
    permissions: ["admin"],
    body: CreateHold,
    invalid: "invalid_hold",
    status: 201,
    response: z.object({ hold: HoldView, receipt: Receipt }),
    errors: ["too_many_holds", ...LOG_APPEND],
  }),
  list: route({
    method: "get",
    path: "/v1/tenants/{t}/holds",
    summary: "Legal holds, active and released, oldest first",
    permissions: ["admin", "verify"],
    response: z.object({ holds: z.array(HoldView), active: z.number().int() }),
    errors: LOG_CALL,
  }),
  release: route({
    method: "post",
    path: "/v1/tenants/{t}/holds/{id}/release",
    summary: "Release a legal hold (logged with who and why); a hold is released once",
    permissions: ["admin"],
    body: ReleaseHold,
    invalid: "invalid_hold",
    response: z.object({ hold: HoldView, receipt: Receipt }),
    errors: ["hold_not_found", "hold_already_released", ...LOG_APPEND],
  }),
};

const { create, list, release } = HOLD_ROUTES;

export const holds = new Hono<AppEnv>()
  .post("/holds", requirePermission(...create.permissions), async (c) => {
    const body = bodyOf(create, await readJsonBody(c));
    // Beyond the schema: times that are real instants, to after from (the object checks again).
    const scope = checkHoldScope(body.scope);
    if (!scope.ok) throw new Failure({ reason: "invalid_hold", ...scope.problem });
    const tenant = c.var.access.tenantId;
    // The object adds the hold's target and metadata (id, reason, scope) in the transaction that stores it.
    const event = principalEvent(c, "sealtrail.hold.created", { id: tenant, type: "tenant" });
    const result = await tenantLog(c).createHold(tenant, { reason: body.reason, scope: scope.scope }, event, provenance(c));
    if (!result.ok) throw new Failure(result.error);
    return c.json({ hold: result.hold, receipt: result.receipt }, 201);
  })
  .get("/holds", requirePermission(...list.permissions), async (c) => {
    const all = await tenantLog(c).holds(c.var.access.tenantId);
    return c.json({ holds: all, active: all.filter((h) => h.released_at === undefined).length });
  })
  .post("/holds/:id/release", requirePermission(...release.permissions), async (c) => {
    const body = bodyOf(release, await readJsonBody(c));
    const id = c.req.param("id");
    if (id.length > HOLD_LIMITS.id) throw new Failure({ reason: "hold_not_found", id: id.slice(0, HOLD_LIMITS.id) });
    const tenant = c.var.access.tenantId;
    const event = principalEvent(c, "sealtrail.hold.released", { id, type: "legal_hold" });
    const result = await tenantLog(c).releaseHold(tenant, id, { reason: body.reason }, event, provenance(c));
    if (!result.ok) throw new Failure(result.error);
    return c.json({ hold: result.hold, receipt: result.receipt });
  });
