/**
 * The OpenAPI 3.1 description of the HTTP API, generated from the routes' own specs
 * (route-spec.ts): the zod schemas they validate with (z.toJSONSchema), the permissions they
 * check, and the error codes and statuses errors.ts `HTTP` gives the reasons each can answer
 * with. Served at /openapi.json and rendered at /docs/api. test/worker/openapi.test.ts fails if
 * a route exists that this document does not list, or answers with a code it does not list.
 */
import { z } from "zod";
import { HTTP } from "./errors";
import { INVITATION_ROUTE } from "./invitations";
import { AUTH_ROUTES } from "./membership-log";
import { errorsOf, route, type RouteSpec } from "./route-spec";
import { EVENT_ROUTES } from "./routes/events";
import { EXPORT_ROUTE } from "./routes/export";
import { KEY_ROUTES } from "./routes/keys";
import { PROOF_ROUTES } from "./routes/proofs";
import { REBUILD_ROUTE } from "./routes/rebuild";
import { ERASE_ROUTE } from "./routes/subjects";
import { RETENTION_ROUTE } from "./routes/retention";
import { SETTINGS_ROUTES } from "./routes/settings";
import { HOLD_ROUTES } from "./routes/holds";
import { SCHEMA_ROUTES } from "./routes/schemas";
import { GRANT_ROUTES } from "./routes/grants";
import { SNAPSHOT_ROUTES } from "./routes/snapshots";
import { SOURCE_ROUTES } from "./routes/sources";
import { STREAM_ROUTES } from "./routes/streams";
import { TILE_ROUTES } from "./routes/tiles";
import { VERIFIER_KEYS_ROUTE } from "./routes/verifier-keys";
import { VERIFY_ROUTES } from "./routes/verify";
import { VIEWER_ROUTES_SPEC } from "./routes/viewer";
import { pageCsp } from "./security-headers";

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

/** The routes app.ts serves itself. */
const META_ROUTES = [
  route({ method: "get", path: "/healthz", summary: "Liveness", response: z.object({ ok: z.literal(true) }), errors: [] }),
  route({ method: "get", path: "/openapi.json", summary: "This document", errors: [] }),
  route({ method: "get", path: "/docs/api", summary: "The API reference page", responseType: "text/html", errors: [] }),
];

/** Every route the app serves, in the reference's order. */
const ROUTES: readonly RouteSpec[] = [
  ...META_ROUTES,
  VERIFIER_KEYS_ROUTE,
  ...Object.values(EVENT_ROUTES),
  EXPORT_ROUTE,
  ...Object.values(PROOF_ROUTES),
  ...Object.values(SNAPSHOT_ROUTES),
  ...Object.values(TILE_ROUTES),
  REBUILD_ROUTE,
  ERASE_ROUTE,
  RETENTION_ROUTE,
  ...Object.values(SETTINGS_ROUTES),
  ...Object.values(HOLD_ROUTES),
  ...Object.values(SCHEMA_ROUTES),
  ...Object.values(GRANT_ROUTES),
  ...Object.values(SOURCE_ROUTES),
  ...Object.values(VERIFY_ROUTES),
  ...Object.values(KEY_ROUTES),
  ...Object.values(STREAM_ROUTES),
  ...Object.values(VIEWER_ROUTES_SPEC),
  INVITATION_ROUTE,
  ...Object.values(AUTH_ROUTES),
];

const errorBody = (codes: [string, ...string[]]) => schema(z.object({ error: z.object({ code: z.enum(codes), message: z.string() }) }));

/** The route's errors by status, each status with the codes it can carry (errors.ts `HTTP`). */
function errorResponses(spec: RouteSpec) {
  const byStatus = new Map<number, Set<string>>();
  for (const reason of errorsOf(spec)) {
    const { status, code } = HTTP[reason];
    byStatus.set(status, (byStatus.get(status) ?? new Set<string>()).add(code));
  }
  const responses: Record<string, unknown> = {};
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    const list = [...codes] as [string, ...string[]];
    responses[String(status)] = { description: list.join(", "), content: { "application/json": { schema: errorBody(list) } } };
  }
  if (spec.otherErrors) {
    responses.default = { description: spec.otherErrors, content: { "application/json": { schema: { type: "object" } } } };
  }
  return responses;
}

const tenantParam = { name: "t", in: "path", required: true, schema: { type: "string" }, description: "tenant (organization) id" };

function access(spec: RouteSpec): string | undefined {
  const needs = spec.permissions && `Needs the ${spec.permissions.map((p) => `\`${p}\``).join(" or ")} permission.`;
  const text = [needs, spec.access && `Callable by ${spec.access}.`].filter(Boolean).join(" ");
  return text || undefined;
}

function operation(spec: RouteSpec) {
  const params: Record<string, unknown>[] = [];
  for (const name of spec.path.match(/\{(\w+)\}/g)?.map((p) => p.slice(1, -1)) ?? []) {
    params.push(name === "t" ? tenantParam : { name, in: "path", required: true, schema: { type: "string" } });
  }
  for (const [name, field] of Object.entries(spec.query?.shape ?? {})) {
    params.push({ name, in: "query", required: !(field as z.ZodType).safeParse(undefined).success, schema: schema(field as z.ZodType) });
  }
  const content = spec.responseType
    ? { [spec.responseType]: { schema: { type: "string" } } }
    : { "application/json": { schema: spec.response ? schema(spec.response) : { type: "object" } } };
  const description = access(spec);
  const requestBody = spec.body && { required: !spec.optionalBody, content: { "application/json": { schema: schema(spec.body) } } };
  return {
    summary: spec.summary,
    ...(description ? { description } : {}),
    ...(params.length ? { parameters: params } : {}),
    ...(requestBody ? { requestBody } : {}),
    responses: { [String(spec.status ?? 200)]: { description: "success", content }, ...errorResponses(spec) },
    ...(spec.permissions ? { security: [{ apiKey: [] }, { bearer: [] }, { cookie: [] }] } : {}),
  };
}

export function openApiDocument(serverUrl: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of ROUTES) {
    paths[spec.path] ??= {};
    paths[spec.path]![spec.method] = operation(spec);
  }
  // Operations are built first: they fill `definitions`.
  return {
    openapi: "3.1.0",
    info: {
      title: "Sealtrail",
      version: "1",
      description:
        'A tamper-evident, append-only audit log. Every error is {"error":{"code","message"}}; each operation lists the codes ' +
        "it can answer with, by status; 429 and 503 answers under /v1 carry Retry-After. " +
        "A number in a request body must be exactly the value of an IEEE 754 double as written (1e20 and 100000000000000000000 alike; " +
        "9007199254740993 refused in every spelling): 400 number_out_of_range otherwise. " +
        'Actions starting with "sealtrail." (any case) are the service\'s own entries: 400 reserved_action.',
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
  ROUTES.map(({ method, path }) => [method.toUpperCase(), path.replace(/\{(\w+)\}/g, ":$1")]);

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

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
      return `<tr><td><code>${method.toUpperCase()}</code></td><td><code>${escapeHtml(path)}</code></td><td>${escapeHtml(o.summary)}</td><td>${escapeHtml(o.description ?? "")}</td></tr>`;
    }),
  );
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sealtrail API</title>
<style>${REFERENCE_STYLE}</style>
</head><body><h1>Sealtrail API</h1><p>${escapeHtml(doc.info.description)} The machine-readable description is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<table><thead><tr><th>method</th><th>path</th><th>what</th><th>access</th></tr></thead><tbody>${rows.join("")}</tbody></table></body></html>`;
}
