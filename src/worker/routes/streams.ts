/**
 * /v1/tenants/:t/streams: log streams (README "Log streams", docs/design.md "Streams"). `admin`
 * only. A stream pushes the tenant's log, in seq order, at least once, to one destination: a
 * webhook signed per Standard Webhooks, Splunk HEC, Datadog logs, or an S3-compatible bucket, in
 * one format (native, CloudEvents, OCSF), optionally filtered by action prefixes (a webhook
 * filtered to `sealtrail.alert.` is an alert destination). The LogStreams object
 * (durable/log-streams.ts) holds the configuration, the secrets and the cursor, and delivers.
 *
 * Every creation, change, deletion, pause and resume is logged (`sealtrail.stream.*`) before it is
 * applied; secrets are never returned after creation and never written into the log. A failure
 * after the entry is committed answers 503: the log then records a change that did not happen
 * (the request can be retried); it never misses one that did.
 */
import { Hono, type Context } from "hono";
import { z } from "zod";
import type { JsonObject } from "../../core/entry";
import { formatWebhookSecret, WEBHOOK_SECRET_BYTES } from "../../core/standard-webhooks";
import { STREAM_FORMATS } from "../../core/stream-format";
import { isLocalDev, OUTBOUND_MAX_URL_LENGTH } from "../../durable/outbound";
import { tenantObject } from "../../durable/placement";
import {
  configView,
  destinationUrlProblem,
  type Destination,
  type LogHead,
  type StreamConfig,
  type StreamSecrets,
  type StreamStatus,
} from "../../durable/stream-config";
import { principalEvent } from "../access-log";
import type { AppEnv } from "../app-env";
import { Failure } from "../errors";
import { tenantData } from "../placement";
import { provenance } from "../provenance";
import { readJsonBody } from "../request";
import { bodyOf, LOG_APPEND, LOG_CALL, route } from "../route-spec";
import { requirePermission } from "../tenant-access";
import { failClosed, tenantLog } from "../tenant-log";
import { Receipt } from "./events";

const Url = z.string().min(1).max(OUTBOUND_MAX_URL_LENGTH);
const Secret = z.string().min(1).max(1024);
const Label = z.string().min(1).max(128);

const DestinationInput = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("webhook"), url: Url.describe("https URL the batches are POSTed to, signed (Standard Webhooks)") }),
  z.strictObject({
    type: z.literal("splunk"),
    url: Url.describe("the HEC base URL, e.g. https://splunk.example.com:8088 (events go to /services/collector/event)"),
    token: Secret.describe("HEC token (never returned)"),
    index: Label.optional(),
    sourcetype: Label.optional(),
  }),
  z.strictObject({
    type: z.literal("datadog"),
    url: Url.describe("the logs intake base URL, e.g. https://http-intake.logs.datadoghq.com (logs go to /api/v2/logs)"),
    api_key: Secret.describe("Datadog API key (never returned)"),
    service: Label.optional(),
    tags: z.string().max(512).optional(),
  }),
  z.strictObject({
    type: z.literal("s3"),
    endpoint: Url.describe("S3 API endpoint, e.g. https://<account>.r2.cloudflarestorage.com (path-style requests)"),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "an S3 bucket name"),
    region: z.string().min(1).max(64).default("auto"),
    prefix: z
      .string()
      .max(512)
      .regex(/^([^/].*\/)?$/, "empty, or a key prefix ending in / (no leading /)")
      .optional()
      .describe("object key prefix (default sealtrail/<tenant>/)"),
    access_key_id: Secret.describe("never returned"),
    secret_access_key: Secret.describe("never returned"),
  }),
]);
type DestinationInput = z.infer<typeof DestinationInput>;

const ActionPrefix = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces");
export const MAX_STREAMS = 20;

const CreateStream = z.strictObject({
  name: z.string().min(1).max(64).optional(),
  destination: DestinationInput,
  format: z.enum(STREAM_FORMATS).default("native"),
  actions: z.array(ActionPrefix).max(20).default([]).describe('action prefixes to send (empty: every entry); e.g. ["sealtrail.alert."]'),
  start: z
    .union([z.enum(["now", "beginning"]), z.number().int().min(0)])
    .default("now")
    .describe('"now": from this stream\'s own creation entry; "beginning": from entry 0; or a seq'),
  timeout_seconds: z.number().int().min(1).max(30).default(10),
});

const UpdateStream = z
  .strictObject({
    name: z.string().min(1).max(64).optional(),
    destination: DestinationInput.optional().describe("replaces the destination; a webhook keeps its signing secret"),
    format: z.enum(STREAM_FORMATS).optional(),
    actions: z.array(ActionPrefix).max(20).optional(),
    timeout_seconds: z.number().int().min(1).max(30).optional(),
    rotate_secret: z.literal(true).optional().describe("webhooks: a new signing secret, returned once"),
  })
  .refine((p) => Object.keys(p).length > 0, "change at least one field");

const StreamView = z.object({
  id: z.string(),
  name: z.string(),
  destination: z.record(z.string(), z.union([z.string(), z.boolean()])).describe("without secrets (secret_set: true)"),
  format: z.enum(STREAM_FORMATS),
  actions: z.array(z.string()),
  timeout_seconds: z.number().int(),
  created_at: z.string(),
  cursor: z.number().int().describe("the next seq to deliver: every entry below it was acknowledged (or filtered out)"),
  delivered: z.number().int().describe("entries the destination acknowledged"),
  last_delivered_at: z.string().nullable(),
  lag_entries: z.number().int(),
  lag_seconds: z.number().int().describe("age of the oldest entry not yet delivered"),
  paused: z.boolean(),
  paused_at: z.string().nullable(),
  failures: z.number().int().describe("failed attempts in a row"),
  last_error: z.string().nullable(),
  last_error_at: z.string().nullable(),
  next_attempt_at: z.string().nullable(),
});

const ADMIN = ["admin"] as const;
const WithReceipt = z.object({ stream: StreamView, receipt: Receipt });

export const STREAM_ROUTES = {
  create: route({
    method: "post",
    path: "/v1/tenants/{t}/streams",
    summary: "Create a log stream (logged); a webhook's signing secret is returned this once",
    permissions: ADMIN,
    body: CreateStream,
    invalid: "invalid_stream_request",
    response: WithReceipt.extend({ secret: z.string().optional().describe("webhooks: whsec_… signing secret, shown once") }),
    status: 201,
    errors: ["invalid_destination", "too_many_streams", ...LOG_APPEND],
  }),
  list: route({
    method: "get",
    path: "/v1/tenants/{t}/streams",
    summary: "List log streams with cursor, lag, pause and last error (no secrets)",
    permissions: ADMIN,
    response: z.object({ streams: z.array(StreamView) }),
    errors: LOG_CALL,
  }),
  get: route({
    method: "get",
    path: "/v1/tenants/{t}/streams/{id}",
    summary: "One log stream's status",
    permissions: ADMIN,
    response: StreamView,
    errors: ["not_found", ...LOG_CALL],
  }),
  update: route({
    method: "patch",
    path: "/v1/tenants/{t}/streams/{id}",
    summary: "Change a log stream (logged, with before and after, never secrets)",
    permissions: ADMIN,
    body: UpdateStream,
    invalid: "invalid_stream_request",
    response: WithReceipt.extend({ secret: z.string().optional() }),
    errors: ["not_found", "invalid_destination", ...LOG_APPEND],
  }),
  remove: route({
    method: "delete",
    path: "/v1/tenants/{t}/streams/{id}",
    summary: "Delete a log stream (logged)",
    permissions: ADMIN,
    response: z.object({ id: z.string(), deleted: z.literal(true), receipt: Receipt }),
    errors: ["not_found", ...LOG_APPEND],
  }),
  resume: route({
    method: "post",
    path: "/v1/tenants/{t}/streams/{id}/resume",
    summary: "Resume a paused stream from its cursor (logged)",
    permissions: ADMIN,
    response: WithReceipt,
    errors: ["not_found", ...LOG_APPEND],
  }),
  pause: route({
    method: "post",
    path: "/v1/tenants/{t}/streams/{id}/pause",
    summary: "Pause a stream (logged); it keeps its cursor",
    permissions: ADMIN,
    response: WithReceipt,
    errors: ["not_found", ...LOG_APPEND],
  }),
};

/** The tenant's LogStreams object and what every call to it carries. */
async function streamsOf(c: Context<AppEnv>) {
  const tenant = c.var.access.tenantId;
  const { placement } = await tenantData(c);
  const stub = failClosed("LogStreams", async () => tenantObject(c.env.LOG_STREAMS, placement, tenant));
  return { stub, tenant, placement };
}

/** The log's head as the lag is measured against it. */
async function headOf(c: Context<AppEnv>): Promise<LogHead> {
  const s = await tenantLog(c).stats();
  return { size: s.size, mirroredTo: s.mirrored_to, mirrorLagMs: s.mirror_lag_ms };
}

/** Splits the API's destination into what is shown and what is secret. */
function split(d: DestinationInput, tenant: string, webhookSecret: () => string): { destination: Destination; secrets: StreamSecrets } {
  switch (d.type) {
    case "webhook":
      return { destination: { type: "webhook", url: d.url }, secrets: { type: "webhook", secret: webhookSecret() } };
    case "splunk": {
      const { token, ...rest } = d;
      return { destination: rest, secrets: { type: "splunk", token } };
    }
    case "datadog": {
      const { api_key, ...rest } = d;
      return { destination: rest, secrets: { type: "datadog", api_key } };
    }
    case "s3": {
      const { access_key_id, secret_access_key, ...rest } = d;
      return {
        destination: { ...rest, prefix: rest.prefix ?? `sealtrail/${tenant}/` },
        secrets: { type: "s3", access_key_id, secret_access_key },
      };
    }
  }
}

const newSecret = () => formatWebhookSecret(crypto.getRandomValues(new Uint8Array(WEBHOOK_SECRET_BYTES)));
const newId = () => `st_${[...crypto.getRandomValues(new Uint8Array(10))].map((b) => b.toString(16).padStart(2, "0")).join("")}`;

function checkDestination(c: Context<AppEnv>, d: Destination): void {
  // A tenant-given URL is untrusted: the outbound rules (https only, no private or metadata hosts) at creation too.
  const problem = destinationUrlProblem(d, isLocalDev(c.env));
  if (problem) throw new Failure({ reason: "invalid_destination", detail: problem });
}

/** Appends `sealtrail.stream.<what>` for the stream, by the caller; returns its receipt. */
async function logStream(c: Context<AppEnv>, what: string, id: string, metadata: JsonObject) {
  const event = principalEvent(c, `sealtrail.stream.${what}`, { id, type: "stream" }, metadata);
  const result = await tenantLog(c).append(c.var.access.tenantId, [{ event }], provenance(c));
  if (!result.ok) throw new Failure(result.error);
  return result.receipts[0]!;
}

const notFound = () => new Failure({ reason: "not_found", what: "Stream" });

const { create, list, get, update, remove, resume, pause } = STREAM_ROUTES;

export const streams = new Hono<AppEnv>()
  .post("/", requirePermission(...create.permissions), async (c) => {
    const body = bodyOf(create, await readJsonBody(c));
    const { stub, tenant, placement } = await streamsOf(c);
    const id = newId();
    let secret: string | undefined;
    const { destination, secrets } = split(body.destination, tenant, () => (secret = newSecret()));
    checkDestination(c, destination);
    const current = await stub.list(tenant, placement, null);
    if (current.length >= MAX_STREAMS) throw new Failure({ reason: "too_many_streams", limit: MAX_STREAMS });
    const config: StreamConfig = {
      name: body.name ?? `${destination.type} stream`,
      destination,
      format: body.format,
      actions: body.actions,
      timeoutMs: body.timeout_seconds * 1000,
    };
    const receipt = await logStream(c, "created", id, { stream: configView(config), start: body.start });
    const cursor = body.start === "now" ? receipt.seq : body.start === "beginning" ? 0 : body.start;
    const stream = await stub.create(tenant, placement, id, config, secrets, cursor);
    return c.json({ stream, receipt, ...(secret ? { secret } : {}) }, 201);
  })
  .get("/", requirePermission(...list.permissions), async (c) => {
    const { stub, tenant, placement } = await streamsOf(c);
    return c.json({ streams: await stub.list(tenant, placement, await headOf(c)) });
  })
  .get("/:id", requirePermission(...get.permissions), async (c) => {
    const { stub, tenant, placement } = await streamsOf(c);
    const stream = await stub.get(tenant, placement, c.req.param("id"), await headOf(c));
    if (!stream) throw notFound();
    return c.json(stream satisfies StreamStatus);
  })
  .patch("/:id", requirePermission(...update.permissions), async (c) => {
    const patch = bodyOf(update, await readJsonBody(c));
    const { stub, tenant, placement } = await streamsOf(c);
    const id = c.req.param("id");
    const current = await stub.config(tenant, placement, id);
    if (!current) throw notFound();
    let secret: string | undefined;
    let secrets: StreamSecrets | undefined;
    let destination = current.config.destination;
    if (patch.destination) {
      const keepWebhookSecret = patch.destination.type === "webhook" && current.secretType === "webhook" && !patch.rotate_secret;
      const parts = split(patch.destination, tenant, () => (secret = newSecret()));
      destination = parts.destination;
      if (keepWebhookSecret) secret = undefined;
      else secrets = parts.secrets;
      checkDestination(c, destination);
    } else if (patch.rotate_secret && destination.type === "webhook") {
      secret = newSecret();
      secrets = { type: "webhook", secret };
    }
    const config: StreamConfig = {
      name: patch.name ?? current.config.name,
      destination,
      format: patch.format ?? current.config.format,
      actions: patch.actions ?? current.config.actions,
      timeoutMs: patch.timeout_seconds !== undefined ? patch.timeout_seconds * 1000 : current.config.timeoutMs,
    };
    const receipt = await logStream(c, "updated", id, {
      before: configView(current.config),
      after: configView(config),
      secret_changed: secrets !== undefined,
    });
    const stream = await stub.update(tenant, placement, id, config, secrets);
    if (!stream) throw notFound();
    return c.json({ stream, receipt, ...(secret ? { secret } : {}) });
  })
  .delete("/:id", requirePermission(...remove.permissions), async (c) => {
    const { stub, tenant, placement } = await streamsOf(c);
    const id = c.req.param("id");
    const current = await stub.get(tenant, placement, id, null);
    if (!current) throw notFound();
    const receipt = await logStream(c, "deleted", id, { cursor: current.cursor, delivered: current.delivered });
    await stub.remove(tenant, placement, id);
    return c.json({ id, deleted: true as const, receipt });
  })
  .post("/:id/resume", requirePermission(...resume.permissions), async (c) => {
    const { stub, tenant, placement } = await streamsOf(c);
    const id = c.req.param("id");
    const current = await stub.get(tenant, placement, id, null);
    if (!current) throw notFound();
    const receipt = await logStream(c, "resumed", id, { cursor: current.cursor, last_error: current.last_error ?? "" });
    const stream = await stub.setPaused(tenant, placement, id, false);
    if (!stream) throw notFound();
    return c.json({ stream, receipt });
  })
  .post("/:id/pause", requirePermission(...pause.permissions), async (c) => {
    const { stub, tenant, placement } = await streamsOf(c);
    const id = c.req.param("id");
    const current = await stub.get(tenant, placement, id, null);
    if (!current) throw notFound();
    const receipt = await logStream(c, "paused", id, { cursor: current.cursor, by: "request" });
    const stream = await stub.setPaused(tenant, placement, id, true);
    if (!stream) throw notFound();
    return c.json({ stream, receipt });
  });

/** /stats' view of a stream: its lag and pause (additive; routes/settings.ts). */
export const StreamStats = z.object({
  id: z.string(),
  name: z.string(),
  type: z.string(),
  lag_entries: z.number().int(),
  lag_seconds: z.number().int(),
  paused: z.boolean(),
  last_error: z.string().nullable(),
});

/** The tenant's streams for /stats; asks the LogStreams object only when the log says there are any. */
export async function streamStats(c: Context<AppEnv>, head: LogHead): Promise<z.infer<typeof StreamStats>[]> {
  if ((await tenantLog(c).streamReport()).streams === 0) return [];
  const { stub, tenant, placement } = await streamsOf(c);
  return (await stub.list(tenant, placement, head)).map((s) => ({
    id: s.id,
    name: s.name,
    type: String(s.destination.type),
    lag_entries: s.lag_entries,
    lag_seconds: s.lag_seconds,
    paused: s.paused,
    last_error: s.last_error,
  }));
}
