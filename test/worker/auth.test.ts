import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createAuth } from "../../src/worker/auth";
import { api, bearer, BASE, clientIp, createKey, createTenant, event, postEvent, signUp, tenantWithKeys, type Session } from "./helpers";

const get = (path: string, headers: Record<string, string>) => api(path, { headers });

describe("people: sign-up, sign-in and sessions", () => {
  it("a new user signs up, signs in with the password and gets a working session", async () => {
    const s = await signUp("Grace");
    const res = await api("/api/auth/sign-in/email", {
      method: "POST",
      headers: { "content-type": "application/json", origin: BASE, "cf-connecting-ip": clientIp() },
      body: JSON.stringify({ email: s.email, password: "correct horse battery" }),
    });
    expect(res.status).toBe(200);
    const token = res.headers.get("set-auth-token")!;
    expect(res.headers.getSetCookie().some((c) => c.includes("session_token"))).toBe(true);
    const session = await get("/api/auth/get-session", bearer(token));
    expect(((await session.json()) as { user: { id: string } }).user.id).toBe(s.userId);
  });

  it("a wrong password is refused", async () => {
    const s = await signUp("Alan");
    const res = await api("/api/auth/sign-in/email", {
      method: "POST",
      headers: { "content-type": "application/json", origin: BASE, "cf-connecting-ip": clientIp() },
      body: JSON.stringify({ email: s.email, password: "not the password" }),
    });
    expect(res.status).toBe(401);
  });

  it("the creator of an organization (tenant) is its owner and can read it", async () => {
    const owner = await signUp();
    const tenant = await createTenant(owner);
    const res = await get(`/v1/tenants/${tenant}/events`, bearer(owner));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ events: [], next_cursor: null, prev_cursor: null, pruned: null });
  });
});

describe("API keys carry their own permissions", () => {
  it("an append key appends but cannot read", async () => {
    const { tenant, appendKey } = await tenantWithKeys();
    const created = await postEvent(tenant, appendKey, event());
    expect(created.status).toBe(201);
    expect((await get(`/v1/tenants/${tenant}/events`, { "x-api-key": appendKey })).status).toBe(403);
    expect((await get(`/v1/tenants/${tenant}/events/0`, { "x-api-key": appendKey })).status).toBe(403);
  });

  it("a read key reads but cannot append", async () => {
    const { tenant, appendKey, readKey } = await tenantWithKeys();
    await postEvent(tenant, appendKey, event());
    const list = await get(`/v1/tenants/${tenant}/events?action=user.login`, { authorization: `Bearer ${readKey}` });
    expect(list.status).toBe(200);
    expect(((await list.json()) as { events: unknown[] }).events).toHaveLength(1);
    const refused = await postEvent(tenant, readKey, event());
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: { code: "forbidden" } });
  });

  it("lists keys with their permissions but never the secret, and a revoked key stops working", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const listed = (await (await get(`/v1/tenants/${tenant}/keys`, bearer(owner))).json()) as {
      keys: { id: string; name: string; permissions: string[] }[];
    };
    expect(listed.keys.map((k) => [k.name, k.permissions]).sort()).toEqual([
      ["reader", ["read"]],
      ["writer", ["append"]],
    ]);
    expect(JSON.stringify(listed)).not.toContain(appendKey);
    const writer = listed.keys.find((k) => k.name === "writer")!;
    const del = await api(`/v1/tenants/${tenant}/keys/${writer.id}`, { method: "DELETE", headers: bearer(owner) });
    expect(del.status).toBe(200);
    expect((await postEvent(tenant, appendKey, event())).status).toBe(401);
  });

  it("refuses a key request with an unknown permission or none", async () => {
    const owner = await signUp();
    const tenant = await createTenant(owner);
    for (const permissions of [["append", "delete"], [], ["read", "read"]]) {
      const res = await api(`/v1/tenants/${tenant}/keys`, {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(owner) },
        body: JSON.stringify({ name: "k", permissions }),
      });
      expect(res.status).toBe(400);
    }
  });

  it("an admin key cannot mint keys: key management needs a signed-in member", async () => {
    const owner = await signUp();
    const tenant = await createTenant(owner);
    const admin = await createKey(owner, tenant, ["admin"]);
    const res = await api(`/v1/tenants/${tenant}/keys`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": admin },
      body: JSON.stringify({ name: "k", permissions: ["read"] }),
    });
    expect(res.status).toBe(403);
  });
});

describe("organization roles map to permissions", () => {
  const appendAs = (person: Session, tenant: string) =>
    api(`/v1/tenants/${tenant}/events`, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(person) },
      body: JSON.stringify(event()),
    });

  async function memberWithRole(role: string) {
    const owner = await signUp();
    const tenant = await createTenant(owner);
    const person = await signUp("Member");
    await createAuth(env).api.addMember({ body: { userId: person.userId, organizationId: tenant, role: role as "member" } });
    return { owner, tenant, person };
  }

  it("an auditor reads but cannot append or manage keys", async () => {
    const { tenant, person } = await memberWithRole("auditor");
    expect((await get(`/v1/tenants/${tenant}/events`, bearer(person))).status).toBe(200);
    expect((await appendAs(person, tenant)).status).toBe(403);
    expect((await get(`/v1/tenants/${tenant}/keys`, bearer(person))).status).toBe(403);
  });

  it("a member reads only", async () => {
    const { tenant, person } = await memberWithRole("member");
    expect((await get(`/v1/tenants/${tenant}/events`, bearer(person))).status).toBe(200);
    expect((await appendAs(person, tenant)).status).toBe(403);
  });

  it("a role name the product does not define grants nothing", async () => {
    const { tenant, person } = await memberWithRole("superuser");
    expect((await get(`/v1/tenants/${tenant}/events`, bearer(person))).status).toBe(403);
  });

  it("an owner's session appends, with the user stamped as provenance", async () => {
    const owner = await signUp();
    const tenant = await createTenant(owner);
    const res = await api(`/v1/tenants/${tenant}/events`, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(owner), "cf-connecting-ip": "203.0.113.9" },
      body: JSON.stringify(event()),
    });
    expect(res.status).toBe(201);
    const one = (await (await get(`/v1/tenants/${tenant}/events/0`, bearer(owner))).json()) as {
      provenance: Record<string, string>;
    };
    expect(one.provenance).toMatchObject({ principal_type: "user", principal_id: owner.userId, ip: "203.0.113.9" });
  });
});

describe("who may call at all", () => {
  it("no credentials is 401 on every tenant route", async () => {
    const { tenant } = await tenantWithKeys();
    for (const [method, path] of [
      ["GET", `/v1/tenants/${tenant}/events`],
      ["POST", `/v1/tenants/${tenant}/events`],
      ["GET", `/v1/tenants/${tenant}/events/0`],
      ["GET", `/v1/tenants/${tenant}/keys`],
      ["POST", `/v1/tenants/${tenant}/keys`],
    ] as const) {
      const res = await api(path, { method, headers: { "content-type": "application/json" }, body: method === "POST" ? "{}" : null });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: "unauthenticated" } });
    }
  });

  it("an unknown API key is 401", async () => {
    const { tenant } = await tenantWithKeys();
    expect((await postEvent(tenant, "st_notakey", event())).status).toBe(401);
  });
});

describe("tenant isolation", () => {
  it("a key or member of tenant A gets 404 on every tenant-B route", async () => {
    const a = await tenantWithKeys();
    const b = await tenantWithKeys();
    await postEvent(b.tenant, b.appendKey, event());
    const routes = [
      ["GET", `/v1/tenants/${b.tenant}/events`],
      ["POST", `/v1/tenants/${b.tenant}/events`],
      ["GET", `/v1/tenants/${b.tenant}/events/0`],
      ["GET", `/v1/tenants/${b.tenant}/keys`],
      ["POST", `/v1/tenants/${b.tenant}/keys`],
    ] as const;
    for (const credential of [{ "x-api-key": a.appendKey }, { "x-api-key": a.readKey }, bearer(a.owner)]) {
      for (const [method, path] of routes) {
        const body = method === "POST" ? JSON.stringify(event()) : null;
        const res = await api(path, { method, headers: { "content-type": "application/json", ...credential }, body });
        expect(res.status, `${method} ${path}`).toBe(404);
      }
    }
    // Nothing was written to B by A's attempts.
    const bList = (await (await get(`/v1/tenants/${b.tenant}/events?action=user.login`, { "x-api-key": b.readKey })).json()) as {
      events: unknown[];
    };
    expect(bList.events).toHaveLength(1);
  });

  it("encoded path tricks do not reach another tenant", async () => {
    const a = await tenantWithKeys();
    const b = await tenantWithKeys();
    await postEvent(b.tenant, b.appendKey, event());
    for (const path of [
      `/v1/tenants/${a.tenant}%2F..%2F${b.tenant}/events`,
      `/v1/tenants/${b.tenant}%2F..%2F${a.tenant}/events`,
      `/v1/tenants/${a.tenant}%2F${b.tenant}/events`,
      `/v1/tenants/${b.tenant}%00/events`,
      `/v1/tenants/%2e%2e%2F${b.tenant}/events`,
      `//v1/tenants/${b.tenant}/events`,
    ]) {
      for (const credential of [{ "x-api-key": a.readKey }, bearer(a.owner)]) {
        const res = await get(path, credential);
        expect(res.status, path).toBe(404);
      }
    }
  });
});
