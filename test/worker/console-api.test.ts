/**
 * The API additions the web console relies on: the activity chart, CSRF protection of cookie
 * sessions, logged key changes (including a publishable key's origins), and logged membership
 * changes made through better-auth's organization routes.
 */
import { describe, expect, test } from "vitest";
import {
  acceptInvitation,
  api,
  BASE,
  bearer,
  clientIp,
  createKey,
  createTenant,
  event,
  logOf,
  postEvent,
  signUp,
  tenantWithKeys,
  type Session,
} from "./helpers";

const json = { "content-type": "application/json" };

async function logged(owner: Session, tenant: string, action: string) {
  const res = await api(`/v1/tenants/${tenant}/events?action=${encodeURIComponent(action)}`, { headers: bearer(owner) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { events: { event: Record<string, unknown>; provenance: Record<string, unknown>; entry: string }[] })
    .events;
}

/** An organization route of better-auth, as the console calls it. */
function org(owner: Session, path: string, body: unknown) {
  return api(`/api/auth/organization/${path}`, {
    method: "POST",
    headers: { ...json, origin: BASE, "cf-connecting-ip": clientIp(), ...bearer(owner) },
    body: JSON.stringify(body),
  });
}

describe("GET /stats/activity", () => {
  test("counts entries per hour over the last day", async () => {
    const { owner, tenant, appendKey, base } = await tenantWithKeys();
    for (let i = 0; i < 3; i++) expect((await postEvent(tenant, appendKey, event())).status).toBe(201);
    const res = await api(`/v1/tenants/${tenant}/stats/activity`, { headers: bearer(owner) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { range: string; bucket_seconds: number; buckets: { start: string; count: number }[] };
    expect(body.range).toBe("24h");
    expect(body.bucket_seconds).toBe(3600);
    expect(body.buckets).toHaveLength(24);
    // All 3 (and the 2 key creations before them) are in the newest bucket, or the one before
    // if the hour turned meanwhile.
    expect(body.buckets[22]!.count + body.buckets[23]!.count).toBe(3 + base);
    expect(body.buckets.slice(0, 22).every((b) => b.count === 0)).toBe(true);
    expect(Date.parse(body.buckets[23]!.start)).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(body.buckets[23]!.start) + 3600_000).toBeGreaterThan(Date.now());
  });

  test("daily buckets for 30 days; another tenant's entries are not counted", async () => {
    const a = await tenantWithKeys();
    const b = await tenantWithKeys();
    expect((await postEvent(b.tenant, b.appendKey, event())).status).toBe(201);
    const res = await api(`/v1/tenants/${a.tenant}/stats/activity?range=30d`, { headers: bearer(a.owner) });
    const body = (await res.json()) as { buckets: { count: number }[]; bucket_seconds: number };
    expect(body.bucket_seconds).toBe(86400);
    expect(body.buckets).toHaveLength(30);
    // Only a's own key creations.
    expect(body.buckets.reduce((n, x) => n + x.count, 0)).toBe(a.base);
  });

  test("a range it does not know is a 400; an append-only key may not look", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    expect((await api(`/v1/tenants/${tenant}/stats/activity?range=1y`, { headers: bearer(owner) })).status).toBe(400);
    expect((await api(`/v1/tenants/${tenant}/stats/activity`, { headers: { "x-api-key": appendKey } })).status).toBe(403);
  });
});

describe("cookie sessions and cross-site requests", () => {
  async function cookieOf(s: Session): Promise<string> {
    const res = await api("/api/auth/sign-in/email", {
      method: "POST",
      headers: { ...json, origin: BASE, "cf-connecting-ip": clientIp() },
      body: JSON.stringify({ email: s.email, password: "correct horse battery" }),
    });
    expect(res.status).toBe(200);
    return res.headers
      .getSetCookie()
      .map((c) => c.split(";")[0])
      .join("; ");
  }
  const settingsNow = async (owner: Session, tenant: string) =>
    ((await (await api(`/v1/tenants/${tenant}/settings`, { headers: bearer(owner) })).json()) as { seal_interval_seconds: number })
      .seal_interval_seconds;

  test("a change made with a cookie must come from a page of this site", async () => {
    const owner = await signUp();
    const tenant = await createTenant(owner);
    const cookie = await cookieOf(owner);
    const before = await settingsNow(owner, tenant);
    const put = (headers: Record<string, string>) =>
      api(`/v1/tenants/${tenant}/settings`, {
        method: "PUT",
        headers: { ...json, cookie, ...headers },
        body: JSON.stringify({ seal_interval_seconds: before + 7 }),
      });

    for (const headers of [{}, { origin: "https://evil.example" }, { origin: "null" }] as Record<string, string>[]) {
      const res = await put(headers);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("cross_site_request");
    }
    expect(await settingsNow(owner, tenant)).toBe(before);
    // Reads with the cookie need no Origin; a change from the site itself goes through.
    expect((await api(`/v1/tenants/${tenant}/settings`, { headers: { cookie } })).status).toBe(200);
    expect((await put({ origin: BASE })).status).toBe(200);
    expect(await settingsNow(owner, tenant)).toBe(before + 7);
  });

  test("a read with a cookie from another site (Sec-Fetch-Site cross-site or same-site) is refused and logs nothing", async () => {
    const owner = await signUp();
    const tenant = await createTenant(owner);
    const cookie = await cookieOf(owner);
    const readKey = await createKey(owner, tenant, ["read"], "reader");
    const log = logOf(tenant);
    const size = async () => (await log.stats()).size;
    // The key's creation is logged: that is where the log starts for this test.
    const start = await size();
    // A link or an <img> on another site: the browser sends the cookie with a top-level GET, and
    // the attacker chooses the query, which the read log would record in the victim's name.
    const attack = `/v1/tenants/${tenant}/events?action=${encodeURIComponent("i.approve.this")}`;
    const reads = [attack, `/v1/tenants/${tenant}/export?format=csv`, `/v1/tenants/${tenant}/checkpoint`, `/v1/tenants/${tenant}/settings`];
    for (const site of ["cross-site", "same-site", "Cross-Site"]) {
      for (const path of reads) {
        const res = await api(path, { headers: { cookie, "sec-fetch-site": site, "sec-fetch-mode": "navigate" } });
        expect(res.status, `${site} ${path}`).toBe(403);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe("cross_site_request");
      }
    }
    // A page of another origin naming itself gets no further.
    const res = await api(attack, { headers: { cookie, "sec-fetch-site": "cross-site", origin: "https://evil.example" } });
    expect(res.status).toBe(403);
    expect(await size()).toBe(start);
    // The console's own requests, a typed-in address, and clients that send no Sec-Fetch-Site work.
    let expected = start;
    // So does a fetch from a page of TRUSTED_ORIGINS (another site, which names itself in Origin).
    expect((await api(attack, { headers: { cookie, "sec-fetch-site": "cross-site", origin: "http://localhost:8787" } })).status).toBe(200);
    expect(await size()).toBe(++expected);
    for (const headers of [{ "sec-fetch-site": "same-origin" }, { "sec-fetch-site": "none" }, {}] as Record<string, string>[]) {
      expect((await api(attack, { headers: { cookie, ...headers } })).status).toBe(200);
      expect(await size()).toBe(++expected);
    }
    // Credentials a browser does not attach by itself are unaffected.
    for (const headers of [bearer(owner), { "x-api-key": readKey }]) {
      expect((await api(attack, { headers: { ...headers, "sec-fetch-site": "cross-site" } })).status).toBe(200);
      expect(await size()).toBe(++expected);
    }
  });

  test("a bearer token without a cookie needs no Origin (a browser never sends it by itself)", async () => {
    const owner = await signUp();
    const tenant = await createTenant(owner);
    const res = await api(`/v1/tenants/${tenant}/settings`, {
      method: "PUT",
      headers: { ...json, ...bearer(owner) },
      body: JSON.stringify({ max_clock_skew_seconds: 600 }),
    });
    expect(res.status).toBe(200);
  });

  test("every kind of change with a cookie from another site is refused, and changes nothing", async () => {
    const owner = await signUp();
    const tenant = await createTenant(owner);
    const cookie = await cookieOf(owner);
    const created = await api(`/v1/tenants/${tenant}/keys`, {
      method: "POST",
      headers: { ...json, ...bearer(owner) },
      body: JSON.stringify({ name: "web", permissions: ["append"], allowed_origins: ["https://a.example"] }),
    });
    const { id } = (await created.json()) as { id: string };
    const evil = { cookie, origin: "https://evil.example" };
    const attempts = [
      api(`/v1/tenants/${tenant}/keys/${id}`, { method: "DELETE", headers: evil }),
      api(`/v1/tenants/${tenant}/keys/${id}`, {
        method: "PATCH",
        headers: { ...json, ...evil },
        body: JSON.stringify({ allowed_origins: ["https://evil.example"] }),
      }),
      api(`/v1/tenants/${tenant}/keys`, {
        method: "POST",
        headers: { ...json, ...evil },
        body: JSON.stringify({ name: "x", permissions: ["read"] }),
      }),
      api(`/v1/tenants/${tenant}/seal`, { method: "POST", headers: evil }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("cross_site_request");
    }
    // A bad bearer token next to the cookie gets nowhere either.
    const mixed = await api(`/v1/tenants/${tenant}/keys/${id}`, {
      method: "DELETE",
      headers: { ...evil, authorization: "Bearer nonsense" },
    });
    expect([401, 403]).toContain(mixed.status);
    // better-auth's own routes refuse it too.
    const invite = await api("/api/auth/organization/invite-member", {
      method: "POST",
      headers: { ...json, ...evil, "cf-connecting-ip": clientIp() },
      body: JSON.stringify({ email: "x@example.com", role: "owner", organizationId: tenant }),
    });
    expect(invite.status).toBe(403);
    const keys = (await (await api(`/v1/tenants/${tenant}/keys`, { headers: bearer(owner) })).json()) as {
      keys: { id: string; allowed_origins?: string[] }[];
    };
    expect(keys.keys.map((k) => [k.id, k.allowed_origins])).toEqual([[id, ["https://a.example"]]]);
    // Only the key's creation, made before the attempts, is in the log.
    expect((await logged(owner, tenant, "sealtrail.*")).map((e) => e.event.action)).toEqual(["sealtrail.key.created"]);
  });
});

describe("key changes are logged", () => {
  test("revocation is an entry in the tenant's log", async () => {
    const owner = await signUp();
    const tenant = await createTenant(owner);
    const raw = await createKey(owner, tenant, ["read", "verify"], "auditor-key");
    const list = (await (await api(`/v1/tenants/${tenant}/keys`, { headers: bearer(owner) })).json()) as { keys: { id: string }[] };
    const id = list.keys[0]!.id;
    expect(raw).toMatch(/^st_/);
    expect((await api(`/v1/tenants/${tenant}/keys/${id}`, { method: "DELETE", headers: bearer(owner) })).status).toBe(200);
    const revoked = await logged(owner, tenant, "sealtrail.key.revoked");
    expect(revoked.map((e) => [e.event.actor, e.event.targets])).toEqual([[{ id: owner.userId, type: "user" }, [{ id, type: "api_key" }]]]);
  });

  test("a publishable key's allowed origins can be changed; the change is logged with before and after", async () => {
    const owner = await signUp();
    const tenant = await createTenant(owner);
    const created = await api(`/v1/tenants/${tenant}/keys`, {
      method: "POST",
      headers: { ...json, ...bearer(owner) },
      body: JSON.stringify({ name: "web", permissions: ["append"], allowed_origins: ["https://a.example"] }),
    });
    const { id, key } = (await created.json()) as { id: string; key: string };
    const patch = (body: unknown, keyId = id) =>
      api(`/v1/tenants/${tenant}/keys/${keyId}`, { method: "PATCH", headers: { ...json, ...bearer(owner) }, body: JSON.stringify(body) });

    expect((await patch({ allowed_origins: ["https://a.example/path"] })).status).toBe(400);
    expect((await patch({ allowed_origins: [] })).status).toBe(400);
    expect((await patch({ allowed_origins: ["https://b.example"], extra: 1 })).status).toBe(400);
    expect(await logged(owner, tenant, "sealtrail.key.updated")).toHaveLength(0);

    expect((await patch({ allowed_origins: ["https://b.example"] })).status).toBe(200);
    const updated = await logged(owner, tenant, "sealtrail.key.updated");
    expect(updated).toHaveLength(1);
    expect(updated[0]!.event.metadata).toEqual({
      before: { allowed_origins: ["https://a.example"] },
      after: { allowed_origins: ["https://b.example"] },
    });
    // The new origin works for ingest at once; the old one no longer does.
    const send = (origin: string) => postEvent(tenant, key, event(), { origin });
    expect((await send("https://b.example")).status).toBe(201);
    expect((await send("https://a.example")).status).toBe(403);

    // A secret key has no origins to change.
    const secretKey = await createKey(owner, tenant, ["append"], "secret");
    const keys = (await (await api(`/v1/tenants/${tenant}/keys`, { headers: bearer(owner) })).json()) as {
      keys: { id: string; type: string; start: string }[];
    };
    const secretId = keys.keys.find((k) => k.type === "secret")!.id;
    expect(secretKey).toMatch(/^st_/);
    expect((await patch({ allowed_origins: ["https://b.example"] }, secretId)).status).toBe(404);
  });
});

describe("membership changes are logged", () => {
  test("invite, join, role change and removal each become an entry naming who did it", async () => {
    const owner = await signUp("Olivia");
    const tenant = await createTenant(owner);
    const ada = await signUp("Ada");

    const bad = await org(owner, "invite-member", { email: ada.email, role: "superuser", organizationId: tenant });
    expect(bad.status).toBe(400);
    expect(await logged(owner, tenant, "sealtrail.member.*")).toHaveLength(0);

    const invited = await org(owner, "invite-member", { email: ada.email, role: "auditor", organizationId: tenant });
    expect(invited.status).toBe(200);
    const invitation = (await invited.json()) as { id: string; secret: string };
    const accepted = await acceptInvitation(ada, invitation.id, invitation.secret);
    expect(accepted.status).toBe(200);
    const memberId = ((await accepted.json()) as { member: { id: string } }).member.id;
    // Ada is now an auditor of the tenant: she can verify, and cannot manage keys.
    expect((await api(`/v1/tenants/${tenant}/verify`, { headers: bearer(ada) })).status).toBe(200);
    expect((await api(`/v1/tenants/${tenant}/keys`, { headers: bearer(ada) })).status).toBe(403);

    expect((await org(owner, "update-member-role", { memberId, role: "superuser", organizationId: tenant })).status).toBe(400);
    expect((await org(owner, "update-member-role", { memberId, role: "member", organizationId: tenant })).status).toBe(200);
    expect((await api(`/v1/tenants/${tenant}/verify`, { headers: bearer(ada) })).status).toBe(403);
    expect((await org(owner, "remove-member", { memberIdOrEmail: memberId, organizationId: tenant })).status).toBe(200);
    expect((await api(`/v1/tenants/${tenant}/events`, { headers: bearer(ada) })).status).toBe(404);

    const entries = await logged(owner, tenant, "sealtrail.member.*");
    expect(entries.map((e) => [e.event.action, (e.event.actor as { id: string }).id, e.event.metadata])).toEqual([
      ["sealtrail.member.invited", owner.userId, { email: ada.email, role: "auditor" }],
      ["sealtrail.member.joined", ada.userId, { role: "auditor", invitation_id: invitation.id }],
      ["sealtrail.member.role_updated", owner.userId, { user_id: ada.userId, role: "member", previous_role: "auditor" }],
      ["sealtrail.member.removed", owner.userId, { user_id: ada.userId, role: "member" }],
    ]);
  });

  test("a member cannot invite, and a refused change logs nothing", async () => {
    const owner = await signUp();
    const tenant = await createTenant(owner);
    const ada = await signUp("Ada");
    const inv = (await (await org(owner, "invite-member", { email: ada.email, role: "member", organizationId: tenant })).json()) as {
      id: string;
      secret: string;
    };
    expect((await acceptInvitation(ada, inv.id, inv.secret)).status).toBe(200);
    const before = (await logged(owner, tenant, "sealtrail.member.*")).length;
    expect((await org(ada, "invite-member", { email: "x@example.com", role: "owner", organizationId: tenant })).status).toBe(403);
    expect(await logged(owner, tenant, "sealtrail.member.*")).toHaveLength(before);
  });

  test("cancelled and rejected invitations, leaving and renaming are logged too", async () => {
    const owner = await signUp("Olivia");
    const tenant = await createTenant(owner);
    const ada = await signUp("Ada");
    const bob = await signUp("Bob");
    const secrets = new Map<string, string>();
    const id = async (res: Promise<Response>) => {
      const r = await res;
      expect(r.status).toBe(200);
      const { id, secret } = (await r.json()) as { id: string; secret: string };
      secrets.set(id, secret);
      return id;
    };
    const cancelled = await id(org(owner, "invite-member", { email: "carol@example.com", role: "member", organizationId: tenant }));
    expect((await org(owner, "cancel-invitation", { invitationId: cancelled })).status).toBe(200);
    const rejected = await id(org(owner, "invite-member", { email: bob.email, role: "member", organizationId: tenant }));
    expect((await org(bob, "reject-invitation", { invitationId: rejected })).status).toBe(200);
    const joined = await id(org(owner, "invite-member", { email: ada.email, role: "admin", organizationId: tenant }));
    expect((await acceptInvitation(ada, joined, secrets.get(joined))).status).toBe(200);
    expect((await org(ada, "leave", { organizationId: tenant })).status).toBe(200);
    expect((await org(owner, "update", { organizationId: tenant, data: { name: "Acme renamed" } })).status).toBe(200);

    const entries = [...(await logged(owner, tenant, "sealtrail.member.*")), ...(await logged(owner, tenant, "sealtrail.tenant.*"))];
    expect(
      entries.map((e) => [e.event.action, (e.event.actor as { id: string }).id, (e.event.targets as { id: string }[])[0]!.id]),
    ).toEqual([
      ["sealtrail.member.invited", owner.userId, cancelled],
      ["sealtrail.member.invitation_cancelled", owner.userId, cancelled],
      ["sealtrail.member.invited", owner.userId, rejected],
      ["sealtrail.member.invitation_rejected", bob.userId, rejected],
      ["sealtrail.member.invited", owner.userId, joined],
      ["sealtrail.member.joined", ada.userId, expect.any(String)],
      ["sealtrail.member.left", ada.userId, expect.any(String)],
      ["sealtrail.tenant.updated", owner.userId, tenant],
    ]);
    expect(entries[1]!.event.metadata).toEqual({ email: "carol@example.com", role: "member" });
    expect(entries[7]!.event.metadata).toMatchObject({ name: "Acme renamed" });
  });

  test("a tenant cannot be deleted through the API", async () => {
    const owner = await signUp();
    const tenant = await createTenant(owner);
    const res = await org(owner, "delete", { organizationId: tenant });
    expect(res.status).toBe(404);
    expect((await api(`/v1/tenants/${tenant}/settings`, { headers: bearer(owner) })).status).toBe(200);
  });
});
