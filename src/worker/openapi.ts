/**
 * The OpenAPI 3.1 description of the HTTP API, generated from the same zod schemas the routes
 * validate with (z.toJSONSchema), served at /openapi.json and rendered at /docs/api.
 * test/worker/openapi.test.ts fails if a route exists that this document does not list.
 */
import { z } from "zod";
import { EventFilter } from "./event-query";
import { Batch, Event, LIMITS } from "./event-schema";
import { PERMISSIONS } from "./permissions";
import { pageCsp } from "./security-headers";
import { StartBody } from "./verify-request";

/** Shared definitions (recursive schemas such as JSON values) moved to components.schemas. */
const definitions: Record<string, unknown> = {};

function schema(s: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(s, { io: "input", unrepresentable: "any" }) as Record<string, unknown> & { $defs?: Record<string, unknown> };
  const { $defs, $schema: _dialect, ...rest } = json;
  let text = JSON.stringify(rest);
  for (const [name, def] of Object.entries($defs ?? {})) {
    const shared = name === "__schema0" ? "JsonValue" : name;
    definitions[shared] = JSON.parse(JSON.stringify(def).replaceAll(`"#/$defs/${name}"`, `"#/components/schemas/${shared}"`));
    text = text.replaceAll(`"#/$defs/${name}"`, `"#/components/schemas/${shared}"`);
  }
  return JSON.parse(text) as Record<string, unknown>;
}

const Receipt = z.object({ seq: z.number().int(), leaf_hash: z.string(), received_at: z.string(), tree_size: z.number().int() });
const Entry = z.object({
  seq: z.number().int(),
  leaf_hash: z.string(),
  received_at: z.string(),
  event: z.record(z.string(), z.unknown()),
  provenance: z.record(z.string(), z.string()),
  entry: z.string().describe("the stored entry bytes (RFC 8785 JSON), verbatim"),
});
const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
const Hashes = z.array(z.string().describe("base64 SHA-256"));
const CreateKey = z.object({
  name: z.string().max(64),
  permissions: z.array(z.enum(PERMISSIONS)).min(1),
  allowed_origins: z.array(z.string()).optional().describe("makes a publishable (browser) ingest key: append only"),
});
const PublishedKey = z.object({
  tenant: z.string(),
  origin: z.string().describe("the log's checkpoint origin, <SEALTRAIL_ORIGIN>/<tenant id>"),
  version: z.number().int(),
  verifier_key: z.string().describe("c2sp.org/signed-note verifier key: <origin>+<key id>+<base64 key>"),
});
const Settings = z.object({ seal_interval_seconds: z.number().int(), retention_years: z.number().int(), legal_hold: z.boolean(), max_clock_skew_seconds: z.number().int() });
const Range = z.object({ from: z.number().int(), to: z.number().int() }).describe("entries [from, to)");
const Mode = z.enum(["full", "incremental", "range"]).describe("only a full run is the tenant's verification status");
const Failures = z.array(z.object({ kind: z.string(), seq: z.number().int().optional(), key: z.string().optional(), detail: z.string().optional(), expected: z.unknown().optional(), found: z.unknown().optional() }));
const Report = z.object({
  job_id: z.string(),
  tenant: z.string(),
  mode: Mode,
  ok: z.boolean(),
  range: Range,
  checked: z.object({ entries: z.number().int(), seals: z.number().int(), bundle_entries: z.number().int(), sampled: z.number().int() }),
  started_at: z.string(),
  finished_at: z.string(),
  duration_ms: z.number().int(),
  failures: Failures,
});
const Job = z.object({
  job_id: z.string(),
  status: z.enum(["running", "done"]),
  mode: Mode,
  range: Range,
  progress: z.object({ checked: z.number().int(), next: z.number().int(), to: z.number().int(), phase: z.string() }),
  report: Report.nullable(),
});
const ReportRow = z.object({ job_id: z.string(), mode: Mode, range: Range.nullable(), ok: z.boolean(), failures: z.number().int(), created_at: z.string() });
const Stats = z.object({
  size: z.number().int(),
  mirrored_to: z.number().int(),
  mirror_lag: z.number().int(),
  mirror_failures: z.number().int(),
  sealed_to: z.number().int(),
  latest_seal: z.record(z.string(), z.unknown()).nullable(),
  seal_failures: z.number().int(),
  last_seal_error: z.string().nullable(),
  refusing_writes: z.boolean(),
  skewed_events: z.number().int(),
  last_received_at: z.string().nullable(),
  usual_gap_ms: z.number().int(),
  ingest_stalled: z.boolean(),
  last_full_verification: z
    .object({ job_id: z.string(), ok: z.boolean(), failures: z.number().int(), finished_at: z.string(), range: Range })
    .nullable()
    .describe("the tenant's verification status: its last finished full run (range runs never count)"),
});

type Op = {
  summary: string;
  permission?: string;
  query?: z.ZodObject;
  body?: z.ZodType;
  response?: z.ZodType;
  responseType?: string;
  status?: string;
  /** Error statuses worth naming for this operation: status → what it means. */
  errors?: Record<string, string>;
};

const tenantParam = { name: "t", in: "path", required: true, schema: { type: "string" }, description: "tenant (organization) id" };

function operation(path: string, method: string, op: Op) {
  const params: Record<string, unknown>[] = [];
  for (const name of path.match(/\{(\w+)\}/g)?.map((p) => p.slice(1, -1)) ?? []) {
    params.push(name === "t" ? tenantParam : { name, in: "path", required: true, schema: { type: "string" } });
  }
  if (op.query) {
    for (const [name, field] of Object.entries(op.query.shape)) {
      params.push({ name, in: "query", required: !(field as z.ZodType).safeParse(undefined).success, schema: schema(field as z.ZodType) });
    }
  }
  const status = op.status ?? "200";
  const content = op.responseType
    ? { [op.responseType]: { schema: { type: "string" } } }
    : { "application/json": { schema: op.response ? schema(op.response) : { type: "object" } } };
  return {
    summary: op.summary,
    ...(op.permission ? { description: `Needs the \`${op.permission}\` permission.` } : {}),
    ...(params.length ? { parameters: params } : {}),
    ...(op.body ? { requestBody: { required: true, content: { "application/json": { schema: schema(op.body) } } } } : {}),
    responses: {
      [status]: { description: "success", content },
      ...Object.fromEntries(Object.entries(op.errors ?? {}).map(([code, what]) => [code, { description: what, content: { "application/json": { schema: schema(ErrorBody) } } }])),
      default: { description: "error", content: { "application/json": { schema: schema(ErrorBody) } } },
    },
    ...(op.permission ? { security: [{ apiKey: [] }, { bearer: [] }, { cookie: [] }] } : {}),
  };
}

const Page = z.object({ cursor: z.string().optional(), limit: z.number().int().min(1).max(100).optional() });

/** Every route: [OpenAPI path, method, operation]. */
const ROUTES: [string, string, Op][] = [
  ["/healthz", "get", { summary: "Liveness" }],
  ["/openapi.json", "get", { summary: "This document" }],
  ["/docs/api", "get", { summary: "The API reference page", responseType: "text/html" }],
  ["/v1/keys", "get", { summary: "Public verifier keys (c2sp.org/signed-note) of one tenant's log, every key version; tenants are never listed (400 tenant_required without ?tenant=)", query: z.object({ tenant: z.string().min(1).max(64).describe("the tenant (organization) id") }), response: z.object({ keys: z.array(PublishedKey) }) }],
  ["/v1/tenants/{t}/events", "post", { summary: `Append one event, or {"events":[…]} (at most ${LIMITS.maxBatchEvents})`, permission: "append", body: z.union([Event, Batch]), response: z.union([Receipt, z.object({ receipts: z.array(Receipt) })]), status: "201" }],
  ["/v1/tenants/{t}/events", "get", { summary: "List events (filters, cursor pagination in sequence order); every row is checked against the log's tree", permission: "read", query: EventFilter.extend(Page.shape), response: z.object({ events: z.array(Entry), next_cursor: z.string().nullable(), prev_cursor: z.string().nullable() }), errors: { "502": "integrity_error: the stored copy of an entry is not the entry the signed log holds (corrupt or tampered with); the message names the entry" } }],
  ["/v1/tenants/{t}/events/{seq}", "get", { summary: "One entry, with its stored bytes, checked against the log's tree", permission: "read", response: Entry, errors: { "502": "integrity_error: the stored copy of an entry is not the entry the signed log holds (corrupt or tampered with); the message names the entry" } }],
  ["/v1/tenants/{t}/events/{seq}/proof", "get", { summary: "c2sp.org/tlog-proof@v1 for one entry", permission: "read or verify", responseType: "text/plain" }],
  ["/v1/tenants/{t}/export", "get", { summary: "Stream matching entries as JSONL (stored bytes) or CSV", permission: "read", query: EventFilter.extend({ format: z.enum(["jsonl", "csv"]).optional() }), responseType: "application/x-ndjson" }],
  ["/v1/tenants/{t}/checkpoint", "get", { summary: "The current signed checkpoint (c2sp.org/tlog-checkpoint)", permission: "read or verify", responseType: "text/plain" }],
  ["/v1/tenants/{t}/proof/inclusion", "get", { summary: "RFC 6962 inclusion proof", permission: "read or verify", query: z.object({ index: z.number().int(), size: z.number().int() }), response: z.object({ index: z.number().int(), size: z.number().int(), hashes: Hashes }) }],
  ["/v1/tenants/{t}/proof/consistency", "get", { summary: "RFC 6962 consistency proof", permission: "read or verify", query: z.object({ from: z.number().int(), to: z.number().int() }), response: z.object({ from: z.number().int(), to: z.number().int(), hashes: Hashes }) }],
  ["/v1/tenants/{t}/seal", "post", { summary: "Seal waiting entries now", permission: "admin" }],
  ["/v1/tenants/{t}/rebuild", "post", { summary: "Rebuild D1 rows from R2 bundles and the log's unsealed entries", permission: "admin", body: z.object({ next_seal: z.number().int().optional() }), response: z.object({ done: z.boolean(), restored: z.number().int(), next_seal: z.number().int() }) }],
  ["/v1/tenants/{t}/snapshots", "get", { summary: "Sealed snapshots", permission: "verify", query: Page }],
  ["/v1/tenants/{t}/snapshots/{id}", "get", { summary: "A snapshot's signed manifest", permission: "verify", responseType: "text/plain" }],
  ["/v1/tenants/{t}/snapshots/{id}/checkpoint", "get", { summary: "A snapshot's signed checkpoint", permission: "verify", responseType: "text/plain" }],
  ["/v1/tenants/{t}/snapshots/{id}/bundle", "get", { summary: "A snapshot's entry bundle (JSON lines)", permission: "verify", responseType: "application/x-ndjson" }],
  ["/v1/tenants/{t}/stats", "get", { summary: "The log's state: size, D1 mirror lag, seals, refusal, clock-skew and stalled-ingest flags, last full verification", permission: "read, verify or admin", response: Stats }],
  ["/v1/tenants/{t}/stats/activity", "get", { summary: "Entries per hour (24h) or per day (7d, 30d), counted in D1", permission: "read, verify or admin", query: z.object({ range: z.enum(["24h", "7d", "30d"]).optional() }), response: z.object({ range: z.string(), bucket_seconds: z.number().int(), buckets: z.array(z.object({ start: z.string(), count: z.number().int() })) }) }],
  ["/v1/tenants/{t}/settings", "get", { summary: "Seal interval, retention, legal hold", permission: "any", response: Settings }],
  ["/v1/tenants/{t}/settings", "put", { summary: "Change settings (logged, applied to the current settings in the same transaction)", permission: "admin", body: Settings.partial(), response: z.object({ settings: Settings, receipt: Receipt }), errors: { "409": "legal_hold_active: retention cannot be lowered while a legal hold is on, nor in the change that turns it on or off" } }],
  ["/v1/tenants/{t}/verify", "post", { summary: "Start a verification run (from/to make it a range run)", permission: "verify", body: StartBody, response: Job }],
  ["/v1/tenants/{t}/verify", "get", { summary: "Past verification reports, newest first", permission: "verify", response: z.object({ reports: z.array(ReportRow) }) }],
  ["/v1/tenants/{t}/verify/{job}", "get", { summary: "A verification run's progress and report", permission: "verify", response: Job }],
  ["/v1/tenants/{t}/keys", "post", { summary: "Create an API key (shown once)", permission: "admin, signed in", body: CreateKey, status: "201" }],
  ["/v1/tenants/{t}/keys", "get", { summary: "List API keys (without secrets)", permission: "admin, signed in" }],
  ["/v1/tenants/{t}/keys/{id}", "patch", { summary: "Change a publishable key's allowed origins (logged)", permission: "admin, signed in", body: z.object({ allowed_origins: z.array(z.string()).min(1) }) }],
  ["/v1/tenants/{t}/keys/{id}", "delete", { summary: "Revoke an API key (logged)", permission: "admin, signed in" }],
  ["/v1/invitations/{id}/accept", "post", { summary: "Accept an invitation with its link's one-time secret, signed in as the invited address (logged)", permission: "a signed-in person", body: z.object({ secret: z.string() }), response: z.object({ invitation: z.record(z.string(), z.unknown()), member: z.record(z.string(), z.unknown()) }) }],
  ["/api/auth/{path}", "post", { summary: "better-auth: sign-up/in/out, organizations (tenants), members and invitations (membership changes are logged in the tenant's log; invite-member answers with the link's one-time secret; api-key/*, accept-invitation and delete-user are refused; bodies over 64 KiB are refused with 413)" }],
  ["/api/auth/{path}", "get", { summary: "better-auth: session and organization reads" }],
];

export function openApiDocument(serverUrl: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, method, op] of ROUTES) (paths[path] ??= {})[method] = operation(path, method, op);
  // Operations are built first: they fill `definitions`.
  return {
    openapi: "3.1.0",
    info: {
      title: "Sealtrail",
      version: "1",
      description:
        "A tamper-evident, append-only audit log. Every error is {\"error\":{\"code\",\"message\"}}. " +
        "A number in a request body must be exactly the value of an IEEE 754 double as written (1e20 and 100000000000000000000 alike; " +
        "9007199254740993 refused in every spelling): 400 number_out_of_range otherwise. " +
        "Actions starting with \"sealtrail.\" (any case) are the service's own entries: 400 reserved_action.",
    },
    servers: [{ url: serverUrl }],
    components: {
      schemas: definitions,
      securitySchemes: {
        apiKey: { type: "apiKey", in: "header", name: "x-api-key" },
        bearer: { type: "http", scheme: "bearer", description: "an API key, or a session token from sign-in" },
        cookie: {
          type: "apiKey",
          in: "cookie",
          name: "better-auth.session_token",
          description:
            "the console's session: with the cookie, a request whose Sec-Fetch-Site is cross-site or same-site is refused " +
            "(403 cross_site_request), reads included; a change must also carry an Origin of this site",
        },
      },
    },
    paths,
  };
}

/** The routes as Hono writes them (":t" for "{t}"), for the coverage test. */
export const documentedRoutes = (): [string, string][] =>
  ROUTES.map(([path, method]) => [method.toUpperCase(), path.replace(/\{(\w+)\}/g, ":$1")]);

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The reference page's only style, inline: its CSP (API_REFERENCE_CSP) allows it by hash. */
const REFERENCE_STYLE =
  "body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem}table{border-collapse:collapse;width:100%}" +
  "td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}code{font-size:13px}";

/** The reference page's Content-Security-Policy: no script at all, its one inline style, no framing. */
export const API_REFERENCE_CSP = pageCsp([REFERENCE_STYLE]);

/** A plain HTML reference page, no scripts (served with API_REFERENCE_CSP). */
export function apiReferencePage(doc: ReturnType<typeof openApiDocument>): string {
  const rows = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => {
      const o = op as { summary: string; description?: string };
      return `<tr><td><code>${method.toUpperCase()}</code></td><td><code>${escape(path)}</code></td><td>${escape(o.summary)}</td><td>${escape(o.description ?? "")}</td></tr>`;
    }),
  );
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sealtrail API</title>
<style>${REFERENCE_STYLE}</style>
</head><body><h1>Sealtrail API</h1><p>${escape(doc.info.description)} The machine-readable description is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<table><thead><tr><th>method</th><th>path</th><th>what</th><th>access</th></tr></thead><tbody>${rows.join("")}</tbody></table></body></html>`;
}
