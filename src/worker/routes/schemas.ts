/**
 * /v1/tenants/:t/schemas: event schemas per action (issue #19.3; durable/event-schemas.ts). A PUT
 * (admin) declares the action's next version, checked (size, depth, local references only, no
 * reference loop, patterns without nested quantifiers, a validator that builds) and appended as
 * `sealtrail.schema.changed` (action, version, sha256) in the transaction that stores it. From
 * that commit on, events of the action whose `metadata` does not match are refused with 400
 * `schema_violation` and nothing of their request is stored.
 * Reading schemas needs `read`, `append` or `admin` (producers need them too); like holds and
 * settings they are governance state, not log content, so reads are not logged.
 */
import { Hono } from "hono";
import type { JSONObject } from "hono/utils/types";
import { z } from "zod";
import { principalEvent } from "../access-log";
import type { EventSchemaView } from "../../durable/event-schemas";
import type { AppEnv } from "../app-env";
import { Failure } from "../errors";
import { ACTION_PATTERN, FIELD_LIMITS, isReservedAction } from "../event-schema";
import { provenance } from "../provenance";
import { readJsonBody } from "../request";
import { bodyOf, LOG_APPEND, LOG_CALL, queryOf, route } from "../route-spec";
import { requirePermission } from "../tenant-access";
import { tenantLog } from "../tenant-log";
import { Receipt } from "./events";

const PutSchema = z.strictObject({
  schema: z.record(z.string(), z.unknown()).describe("a JSON Schema (draft 2020-12) for the action's `metadata` (absent metadata is {})"),
});

const SchemaSummary = z.object({
  action: z.string(),
  version: z.number().int(),
  versions: z.number().int(),
  sha256: z.string().describe("SHA-256 (base64) of the schema as canonical JSON (RFC 8785)"),
  created_at: z.string(),
  created_by: z.string(),
});
const SchemaView = SchemaSummary.omit({ versions: true }).extend({ schema: z.record(z.string(), z.unknown()) });

const VersionQuery = z.strictObject({ version: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional() });

export const SCHEMA_ROUTES = {
  put: route({
    method: "put",
    path: "/v1/tenants/{t}/schemas/{action}",
    summary: "Declare the next version of an action's metadata schema (logged); later events of the action must match it",
    permissions: ["admin"],
    body: PutSchema,
    invalid: "invalid_event_schema",
    status: 201,
    response: z.object({ schema: SchemaView, receipt: Receipt }),
    errors: ["not_found", "too_many_event_schemas", ...LOG_APPEND],
  }),
  list: route({
    method: "get",
    path: "/v1/tenants/{t}/schemas",
    summary: "The latest schema version of every action that has one",
    permissions: ["read", "append", "admin"],
    response: z.object({ schemas: z.array(SchemaSummary) }),
    errors: LOG_CALL,
  }),
  get: route({
    method: "get",
    path: "/v1/tenants/{t}/schemas/{action}",
    summary: "One action's schema: the latest version, or `version=`",
    permissions: ["read", "append", "admin"],
    query: VersionQuery,
    response: SchemaView,
    errors: ["not_found", ...LOG_CALL],
  }),
};

/** An action a client may append (schemas for the service's own `sealtrail.*` entries make no sense). */
function actionParam(raw: string): string {
  if (raw.length > FIELD_LIMITS.action || !ACTION_PATTERN.test(raw) || isReservedAction(raw)) {
    throw new Failure({ reason: "not_found", what: "Action" });
  }
  return raw;
}

/** The stored schema (canonical JSON text, as the object returns it) as a JSON object on the wire. */
const wire = (v: EventSchemaView) => ({ ...v, schema: JSON.parse(v.schema) as JSONObject });

const { put, list, get } = SCHEMA_ROUTES;

export const schemas = new Hono<AppEnv>()
  .put("/schemas/:action", requirePermission(...put.permissions), async (c) => {
    const action = actionParam(c.req.param("action"));
    const body = bodyOf(put, await readJsonBody(c));
    const tenant = c.var.access.tenantId;
    // The object checks the schema, picks the version and fills the entry's target and metadata.
    const event = principalEvent(c, "sealtrail.schema.changed", { id: action, type: "event_schema" });
    const result = await tenantLog(c).putEventSchema(tenant, action, body.schema, event, provenance(c));
    if (!result.ok) throw new Failure(result.error);
    return c.json({ schema: wire(result.schema), receipt: result.receipt }, 201);
  })
  .get("/schemas", requirePermission(...list.permissions), async (c) => {
    return c.json({ schemas: await tenantLog(c).eventSchemas(c.var.access.tenantId) });
  })
  .get("/schemas/:action", requirePermission(...get.permissions), async (c) => {
    const action = actionParam(c.req.param("action"));
    const { version } = queryOf(c, get);
    const found = await tenantLog(c).eventSchema(c.var.access.tenantId, action, version);
    if (!found) throw new Failure({ reason: "not_found", what: version === undefined ? "Schema" : "Schema version" });
    return c.json(wire(found));
  });
