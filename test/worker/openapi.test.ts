import { describe, expect, it } from "vitest";
import { app } from "../../src/worker/app";
import { documentedRoutes } from "../../src/worker/openapi";
import { api, bearer, createKey, event, signUp, tenantWithKeys } from "./helpers";

describe("OpenAPI document", () => {
  it("is served at /openapi.json, with a reference page at /docs/api", async () => {
    const res = await api("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe("3.1.0");
    const page = await api("/docs/api");
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await page.text()).toContain("/v1/tenants/{t}/events");
  });

  it("lists every route the app serves, and nothing it does not", () => {
    const served = new Set(
      app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path.replace(/\{[^}]+\}/g, "").replace(/\/\*$/, "/:path")}`),
    );
    const documented = new Set(documentedRoutes().map(([m, p]) => `${m} ${p}`));
    expect([...served].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !served.has(r))).toEqual([]);
  });
});

type Doc = { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: ErrorSchema }> }> }>> };
type ErrorSchema = { properties?: { error?: { properties?: { code?: { enum?: string[] } } } } };

/** The codes /openapi.json lists for an operation's answers with `status`. */
function listedCodes(doc: Doc, method: string, path: string, status: number): string[] {
  const response = doc.paths[path]?.[method]?.responses[String(status)];
  return response?.content?.["application/json"]?.schema.properties?.error?.properties?.code?.enum ?? [];
}

describe("each route's documented errors", () => {
  it("include what it answers to bad requests (status and code)", async () => {
    const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
    const adminKey = await createKey(owner, tenant, ["admin"]);
    const stranger = await signUp("Eve");
    const doc = (await (await api("/openapi.json")).json()) as Doc;
    const t = `/v1/tenants/${tenant}`;
    const json = (body: unknown, headers: Record<string, string> = {}) => ({
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    const owned = (method: string, body?: unknown): RequestInit => ({
      method,
      headers: { ...bearer(owner), ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const key = (k: string) => ({ headers: { "x-api-key": k } });
    // [method, documented path, the request, the code it must get]
    const cases: [string, string, [string, RequestInit], string][] = [
      [
        "post",
        "/v1/tenants/{t}/events",
        [`${t}/events`, { method: "POST", headers: { "x-api-key": appendKey }, body: "{}" }],
        "unsupported_media_type",
      ],
      ["post", "/v1/tenants/{t}/events", [`${t}/events`, json("{", { "x-api-key": appendKey })], "invalid_json"],
      ["post", "/v1/tenants/{t}/events", [`${t}/events`, json(event({ severity: 1 }), { "x-api-key": appendKey })], "unknown_field"],
      [
        "post",
        "/v1/tenants/{t}/events",
        [`${t}/events`, json(event({ action: "sealtrail.x" }), { "x-api-key": appendKey })],
        "reserved_action",
      ],
      ["post", "/v1/tenants/{t}/events", [`${t}/events`, json(event({ outcome: "?" }), { "x-api-key": appendKey })], "invalid_event"],
      [
        "post",
        "/v1/tenants/{t}/events",
        [`${t}/events`, json(event(), { "x-api-key": appendKey, "idempotency-key": "a b" })],
        "invalid_idempotency_key",
      ],
      [
        "post",
        "/v1/tenants/{t}/events",
        [`${t}/events`, json({ events: Array.from({ length: 101 }, () => event()) }, { "x-api-key": appendKey })],
        "too_many_events",
      ],
      ["post", "/v1/tenants/{t}/events", [`${t}/events`, json(event())], "unauthenticated"],
      ["post", "/v1/tenants/{t}/events", [`${t}/events`, json(event(), { "x-api-key": readKey })], "forbidden"],
      ["get", "/v1/tenants/{t}/events", [`${t}/events?limit=0`, key(readKey)], "invalid_query"],
      ["get", "/v1/tenants/{t}/events", [`${t}/events?cursor=nope`, key(readKey)], "invalid_cursor"],
      ["get", "/v1/tenants/{t}/events", [`${t}/events?colour=red`, key(readKey)], "unknown_field"],
      ["get", "/v1/tenants/{t}/events/{seq}", [`${t}/events/999999`, key(readKey)], "not_found"],
      ["get", "/v1/tenants/{t}/events/{seq}/proof", [`${t}/events/999999/proof`, key(readKey)], "not_found"],
      ["get", "/v1/tenants/{t}/events", [`${t}/events?q=%22`, key(readKey)], "invalid_search"],
      ["get", "/v1/tenants/{t}/export", [`${t}/export?format=xml`, key(readKey)], "invalid_query"],
      ["get", "/v1/tenants/{t}/export", [`${t}/export?q=a*`, key(readKey)], "invalid_search"],
      [
        "put",
        "/v1/tenants/{t}/schemas/{action}",
        [`${t}/schemas/pay.made`, owned("PUT", { schema: { $ref: "https://x.example/" } })],
        "invalid_event_schema",
      ],
      ["put", "/v1/tenants/{t}/schemas/{action}", [`${t}/schemas/pay.made`, owned("PUT", { schema: {}, x: 1 })], "unknown_field"],
      ["put", "/v1/tenants/{t}/schemas/{action}", [`${t}/schemas/sealtrail.x`, owned("PUT", { schema: {} })], "not_found"],
      ["get", "/v1/tenants/{t}/schemas", [`${t}/schemas`, { headers: bearer(stranger) }], "not_found"],
      ["get", "/v1/tenants/{t}/schemas/{action}", [`${t}/schemas/pay.made?version=0`, key(readKey)], "invalid_query"],
      ["get", "/v1/tenants/{t}/schemas/{action}", [`${t}/schemas/pay.made`, key(readKey)], "not_found"],
      ["get", "/v1/tenants/{t}/checkpoint", [`${t}/checkpoint`, key(appendKey)], "forbidden"],
      ["get", "/v1/tenants/{t}/proof/inclusion", [`${t}/proof/inclusion?index=5&size=1`, key(readKey)], "index_out_of_range"],
      ["get", "/v1/tenants/{t}/proof/inclusion", [`${t}/proof/inclusion?index=0`, key(readKey)], "invalid_query"],
      ["get", "/v1/tenants/{t}/proof/consistency", [`${t}/proof/consistency?from=0&to=1`, key(readKey)], "size_out_of_range"],
      ["post", "/v1/tenants/{t}/seal", [`${t}/seal`, { method: "POST", headers: { "x-api-key": readKey } }], "forbidden"],
      ["post", "/v1/tenants/{t}/rebuild", [`${t}/rebuild`, owned("POST", { next_seal: -1 })], "invalid_rebuild_request"],
      [
        "post",
        "/v1/tenants/{t}/subjects/{subject}/erase",
        [`${t}/subjects/u1/erase`, { method: "POST", headers: { "x-api-key": readKey } }],
        "forbidden",
      ],
      [
        "post",
        "/v1/tenants/{t}/retention/sweep",
        [`${t}/retention/sweep`, { method: "POST", headers: { "x-api-key": readKey } }],
        "forbidden",
      ],
      ["get", "/v1/tenants/{t}/snapshots", [`${t}/snapshots?cursor=nope`, owned("GET")], "invalid_cursor"],
      ["get", "/v1/tenants/{t}/snapshots/{id}", [`${t}/snapshots/1`, owned("GET")], "not_found"],
      ["get", "/v1/tenants/{t}/snapshots/{id}/bundle", [`${t}/snapshots/000000000001/bundle`, owned("GET")], "not_found"],
      ["get", "/v1/tenants/{t}/stats", [`${t}/stats`, { headers: bearer(stranger) }], "not_found"],
      ["get", "/v1/tenants/{t}/stats/activity", [`${t}/stats/activity?range=1y`, owned("GET")], "invalid_query"],
      ["put", "/v1/tenants/{t}/settings", [`${t}/settings`, owned("PUT", { retention_days: 0 })], "invalid_settings"],
      ["put", "/v1/tenants/{t}/settings", [`${t}/settings`, owned("PUT", { colour: "red" })], "unknown_field"],
      ["put", "/v1/tenants/{t}/settings", [`${t}/settings`, owned("PUT", { legal_hold: true })], "legal_hold_not_a_setting"],
      ["post", "/v1/tenants/{t}/holds", [`${t}/holds`, owned("POST", { reason: "r", scope: { kind: "actor", id: "" } })], "invalid_hold"],
      ["post", "/v1/tenants/{t}/holds", [`${t}/holds`, owned("POST", { reason: "r", scope: { kind: "tenant", x: 1 } })], "unknown_field"],
      ["get", "/v1/tenants/{t}/holds", [`${t}/holds`, key(readKey)], "forbidden"],
      ["post", "/v1/tenants/{t}/holds/{id}/release", [`${t}/holds/nope/release`, owned("POST", { reason: "r" })], "hold_not_found"],
      ["post", "/v1/tenants/{t}/holds/{id}/release", [`${t}/holds/nope/release`, owned("POST", {})], "invalid_hold"],
      ["get", "/v1/tenants/{t}/sources", [`${t}/sources?limit=0`, key(readKey)], "invalid_query"],
      ["put", "/v1/tenants/{t}/sources/{id}", [`${t}/sources/s1`, owned("PUT", { expected_every_seconds: 0 })], "invalid_source_request"],
      [
        "put",
        "/v1/tenants/{t}/sources/{id}",
        [`${t}/sources/s1`, { ...json({ expected_every_seconds: 60 }, { "x-api-key": readKey }), method: "PUT" }],
        "forbidden",
      ],
      ["get", "/v1/tenants/{t}/stats/lag", [`${t}/stats/lag`, key(appendKey)], "forbidden"],
      ["post", "/v1/tenants/{t}/verify", [`${t}/verify`, owned("POST", { mode: "full", from: 0 })], "invalid_verify_request"],
      ["get", "/v1/tenants/{t}/verify/{job}", [`${t}/verify/nope`, owned("GET")], "not_found"],
      ["post", "/v1/tenants/{t}/keys", [`${t}/keys`, owned("POST", { name: "", permissions: [] })], "invalid_key_request"],
      ["post", "/v1/tenants/{t}/keys", [`${t}/keys`, json({ name: "k", permissions: ["read"] }, { "x-api-key": adminKey })], "forbidden"],
      ["patch", "/v1/tenants/{t}/keys/{id}", [`${t}/keys/nope`, owned("PATCH", { allowed_origins: ["https://a.example"] })], "not_found"],
      ["delete", "/v1/tenants/{t}/keys/{id}", [`${t}/keys/nope`, owned("DELETE")], "not_found"],
      ["post", "/v1/tenants/{t}/streams", [`${t}/streams`, owned("POST", { destination: { type: "ftp" } })], "invalid_stream_request"],
      [
        "post",
        "/v1/tenants/{t}/streams",
        [`${t}/streams`, owned("POST", { destination: { type: "webhook", url: "http://10.0.0.1/x" } })],
        "invalid_destination",
      ],
      ["get", "/v1/tenants/{t}/streams", [`${t}/streams`, key(readKey)], "forbidden"],
      ["get", "/v1/tenants/{t}/streams/{id}", [`${t}/streams/nope`, owned("GET")], "not_found"],
      ["patch", "/v1/tenants/{t}/streams/{id}", [`${t}/streams/nope`, owned("PATCH", {})], "invalid_stream_request"],
      ["patch", "/v1/tenants/{t}/streams/{id}", [`${t}/streams/nope`, owned("PATCH", { format: "ocsf" })], "not_found"],
      ["delete", "/v1/tenants/{t}/streams/{id}", [`${t}/streams/nope`, owned("DELETE")], "not_found"],
      ["post", "/v1/tenants/{t}/streams/{id}/resume", [`${t}/streams/nope/resume`, owned("POST")], "not_found"],
      ["post", "/v1/tenants/{t}/streams/{id}/pause", [`${t}/streams/nope/pause`, owned("POST")], "not_found"],
      [
        "post",
        "/v1/tenants/{t}/viewer-tokens",
        [`${t}/viewer-tokens`, json({ view: { x: 1 } }, { "x-api-key": readKey })],
        "invalid_viewer_token_request",
      ],
      ["get", "/v1/tenants/{t}/events", [`${t}/events`, { headers: { authorization: "Bearer stv1.x.y" } }], "viewer_token_invalid"],
      ["get", "/logs/{t}/checkpoint", [`/logs/${tenant}/checkpoint`, {}], "unauthenticated"],
      ["get", "/logs/{t}/tile/{path}", [`/logs/${tenant}/tile/0/000.p/255`, key(readKey)], "not_found"],
      ["get", "/logs/{t}/tile/{path}", [`/logs/${tenant}/tile/0/000`, key(appendKey)], "forbidden"],
      ["get", "/logs/{t}/tile/entries/{path}", [`/logs/${tenant}/tile/entries/000`, { headers: { "x-api-key": adminKey } }], "forbidden"],
      ["get", "/v1/keys", ["/v1/keys", {}], "tenant_required"],
      ["get", "/v1/keys", ["/v1/keys?tenant=nope", {}], "not_found"],
      ["get", "/v1/keys", [`/v1/keys?tenant=${tenant}&all=1`, {}], "unknown_field"],
      ["post", "/v1/invitations/{id}/accept", ["/v1/invitations/nope/accept", json({ secret: "s" })], "unauthenticated"],
      ["post", "/v1/invitations/{id}/accept", ["/v1/invitations/nope/accept", owned("POST", {})], "invalid_invitation_request"],
      ["post", "/v1/invitations/{id}/accept", ["/v1/invitations/nope/accept", owned("POST", { secret: "s" })], "invitation_secret_invalid"],
      ["post", "/api/auth/{path}", ["/api/auth/api-key/create", json({})], "not_found"],
      ["get", "/api/auth/{path}", ["/api/auth/get-session/", {}], "not_found"],
    ];
    for (const [method, path, [url, init], expected] of cases) {
      const res = await api(url, init);
      const { error } = (await res.json()) as { error: { code: string } };
      const what = `${method.toUpperCase()} ${url} → ${res.status} ${error.code}`;
      expect(error.code, what).toBe(expected);
      expect(listedCodes(doc, method, path, res.status), what).toContain(error.code);
    }
  });
});
