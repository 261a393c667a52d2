/**
 * Issue #13: better-auth's own routes cannot change keys, roles or memberships behind the
 * tenant's log; key creation is logged and keys do not outlive their creator's membership;
 * /api/auth/* bodies are capped; membership logging does not depend on re-reading requests;
 * invitations are accepted only with the link's one-time secret.
 */
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sealKeys } from "../../src/core/seal";
import { authFor } from "../../src/worker/auth";
import { AUTH_ENDPOINTS, mountedAuthEndpoints } from "../../src/worker/auth-routes";
import {
  acceptInvitation,
  api,
  BASE,
  bearer,
  clientIp,
  createKey,
  createTenant,
  entriesOf,
  event,
  invite,
  join,
  logOf,
  orgRoute,
  postEvent,
  signUp,
  type Session,
  bucketOf,
} from "./helpers";

const json = { "content-type": "application/json" };

interface KeyRow {
  id: string;
  name: string;
  type: string;
  allowed_origins?: string[];
  permissions: string[];
}

/** The tenant's entries that record changes (key, membership and tenant changes), not its read-access entries. */
async function changesOf(reader: Session, tenant: string) {
  const all = [
    ...(await entriesOf(reader, tenant, "sealtrail.key.*")),
    ...(await entriesOf(reader, tenant, "sealtrail.member.*")),
    ...(await entriesOf(reader, tenant, "sealtrail.tenant.*")),
  ];
  return all.sort((a, b) => a.seq - b.seq);
}

async function keysOf(owner: Session, tenant: string): Promise<KeyRow[]> {
  const res = await api(`/v1/tenants/${tenant}/keys`, { headers: bearer(owner) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { keys: KeyRow[] }).keys;
}

async function publishableKey(owner: Session, tenant: string, origins = ["https://a.example"]) {
  const res = await api(`/v1/tenants/${tenant}/keys`, {
    method: "POST",
    headers: { ...json, ...bearer(owner) },
    body: JSON.stringify({ name: "web", permissions: ["append"], allowed_origins: origins }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; key: string };
}

/** A raw request to a path as written (no URL normalisation of the path beyond what fetch does). */
function raw(path: string, method: string, who: Session, body?: unknown) {
  return api(path, {
    method,
    headers: { ...(body === undefined ? {} : json), origin: BASE, "cf-connecting-ip": clientIp(), ...bearer(who) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** Spellings of one better-auth path that a router might treat as that path. */
function spellings(path: string): string[] {
  const [group, name] = path.split("/") as [string, string];
  return [
    `/api/auth/${group}/${name}`,
    `/api/auth/${group}/${name}/`,
    `/api/auth/${group.toUpperCase()}/${name}`,
    `/api/auth/${group}/${name.toUpperCase()}`,
    `/API/AUTH/${group}/${name}`,
    `/api/auth//${group}/${name}`,
    `/api/auth/${group}//${name}`,
    `//api/auth/${group}/${name}`,
    `/api/auth/${group}%2F${name}`,
    `/api/auth/${group}%2f${name}`,
    `/api/auth/${encodeURIComponent(group).replace(/-/g, "%2D")}/${name}`,
    `/api/auth/${group}/${name.replace(/e/, "%65")}`,
    `/api/auth/${group}/${name}?x=1`,
    `/api/auth/${group}/${name}/?`,
    `/api/auth/./${group}/${name}`,
    `/api/auth/organization/../${group}/${name}`,
    `/api/auth/${group}/${name};x`,
    `/api/auth/${group}/${name}%20`,
    `/api/auth/${group}/${name}.json`,
  ];
}

describe("better-auth's own key routes are refused (item 1)", () => {
  it("every endpoint better-auth mounts is classified (open, logged or refused); api-key/* are refused", () => {
    const mounted = mountedAuthEndpoints(authFor(env));
    expect(mounted.length).toBeGreaterThan(40);
    expect(mounted.map((e) => e.path).filter((p) => !AUTH_ENDPOINTS[p])).toEqual([]);
    for (const e of mounted.filter((m) => m.path.startsWith("/api-key/"))) expect(AUTH_ENDPOINTS[e.path]!.policy).toBe("refused");
    expect(AUTH_ENDPOINTS["/organization/accept-invitation"]!.policy).toBe("refused");
  });

  it("no spelling of /api/auth/api-key/{create,update,delete,…} changes a key, with GET or POST", async () => {
    const owner = await signUp("Olivia");
    const tenant = await createTenant(owner);
    await createKey(owner, tenant, ["read"], "reader");
    const web = await publishableKey(owner, tenant);
    const before = await keysOf(owner, tenant);
    const logBefore = await changesOf(owner, tenant);

    const attempts: [string, unknown][] = [
      ["api-key/create", { name: "sneaky", organizationId: tenant, configId: "tenant" }],
      ["api-key/create", { name: "sneaky-web", organizationId: tenant, configId: "publishable", metadata: { allowed_origins: ["null"] } }],
      ["api-key/update", { keyId: web.id, configId: "publishable", metadata: { allowed_origins: ["null"] } }],
      ["api-key/update", { keyId: web.id, configId: "publishable", enabled: false }],
      ["api-key/delete", { keyId: web.id, configId: "publishable" }],
      ["api-key/delete-all-expired-api-keys", {}],
      ["api-key/list", undefined],
      ["api-key/get", undefined],
    ];
    const statuses = new Set<number>();
    for (const [path, body] of attempts) {
      for (const url of spellings(path)) {
        for (const method of ["POST", "GET"]) {
          const query =
            body && method === "GET"
              ? `${url.includes("?") ? "&" : "?"}${new URLSearchParams({ id: web.id, keyId: web.id, organizationId: tenant })}`
              : "";
          const res = await raw(url + query, method, owner, method === "POST" ? (body ?? {}) : undefined);
          expect(res.status, `${method} ${url}`).toBeGreaterThanOrEqual(400);
          expect(res.status, `${method} ${url}`).not.toBe(500);
          statuses.add(res.status);
        }
      }
    }
    expect([...statuses]).toContain(404);
    // Nothing changed: the same keys with the same origins, and nothing new in the log.
    expect(await keysOf(owner, tenant)).toEqual(before);
    expect(await changesOf(owner, tenant)).toEqual(logBefore);
    // The publishable key still works from its origin only.
    expect((await postEvent(tenant, web.key, event(), { origin: "https://a.example" })).status).toBe(201);
    expect((await postEvent(tenant, web.key, event(), { origin: "null" })).status).toBe(403);
  });

  it("better-auth's plain accept-invitation and delete-user are refused too", async () => {
    const owner = await signUp("Olivia");
    const tenant = await createTenant(owner);
    const ada = await signUp("Ada");
    const inv = await invite(owner, tenant, ada.email, "admin");
    for (const url of spellings("organization/accept-invitation")) {
      const res = await raw(url, "POST", ada, { invitationId: inv.id });
      expect(res.status, url).toBeGreaterThanOrEqual(400);
    }
    expect((await api(`/v1/tenants/${tenant}/events`, { headers: bearer(ada) })).status).toBe(404);
    const del = await raw("/api/auth/delete-user", "POST", owner, { password: "correct horse battery" });
    expect(del.status).toBe(404);
    expect((await api(`/v1/tenants/${tenant}/settings`, { headers: bearer(owner) })).status).toBe(200);
  });

  it("the routes the console uses still work", async () => {
    const owner = await signUp("Olivia");
    const tenant = await createTenant(owner);
    expect((await raw("/api/auth/get-session", "GET", owner)).status).toBe(200);
    expect((await raw(`/api/auth/organization/list-members?organizationId=${tenant}`, "GET", owner)).status).toBe(200);
    expect((await raw("/api/auth/organization/list", "GET", owner)).status).toBe(200);
    expect((await raw("/api/auth/sign-out", "POST", owner, {})).status).toBe(200);
  });
});

describe("key creation is logged; keys do not outlive their creator (item 2)", () => {
  it("a created key is an entry naming who created it, its name, permissions and origins, never the secret", async () => {
    const owner = await signUp("Olivia");
    const tenant = await createTenant(owner);
    const secret = await createKey(owner, tenant, ["read", "verify"], "auditor-key");
    const web = await publishableKey(owner, tenant, ["https://a.example", "https://b.example"]);
    const keys = await keysOf(owner, tenant);
    const secretId = keys.find((k) => k.type === "secret")!.id;
    const created = await entriesOf(owner, tenant, "sealtrail.key.created");
    expect(created.map((e) => [e.event.actor, e.event.targets, e.event.metadata])).toEqual([
      [
        { id: owner.userId, type: "user" },
        [{ id: secretId, type: "api_key" }],
        { name: "auditor-key", type: "secret", permissions: ["read", "verify"] },
      ],
      [
        { id: owner.userId, type: "user" },
        [{ id: web.id, type: "api_key" }],
        { name: "web", type: "publishable", permissions: ["append"], allowed_origins: ["https://a.example", "https://b.example"] },
      ],
    ]);
    for (const e of created) {
      expect(e.entry).not.toContain(secret);
      expect(e.entry).not.toContain(web.key);
      expect(e.entry).not.toContain(secret.slice(3, 20));
    }
    // The key list names who created each key.
    const listed = (await (await api(`/v1/tenants/${tenant}/keys`, { headers: bearer(owner) })).json()) as {
      keys: { created_by: string | null }[];
    };
    expect(listed.keys.map((k) => k.created_by)).toEqual([owner.userId, owner.userId]);
  });

  it("when a member is removed or leaves, every key they created is revoked at once, each revocation logged with a reason", async () => {
    const owner = await signUp("Olivia");
    const tenant = await createTenant(owner);
    const ownerKey = await createKey(owner, tenant, ["append"], "owner-writer");
    const ada = await signUp("Ada");
    const bob = await signUp("Bob");
    const adaMember = await join(owner, tenant, ada, "admin");
    await join(owner, tenant, bob, "admin");
    const adaKey = await createKey(ada, tenant, ["append"], "ada-writer");
    const adaWeb = await publishableKey(ada, tenant);
    const bobKey = await createKey(bob, tenant, ["append"], "bob-writer");
    // Used once: the secret keys are now in this isolate's verified-key cache.
    for (const k of [adaKey, bobKey, ownerKey]) expect((await postEvent(tenant, k, event())).status).toBe(201);
    const ids = Object.fromEntries((await keysOf(owner, tenant)).map((k) => [k.name, k.id]));

    expect((await orgRoute(owner, "remove-member", { memberIdOrEmail: adaMember, organizationId: tenant })).status).toBe(200);
    expect((await postEvent(tenant, adaKey, event())).status).toBe(401);
    expect((await postEvent(tenant, adaWeb.key, event(), { origin: "https://a.example" })).status).toBe(401);
    expect((await postEvent(tenant, bobKey, event())).status).toBe(201);

    expect((await orgRoute(bob, "leave", { organizationId: tenant })).status).toBe(200);
    expect((await postEvent(tenant, bobKey, event())).status).toBe(401);
    expect((await postEvent(tenant, ownerKey, event())).status).toBe(201);
    expect((await keysOf(owner, tenant)).map((k) => k.name)).toEqual(["owner-writer"]);

    const revoked = await entriesOf(owner, tenant, "sealtrail.key.revoked");
    const byTarget = revoked.map((e) => [
      (e.event.targets as { id: string }[])[0]!.id,
      (e.event.actor as { id: string }).id,
      e.event.metadata,
    ]);
    expect(byTarget).toHaveLength(3);
    expect(byTarget).toEqual(
      expect.arrayContaining([
        [ids["ada-writer"], owner.userId, { reason: "creator_removed", created_by: ada.userId }],
        [ids.web, owner.userId, { reason: "creator_removed", created_by: ada.userId }],
        [ids["bob-writer"], bob.userId, { reason: "creator_left", created_by: bob.userId }],
      ]),
    );
    // The membership change comes first, then the revocations it caused.
    const all = (await changesOf(owner, tenant)).map((e) => e.event.action);
    const removedAt = all.indexOf("sealtrail.member.removed");
    const leftAt = all.indexOf("sealtrail.member.left");
    expect(all.slice(removedAt, removedAt + 3)).toEqual(["sealtrail.member.removed", "sealtrail.key.revoked", "sealtrail.key.revoked"]);
    expect(all.slice(leftAt, leftAt + 2)).toEqual(["sealtrail.member.left", "sealtrail.key.revoked"]);
  });

  it("an admin demoted to a role without admin loses the keys they created; one who keeps admin keeps them", async () => {
    const owner = await signUp("Olivia");
    const tenant = await createTenant(owner);
    const ada = await signUp("Ada");
    const cy = await signUp("Cy");
    const adaMember = await join(owner, tenant, ada, "admin");
    const cyMember = await join(owner, tenant, cy, "admin");
    const adaAdmin = await createKey(ada, tenant, ["admin"], "ada-admin");
    const adaWriter = await createKey(ada, tenant, ["append"], "ada-writer");
    const cyWriter = await createKey(cy, tenant, ["append"], "cy-writer");
    // Used once: the secret keys are now in this isolate's verified-key cache.
    for (const k of [adaWriter, cyWriter]) expect((await postEvent(tenant, k, event())).status).toBe(201);
    const settings = (key: string) =>
      api(`/v1/tenants/${tenant}/settings`, {
        method: "PUT",
        headers: { "content-type": "application/json", "x-api-key": key },
        body: JSON.stringify({ max_clock_skew_seconds: 600 }),
      });
    expect((await settings(adaAdmin)).status).toBe(200);
    const ids = Object.fromEntries((await keysOf(owner, tenant)).map((k) => [k.name, k.id]));

    // Ada becomes a member: a key she made may no longer act as an admin, or at all.
    expect((await orgRoute(owner, "update-member-role", { memberId: adaMember, role: "member", organizationId: tenant })).status).toBe(200);
    expect((await settings(adaAdmin)).status).toBe(401);
    expect((await postEvent(tenant, adaWriter, event())).status).toBe(401);
    // Cy becomes an owner: still allowed to manage keys, so hers stay.
    expect((await orgRoute(owner, "update-member-role", { memberId: cyMember, role: "owner", organizationId: tenant })).status).toBe(200);
    expect((await postEvent(tenant, cyWriter, event())).status).toBe(201);
    expect((await keysOf(owner, tenant)).map((k) => k.name)).toEqual(["cy-writer"]);

    const revoked = await entriesOf(owner, tenant, "sealtrail.key.revoked");
    expect(revoked.map((e) => [(e.event.targets as { id: string }[])[0]!.id, e.event.metadata])).toEqual(
      expect.arrayContaining([
        [ids["ada-admin"], { reason: "creator_demoted", created_by: ada.userId }],
        [ids["ada-writer"], { reason: "creator_demoted", created_by: ada.userId }],
      ]),
    );
    expect(revoked).toHaveLength(2);
    const all = (await changesOf(owner, tenant)).map((e) => e.event.action);
    const changedAt = all.indexOf("sealtrail.member.role_updated");
    expect(all.slice(changedAt, changedAt + 3)).toEqual([
      "sealtrail.member.role_updated",
      "sealtrail.key.revoked",
      "sealtrail.key.revoked",
    ]);
  });

  it("a refused removal (the only owner leaving) revokes nothing and logs nothing", async () => {
    const owner = await signUp("Olivia");
    const tenant = await createTenant(owner);
    const key = await createKey(owner, tenant, ["append"], "w");
    const before = await changesOf(owner, tenant);
    expect((await orgRoute(owner, "leave", { organizationId: tenant })).status).toBe(400);
    expect((await postEvent(tenant, key, event())).status).toBe(201);
    expect(await changesOf(owner, tenant)).toEqual(before);
  });
});

describe("/api/auth/* bodies are capped (item 7)", () => {
  const big = (n: number) => "a".repeat(n);

  it("a huge sign-in body is refused with 413 from Content-Length, before better-auth reads it", async () => {
    const res = await api("/api/auth/sign-in/email", {
      method: "POST",
      headers: { ...json, origin: BASE, "cf-connecting-ip": clientIp() },
      body: JSON.stringify({ email: `${big(10 * 1024 * 1024)}@example.com`, password: "correct horse battery" }),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("body_too_large");
  });

  it("a streamed (chunked) body without Content-Length is refused with 413 once it passes the limit", async () => {
    const chunk = new TextEncoder().encode(big(8 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode('{"email":"'));
        if (sent >= 1024) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const req = new Request(`${BASE}/api/auth/sign-up/email`, {
      method: "POST",
      headers: { ...json, origin: BASE, "cf-connecting-ip": clientIp() },
      body,
      duplex: "half",
    } as RequestInit);
    expect(req.headers.get("content-length")).toBeNull();
    const res = await api("/api/auth/sign-up/email", req);
    expect(res.status).toBe(413);
    expect(sent).toBeLessThan(1024);
  });

  it("a body over the limit on a membership route changes nothing and logs nothing", async () => {
    const owner = await signUp("Olivia");
    const tenant = await createTenant(owner);
    const res = await orgRoute(owner, "invite-member", {
      email: "x@example.com",
      role: "member",
      organizationId: tenant,
      pad: big(70 * 1024),
    });
    expect(res.status).toBe(413);
    const pending = await raw(`/api/auth/organization/list-invitations?organizationId=${tenant}`, "GET", owner);
    expect(await pending.json()).toEqual([]);
    expect(await changesOf(owner, tenant)).toEqual([]);
  });
});

describe("membership logging does not depend on the body's size (item 9)", () => {
  const pad = "p".repeat(40 * 1024);

  /** A tenant of Olivia's where Ada is an auditor (memberId) and Bob has a pending invitation (inv). */
  async function team() {
    const owner = await signUp("Olivia");
    const tenant = await createTenant(owner);
    const ada = await signUp("Ada");
    const bob = await signUp("Bob");
    const memberId = await join(owner, tenant, ada, "auditor");
    const inv = await invite(owner, tenant, bob.email, "member");
    return { owner, tenant, ada, bob, memberId, inv };
  }

  it("a rejected invitation and a role change with large bodies are logged, with the previous role", async () => {
    const { owner, tenant, ada, bob, memberId, inv } = await team();
    expect((await orgRoute(bob, "reject-invitation", { invitationId: inv.id, pad })).status).toBe(200);
    expect((await orgRoute(owner, "update-member-role", { memberId, role: "member", organizationId: tenant, pad })).status).toBe(200);
    const rejected = await entriesOf(owner, tenant, "sealtrail.member.invitation_rejected");
    expect(rejected.map((e) => [(e.event.actor as { id: string }).id, e.event.metadata])).toEqual([
      [bob.userId, { email: bob.email, role: "member" }],
    ]);
    const updated = await entriesOf(owner, tenant, "sealtrail.member.role_updated");
    expect(updated.map((e) => e.event.metadata)).toEqual([{ user_id: ada.userId, role: "member", previous_role: "auditor" }]);
  });

  it("a change whose record cannot be appended is refused, and does not happen", async () => {
    const { owner, tenant, ada, bob, memberId, inv } = await team();
    const carol = await signUp("Carol");
    const carolInv = await invite(owner, tenant, carol.email, "admin");
    const roleOf = async () =>
      (await env.DB.prepare("SELECT role FROM member WHERE id = ?").bind(memberId).first<{ role: string }>())?.role;
    const statusOf = async () =>
      (await env.DB.prepare("SELECT status FROM invitation WHERE id = ?").bind(inv.id).first<{ status: string }>())?.status;
    // The log refuses every append from now on: R2 holds a seal it never made (invariant 10).
    await (await bucketOf(tenant)).put(sealKeys(tenant, 0).manifest, "a manifest this log never signed\n");
    await evictDurableObject(logOf(tenant));
    const attempts = [
      orgRoute(owner, "update-member-role", { memberId, role: "member", organizationId: tenant }),
      orgRoute(bob, "reject-invitation", { invitationId: inv.id }),
      orgRoute(owner, "invite-member", { email: "carol@example.com", role: "member", organizationId: tenant }),
      orgRoute(owner, "remove-member", { memberIdOrEmail: memberId, organizationId: tenant }),
      orgRoute(ada, "leave", { organizationId: tenant }),
      orgRoute(owner, "update", { organizationId: tenant, data: { name: "Renamed" } }),
      acceptInvitation(carol, carolInv.id, carolInv.secret),
      api(`/v1/tenants/${tenant}/keys`, {
        method: "POST",
        headers: { ...json, ...bearer(owner) },
        body: JSON.stringify({ name: "unlogged", permissions: ["read"] }),
      }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("log_unavailable");
    }
    expect(await roleOf()).toBe("auditor");
    expect(await statusOf()).toBe("pending");
    const invitations = await env.DB.prepare("SELECT email FROM invitation WHERE organization_id = ?")
      .bind(tenant)
      .all<{ email: string }>();
    expect(invitations.results.map((r) => r.email)).not.toContain("carol@example.com");
    const org = await env.DB.prepare("SELECT name FROM organization WHERE id = ?").bind(tenant).first<{ name: string }>();
    expect(org?.name).not.toBe("Renamed");
    // The key whose creation could not be recorded was deleted again.
    const unlogged = await env.DB.prepare("SELECT id FROM apikey WHERE reference_id = ? AND name = 'unlogged'").bind(tenant).first();
    expect(unlogged).toBeNull();
    // The join was undone: Carol is no member, and her invitation can still be accepted later.
    const carolMember = await env.DB.prepare("SELECT id FROM member WHERE organization_id = ? AND user_id = ?")
      .bind(tenant, carol.userId)
      .first();
    expect(carolMember).toBeNull();
    expect((await env.DB.prepare("SELECT status FROM invitation WHERE id = ?").bind(carolInv.id).first<{ status: string }>())?.status).toBe(
      "pending",
    );
  });
});

describe("invitations need the link's one-time secret (item 10)", () => {
  it("the inviter gets the secret once; members listing invitations never see it; D1 holds only its hash", async () => {
    const owner = await signUp("Olivia");
    const tenant = await createTenant(owner);
    const ada = await signUp("Ada");
    const inv = await invite(owner, tenant, ada.email, "auditor");
    expect(inv.secret).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const listed = await (await raw(`/api/auth/organization/list-invitations?organizationId=${tenant}`, "GET", owner)).text();
    expect(listed).toContain(inv.id);
    expect(listed).not.toContain(inv.secret);
    const got = await (await raw(`/api/auth/organization/get-invitation?id=${inv.id}`, "GET", ada)).text();
    expect(got).not.toContain(inv.secret);
    const rows = await env.DB.prepare("SELECT * FROM invitation_secret").all();
    expect(JSON.stringify(rows.results)).not.toContain(inv.secret);
    const logged = await entriesOf(owner, tenant, "sealtrail.member.invited");
    expect(logged.map((e) => e.entry).join()).not.toContain(inv.secret);
  });

  it("a missing, wrong or reused secret is refused with a clear 4xx and nothing changes", async () => {
    const owner = await signUp("Olivia");
    const tenant = await createTenant(owner);
    const ada = await signUp("Ada");
    const mallory = await signUp("Mallory");
    const inv = await invite(owner, tenant, ada.email, "admin");
    const code = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;
    const isMember = async (s: Session) => (await api(`/v1/tenants/${tenant}/settings`, { headers: bearer(s) })).status === 200;

    const missing = await acceptInvitation(ada, inv.id, undefined);
    expect(missing.status).toBe(400);
    const wrong = await acceptInvitation(ada, inv.id, `${inv.secret.slice(0, -2)}xx`);
    expect(wrong.status).toBe(403);
    expect(await code(wrong)).toBe("invitation_secret_invalid");
    const otherInvitation = await invite(owner, tenant, "carol@example.com", "member");
    const crossed = await acceptInvitation(ada, inv.id, otherInvitation.secret);
    expect(crossed.status).toBe(403);
    // The right secret, but signed in as someone else: better-auth's own check.
    const stranger = await acceptInvitation(mallory, inv.id, inv.secret);
    expect(stranger.status).toBe(403);
    expect(await code(stranger)).toBe("invitation_not_for_you");
    // Without a session.
    const anonymous = await api(`/v1/invitations/${inv.id}/accept`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ secret: inv.secret }),
    });
    expect(anonymous.status).toBe(401);
    expect(await isMember(ada)).toBe(false);
    expect(await isMember(mallory)).toBe(false);
    expect(await entriesOf(owner, tenant, "sealtrail.member.joined")).toEqual([]);

    const ok = await acceptInvitation(ada, inv.id, inv.secret);
    expect(ok.status).toBe(200);
    expect(await isMember(ada)).toBe(true);
    const reused = await acceptInvitation(ada, inv.id, inv.secret);
    expect(reused.status).toBe(409);
    expect(await code(reused)).toBe("invitation_not_pending");
    const joined = await entriesOf(owner, tenant, "sealtrail.member.joined");
    expect(joined.map((e) => [(e.event.actor as { id: string }).id, e.event.metadata])).toEqual([
      [ada.userId, { role: "admin", invitation_id: inv.id }],
    ]);
  });

  it("a cookie session must come from this site to accept", async () => {
    const owner = await signUp("Olivia");
    const tenant = await createTenant(owner);
    const ada = await signUp("Ada");
    const inv = await invite(owner, tenant, ada.email, "member");
    const signIn = await api("/api/auth/sign-in/email", {
      method: "POST",
      headers: { ...json, origin: BASE, "cf-connecting-ip": clientIp() },
      body: JSON.stringify({ email: ada.email, password: "correct horse battery" }),
    });
    const cookie = signIn.headers
      .getSetCookie()
      .map((c) => c.split(";")[0])
      .join("; ");
    const accept = (origin: string) =>
      api(`/v1/invitations/${inv.id}/accept`, {
        method: "POST",
        headers: { ...json, cookie, origin },
        body: JSON.stringify({ secret: inv.secret }),
      });
    expect((await accept("https://evil.example")).status).toBe(403);
    expect((await accept(BASE)).status).toBe(200);
  });
});
