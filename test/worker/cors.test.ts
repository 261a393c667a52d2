import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createAuth } from "../../src/worker/auth";
import { LOG_STATEMENT } from "../../src/worker/permissions";
import { PUBLISHABLE_KEY_CONFIG } from "../../src/worker/auth-options";
import { api, bearer, createTenant, event, logOf, signUp, type Session } from "./helpers";

const APP = "https://app.example.com";

async function tenantWithPublishableKey() {
  const owner = await signUp();
  const tenant = await createTenant(owner);
  const res = await api(`/v1/tenants/${tenant}/keys`, {
    method: "POST",
    headers: { "content-type": "application/json", ...bearer(owner) },
    body: JSON.stringify({ name: "web", permissions: ["append"], allowed_origins: [APP, "http://localhost:5173"] }),
  });
  expect(res.status).toBe(201);
  const created = (await res.json()) as { id: string; key: string; type: string };
  expect(created.type).toBe("publishable");
  expect(created.key.startsWith("pk_")).toBe(true);
  return { owner, tenant, pk: created.key, id: created.id };
}

/** A publishable key for APP with a budget of 2 requests a minute (better-auth's API: /v1 sets no custom limits). */
const tinyKey = (owner: Session, tenant: string) =>
  createAuth(env).api.createApiKey({
    body: {
      configId: PUBLISHABLE_KEY_CONFIG,
      organizationId: tenant,
      userId: owner.userId,
      name: "tiny",
      permissions: { [LOG_STATEMENT]: ["append"] },
      metadata: { allowed_origins: [APP] },
      rateLimitMax: 2,
      rateLimitTimeWindow: 60_000,
    },
  });

const ingest = (tenant: string, key: string, origin?: string) =>
  api(`/v1/tenants/${tenant}/events`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": key, ...(origin ? { origin } : {}) },
    body: JSON.stringify(event()),
  });

const preflight = (tenant: string, origin: string, method = "POST") =>
  api(`/v1/tenants/${tenant}/events`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": method, "access-control-request-headers": "content-type, x-api-key" },
  });

describe("publishable ingest keys and CORS", () => {
  it("are append-only and need valid origins", async () => {
    const owner = await signUp();
    const tenant = await createTenant(owner);
    for (const body of [
      { name: "w", permissions: ["append", "read"], allowed_origins: [APP] },
      { name: "w", permissions: ["append"], allowed_origins: ["https://*.example.com"] },
      { name: "w", permissions: ["append"], allowed_origins: ["https://app.example.com/path"] },
      { name: "w", permissions: ["append"], allowed_origins: [] },
    ]) {
      const res = await api(`/v1/tenants/${tenant}/keys`, {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(owner) },
        body: JSON.stringify(body),
      });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
  });

  it("a preflight from an allowed origin is answered; from any other origin, or for another tenant, it is refused", async () => {
    const { tenant } = await tenantWithPublishableKey();
    const other = await tenantWithPublishableKey();
    const ok = await preflight(tenant, APP);
    expect(ok.status).toBe(204);
    expect(ok.headers.get("access-control-allow-origin")).toBe(APP);
    expect(ok.headers.get("access-control-allow-methods")).toBe("POST");
    expect(ok.headers.get("access-control-allow-headers")).toContain("x-api-key");
    for (const res of [await preflight(tenant, "https://evil.example"), await preflight(tenant, APP, "DELETE")]) {
      expect(res.status).toBe(403);
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
    }
    expect((await preflight(other.tenant, "https://evil.example")).status).toBe(403);
    // Other routes never answer preflights.
    const read = await api(`/v1/tenants/${tenant}/export`, {
      method: "OPTIONS",
      headers: { origin: APP, "access-control-request-method": "GET" },
    });
    expect(read.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("appends from an allowed origin with CORS headers, marked as browser ingest in provenance", async () => {
    const { owner, tenant, pk, id } = await tenantWithPublishableKey();
    const res = await ingest(tenant, pk, APP);
    expect(res.status).toBe(201);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    expect(res.headers.get("vary")).toContain("Origin");
    const { seq } = (await res.json()) as { seq: number };
    const entry = (await (await api(`/v1/tenants/${tenant}/events/${seq}`, { headers: bearer(owner) })).json()) as {
      provenance: Record<string, string>;
    };
    expect(entry.provenance).toMatchObject({ principal_type: "publishable_key", principal_id: id, key_id: id, origin: APP });
  });

  it("refuses other origins, no origin, reads, and other tenants", async () => {
    const { tenant, pk } = await tenantWithPublishableKey();
    const other = await tenantWithPublishableKey();
    for (const res of [await ingest(tenant, pk, "https://evil.example"), await ingest(tenant, pk)]) {
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ error: { code: "origin_not_allowed" } });
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
    }
    const read = await api(`/v1/tenants/${tenant}/events`, { headers: { "x-api-key": pk, origin: APP } });
    expect(read.status).toBe(403);
    expect((await ingest(other.tenant, pk, APP)).status).toBe(404);
  });

  it("secret keys and sessions get no CORS headers", async () => {
    const { owner, tenant } = await tenantWithPublishableKey();
    const res = await api(`/v1/tenants/${tenant}/events`, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(owner), origin: APP },
      body: JSON.stringify(event()),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("each publishable key has its own rate limit; beyond it, 429 with Retry-After", async () => {
    const { owner, tenant, id } = await tenantWithPublishableKey();
    const row = await env.DB.prepare("SELECT rate_limit_enabled, rate_limit_max, rate_limit_time_window FROM apikey WHERE id = ?")
      .bind(id)
      .first();
    expect(row).toEqual({ rate_limit_enabled: 1, rate_limit_max: 600, rate_limit_time_window: 60_000 });
    // A key with a tiny limit shows the mechanism without 600 requests.
    const small = await tinyKey(owner, tenant);
    expect((await ingest(tenant, small.key, APP)).status).toBe(201);
    expect((await ingest(tenant, small.key, APP)).status).toBe(201);
    const limited = await ingest(tenant, small.key, APP);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("requests from a wrong or missing origin do not spend the key's budget; accepted requests still do", async () => {
    const { owner, tenant } = await tenantWithPublishableKey();
    const other = await tenantWithPublishableKey();
    const small = await tinyKey(owner, tenant);
    const log = logOf(tenant);
    // The keys' creation is logged: that is where the log starts for this test.
    const start = (await log.stats()).size;
    // Anyone who copied the key from a page can send it from anywhere: none of this may count.
    for (const origin of ["https://evil.example", undefined, "null", `${APP}.evil.example`, "https://APP.example.com"]) {
      for (let i = 0; i < 3; i++) {
        const res = await ingest(tenant, small.key, origin);
        expect(res.status, String(origin)).toBe(403);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe("origin_not_allowed");
      }
    }
    // Nor may the key used against another tenant's route.
    expect((await ingest(other.tenant, small.key, APP)).status).toBe(404);
    const row = await env.DB.prepare("SELECT request_count FROM apikey WHERE id = ?")
      .bind(small.id)
      .first<{ request_count: number | null }>();
    expect(row?.request_count ?? 0).toBe(0);
    // The full budget is left for the page the key was issued to, and the limit still holds there.
    expect((await ingest(tenant, small.key, APP)).status).toBe(201);
    expect((await ingest(tenant, small.key, APP)).status).toBe(201);
    expect((await ingest(tenant, small.key, APP)).status).toBe(429);
    expect((await ingest(tenant, small.key, "https://evil.example")).status).toBe(403);
    // Nothing from the refused requests reached the log: two entries, both from the allowed origin.
    expect((await log.stats()).size).toBe(start + 2);
  });
});
