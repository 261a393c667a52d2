import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { documentedRoutes } from "../../src/worker/openapi";
import { api, BASE, bearer, clientIp, createKey, event, logOf, postEvent, signUp, tenantWithKeys } from "./helpers";

const keyCount = async () => (await env.DB.prepare("SELECT count(*) AS n FROM apikey").first<{ n: number }>())!.n;

describe("better-auth advisories (regression tests)", () => {
  it("an unauthenticated API-key create with a userId in the body is refused and creates nothing", async () => {
    const { owner, tenant } = await tenantWithKeys();
    const before = await keyCount();
    for (const path of [
      "/api/auth/api-key/create",
      "//api/auth/api-key/create",
      "/api/auth//api-key/create",
      "/api/auth/api-key/create/",
      "/api/auth/%61pi-key/create",
    ]) {
      const res = await api(path, {
        method: "POST",
        headers: { "content-type": "application/json", origin: BASE, "cf-connecting-ip": clientIp() },
        body: JSON.stringify({
          userId: owner.userId,
          organizationId: tenant,
          configId: "tenant",
          name: "sneaky",
          permissions: { log: ["read"] },
        }),
      });
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
    }
    expect(await keyCount()).toBe(before);
  });

  it("a signed-in member who is not an admin cannot create organization keys through better-auth either", async () => {
    const { tenant } = await tenantWithKeys();
    const stranger = await signUp("Mallory");
    const before = await keyCount();
    const res = await api("/api/auth/api-key/create", {
      method: "POST",
      headers: { "content-type": "application/json", origin: BASE, ...bearer(stranger) },
      body: JSON.stringify({ organizationId: tenant, configId: "tenant", name: "sneaky" }),
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(await keyCount()).toBe(before);
  });

  it("//-prefixed and doubled-slash paths do not bypass the tenant checks", async () => {
    const a = await tenantWithKeys();
    const b = await tenantWithKeys();
    await postEvent(b.tenant, b.appendKey, event());
    for (const path of [
      `//v1/tenants/${b.tenant}/events`,
      `/v1//tenants/${b.tenant}/events`,
      `/v1/tenants//${b.tenant}/events`,
      `/v1/tenants/${b.tenant}//events`,
    ]) {
      const res = await api(path, { headers: { "x-api-key": a.readKey } });
      expect([401, 403, 404], path).toContain(res.status);
      const anon = await api(path);
      expect([401, 404], path).toContain(anon.status);
    }
  });

  it("sign-in is rate limited per client IP from cf-connecting-ip, and an IPv6 /64 counts as one client", async () => {
    const s = await signUp("Rita");
    const attempt = (ip: string) =>
      api("/api/auth/sign-in/email", {
        method: "POST",
        headers: { "content-type": "application/json", origin: BASE, "cf-connecting-ip": ip },
        body: JSON.stringify({ email: s.email, password: "wrong password!" }),
      });
    const net = `2001:db8:${Math.floor(Math.random() * 65536).toString(16)}:77`;
    const statuses = [];
    for (const host of ["1", "2", "abcd", "ffff:1"]) statuses.push((await attempt(`${net}::${host}`)).status);
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses[3]).toBe(429);
    // Another /64, and another IPv4 client, are not affected.
    expect((await attempt(`2001:db8:${Math.floor(Math.random() * 65536).toString(16)}:78::1`)).status).toBe(401);
    expect((await attempt(`198.51.100.${Math.floor(Math.random() * 250) + 1}`)).status).toBe(401);
  });
});

describe("tenant isolation with every credential type", () => {
  it("session (bearer and cookie), API keys and publishable keys of tenant A get 404 on every tenant-B route", async () => {
    const a = await tenantWithKeys();
    const b = await tenantWithKeys();
    await postEvent(b.tenant, b.appendKey, event());
    const adminKey = await createKey(a.owner, a.tenant, ["append", "read", "verify", "admin"]);
    const pkRes = await api(`/v1/tenants/${a.tenant}/keys`, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(a.owner) },
      body: JSON.stringify({ name: "web", permissions: ["append"], allowed_origins: ["https://a.example"] }),
    });
    const publishable = ((await pkRes.json()) as { key: string }).key;
    const signIn = await api("/api/auth/sign-in/email", {
      method: "POST",
      headers: { "content-type": "application/json", origin: BASE, "cf-connecting-ip": clientIp() },
      body: JSON.stringify({ email: a.owner.email, password: "correct horse battery" }),
    });
    const cookie = signIn.headers
      .getSetCookie()
      .map((c) => c.split(";")[0])
      .join("; ");
    const credentials: [string, Record<string, string>][] = [
      ["session bearer", bearer(a.owner)],
      ["session cookie", { cookie, origin: BASE }],
      ["admin key", { "x-api-key": adminKey }],
      ["publishable key", { "x-api-key": publishable, origin: "https://a.example" }],
    ];
    const routes = documentedRoutes().filter(([, p]) => p.startsWith("/v1/tenants/:t"));
    expect(routes.length).toBeGreaterThan(15);
    for (const [name, headers] of credentials) {
      for (const [method, pattern] of routes) {
        const path = pattern
          .replace(":t", b.tenant)
          .replace(":seq", "0")
          .replace(":id", "000000000000")
          .replace(":job", "00000000-0000-0000-0000-000000000000");
        const hasBody = method === "POST" || method === "PUT";
        const res = await api(path, {
          method,
          headers: { "content-type": "application/json", ...headers },
          ...(hasBody ? { body: "{}" } : {}),
        });
        expect(res.status, `${name}: ${method} ${path}`).toBe(404);
      }
    }
    // And with them, B's log did not change.
    expect((await logOf(b.tenant).stats()).size).toBe(b.base + 1);
  });

  it("path tricks on every tenant route never reach another tenant and never cause a 500", async () => {
    const a = await tenantWithKeys();
    const b = await tenantWithKeys();
    const routes = documentedRoutes().filter(([, p]) => p.startsWith("/v1/tenants/:t"));
    const tricks = [
      `${a.tenant}%2F..%2F${b.tenant}`,
      `${b.tenant}%2F`,
      `..%2F${b.tenant}`,
      `${a.tenant}%00${b.tenant}`,
      `%2e%2e`,
      `${b.tenant}%20`,
    ];
    for (const trick of tricks) {
      for (const [method, pattern] of routes) {
        const path = pattern.replace(":t", trick).replace(":seq", "0").replace(":id", "..%2F..%2Fkeys").replace(":job", "%2e%2e");
        const hasBody = method === "POST" || method === "PUT";
        const res = await api(path, {
          method,
          headers: { "content-type": "application/json", "x-api-key": a.readKey },
          ...(hasBody ? { body: "{}" } : {}),
        });
        // "%2e%2e" is ".." to URL parsers: /v1/tenants/%2e%2e/keys is the public /v1/keys.
        const normalized = new URL(path, BASE).pathname;
        if (!normalized.startsWith("/v1/tenants/")) continue;
        expect([400, 403, 404], `${method} ${path}`).toContain(res.status);
      }
    }
  });
});

describe("the service's own entries cannot be forged by clients", () => {
  const reserved = ["sealtrail.settings.updated", "sealtrail.member.joined", "SealTrail.key.revoked", "SEALTRAIL.x", "sealtrail"];

  it("every credential that can append is refused a sealtrail.* action, single or in a batch, and nothing is stored", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const APP = "https://app.example.com";
    const pkRes = await api(`/v1/tenants/${tenant}/keys`, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(owner) },
      body: JSON.stringify({ name: "web", permissions: ["append"], allowed_origins: [APP] }),
    });
    const publishable = ((await pkRes.json()) as { key: string }).key;
    const credentials: [string, Record<string, string>][] = [
      ["secret key", { "x-api-key": appendKey }],
      ["publishable key", { "x-api-key": publishable, origin: APP }],
      ["session", bearer(owner)],
    ];
    const log = logOf(tenant);
    // The keys' creation is logged: that is where the log starts for this test.
    const start = (await log.stats()).size;
    for (const [name, headers] of credentials) {
      for (const action of reserved) {
        for (const body of [event({ action }), { events: [event(), event({ action })] }, { events: [event({ action }), event()] }]) {
          const res = await postEvent(tenant, "", body, headers);
          const json = (await res.json()) as { error: { code: string; message: string } };
          expect(res.status, `${name}: ${JSON.stringify(body)}`).toBe(400);
          expect(json.error.code).toBe("reserved_action");
          expect(json.error.message).toContain("sealtrail.");
        }
      }
    }
    expect((await log.stats()).size).toBe(start);
    // Names that merely start with the same letters are the client's to use.
    for (const action of ["sealtrailx.login", "my.sealtrail.event", "sealtrail_app.login", "sealtrail-app.login"]) {
      expect((await postEvent(tenant, appendKey, event({ action }))).status, action).toBe(201);
    }
    expect((await log.stats()).size).toBe(start + 4);
  });

  it("the service still writes its own sealtrail.* entries", async () => {
    const { owner, tenant, base } = await tenantWithKeys();
    const put = await api(`/v1/tenants/${tenant}/settings`, {
      method: "PUT",
      headers: { "content-type": "application/json", ...bearer(owner) },
      body: JSON.stringify({ max_clock_skew_seconds: 600 }),
    });
    expect(put.status).toBe(200);
    const list = await api(`/v1/tenants/${tenant}/events`, { headers: bearer(owner) });
    const { events } = (await list.json()) as { events: { event: { action: string }; provenance: { principal_type: string } }[] };
    expect(events.map((e) => e.event.action)).toEqual([...Array(base).fill("sealtrail.key.created"), "sealtrail.settings.updated"]);
    const entry = (await (await api(`/v1/tenants/${tenant}/events/${base + 1}`, { headers: bearer(owner) })).json()) as {
      event: { action: string };
    };
    expect(entry.event.action).toBe("sealtrail.events.listed");
  });
});
