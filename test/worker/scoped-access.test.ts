/**
 * Issue #19.1 and #19.2: expiring keys, keys scoped to a view, grants of an auditor view to
 * members, and just-in-time elevation. Real better-auth, D1, the tenant's Durable Object.
 */
import { describe, expect, it } from "vitest";
import { api, bearer, createTenant, entriesOf, event, join, mirrored, postEvent, type Session, signUp, tenantWithKeys } from "./helpers";

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function makeKey(owner: Session, tenant: string, body: Record<string, unknown>) {
  const res = await api(`/v1/tenants/${tenant}/keys`, json({ name: "k", ...body }, bearer(owner)));
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as { id: string; key: string; expires_at?: string; view?: Record<string, unknown> };
}

const code = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

describe("expiring keys", () => {
  it("an expired key is refused with 401 key_expired, also while the key cache still trusts it, and its expiry is logged once", async () => {
    const { owner, tenant } = await tenantWithKeys();
    const made = await makeKey(owner, tenant, { permissions: ["append"], expires_in_seconds: 2 });
    expect(Date.parse(made.expires_at!) - Date.now()).toBeGreaterThan(1000);
    // Verified and cached (key-cache.ts trusts it for 5 s) …
    const ok = await postEvent(tenant, made.key, event());
    expect(ok.status, await ok.clone().text()).toBe(201);
    await sleep(Math.max(0, Date.parse(made.expires_at!) - Date.now()) + 50);
    // … yet refused right at its expiry, within the cache's 5 s.
    const first = await postEvent(tenant, made.key, event());
    expect(first.status).toBe(401);
    expect(await code(first)).toBe("key_expired");
    const again = await postEvent(tenant, made.key, event());
    expect(again.status).toBe(401);
    expect(await code(again)).toBe("key_expired");
    const logged = await entriesOf(owner, tenant, "sealtrail.key.expired");
    expect(logged).toHaveLength(1);
    expect(logged[0]!.event.actor).toEqual({ id: made.id, type: "api_key" });
    expect((logged[0]!.event.metadata as { expired_at: string }).expired_at).toBe(made.expires_at);
    // The key list shows it expired; its creation entry recorded the expiry.
    const list = (await (await api(`/v1/tenants/${tenant}/keys`, { headers: bearer(owner) })).json()) as {
      keys: { id: string; expires_at: string | null; expired: boolean }[];
    };
    expect(list.keys.find((k) => k.id === made.id)).toMatchObject({ expires_at: made.expires_at, expired: true });
    const created = (await entriesOf(owner, tenant, "sealtrail.key.created")).find(
      (e) => (e.event.targets as { id: string }[])[0]!.id === made.id,
    );
    expect((created!.event.metadata as { expires_at: string }).expires_at).toBe(made.expires_at);
  });

  it("an expired publishable key is refused with 401 key_expired from its allowed origin, and logged once", async () => {
    const { owner, tenant } = await tenantWithKeys();
    const origin = "https://app.example.com";
    const made = await makeKey(owner, tenant, { permissions: ["append"], allowed_origins: [origin], expires_in_seconds: 1 });
    expect(made.key).toMatch(/^pk_/);
    const ok = await postEvent(tenant, made.key, event(), { origin });
    expect(ok.status, await ok.clone().text()).toBe(201);
    await sleep(Math.max(0, Date.parse(made.expires_at!) - Date.now()) + 50);
    for (let i = 0; i < 2; i++) {
      const res = await postEvent(tenant, made.key, event(), { origin });
      expect(res.status).toBe(401);
      expect(await code(res)).toBe("key_expired");
    }
    const logged = await entriesOf(owner, tenant, "sealtrail.key.expired");
    expect(logged).toHaveLength(1);
    expect(logged[0]!.event.actor).toEqual({ id: made.id, type: "publishable_key" });
  });

  it("refuses an expiry in the past, or both forms at once", async () => {
    const { owner, tenant } = await tenantWithKeys();
    for (const body of [
      { expires_at: "2020-01-01T00:00:00Z" },
      { expires_at: new Date(Date.now() + 60_000).toISOString(), expires_in_seconds: 60 },
      { expires_in_seconds: 0 },
    ]) {
      const res = await api(`/v1/tenants/${tenant}/keys`, json({ name: "k", permissions: ["read"], ...body }, bearer(owner)));
      expect(res.status).toBe(400);
      expect(await code(res)).toBe("invalid_key_request");
    }
  });
});

describe("keys scoped to a view", () => {
  async function scoped() {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const seqs: Record<string, number> = {};
    for (const [name, action, target] of [
      ["login1", "user.login", "app-1"],
      ["open1", "doc.open", "d1"],
      ["login2", "user.login", "app-1"],
      ["open2", "doc.open", "d2"],
      ["open3", "doc.opened", "d3"],
      ["docs", "docs.read", "d4"],
    ] as const) {
      const res = await postEvent(tenant, appendKey, event({ action, targets: [{ type: "doc", id: target }] }));
      seqs[name] = ((await res.json()) as { seq: number }).seq;
    }
    const made = await makeKey(owner, tenant, { permissions: ["read", "verify"], view: { action_prefix: "doc" } });
    await mirrored(tenant);
    return { owner, tenant, seqs, key: made.key, id: made.id };
  }

  it("list and export see only the view, and paging through it stays exact", async () => {
    const { tenant, seqs, key, owner, id } = await scoped();
    const h = { "x-api-key": key };
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const res = await api(`/v1/tenants/${tenant}/events?limit=1${cursor ? `&cursor=${cursor}` : ""}`, { headers: h });
      expect(res.status).toBe(200);
      const page = (await res.json()) as { events: { seq: number; event: { action: string } }[]; next_cursor: string | null };
      seen.push(...page.events.map((e) => e.seq));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([seqs.open1, seqs.open2, seqs.open3]);
    // A filter within the view narrows further; one outside it finds nothing.
    const narrowed = (await (await api(`/v1/tenants/${tenant}/events?target=d2`, { headers: h })).json()) as { events: { seq: number }[] };
    expect(narrowed.events.map((e) => e.seq)).toEqual([seqs.open2]);
    const outside = (await (await api(`/v1/tenants/${tenant}/events?action=user.login`, { headers: h })).json()) as { events: unknown[] };
    expect(outside.events).toEqual([]);
    const exported = await (await api(`/v1/tenants/${tenant}/export?format=jsonl`, { headers: h })).text();
    const lines = exported
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { seq: number });
    expect(lines.map((l) => l.seq)).toEqual([seqs.open1, seqs.open2, seqs.open3]);
    // Each use is logged with the view, and so was the key's creation.
    const listed = await entriesOf(owner, tenant, "sealtrail.events.listed");
    const byKey = listed.filter((e) => (e.event.actor as { id: string }).id === id);
    expect(byKey.length).toBeGreaterThan(0);
    for (const e of byKey) expect((e.event.metadata as { view: unknown }).view).toEqual({ action_prefix: "doc" });
    const exportedLog = (await entriesOf(owner, tenant, "sealtrail.events.exported")).filter(
      (e) => (e.event.actor as { id: string }).id === id,
    );
    expect((exportedLog[0]!.event.metadata as { view: unknown }).view).toEqual({ action_prefix: "doc" });
    const created = (await entriesOf(owner, tenant, "sealtrail.key.created")).find(
      (e) => (e.event.targets as { id: string }[])[0]!.id === id,
    );
    expect((created!.event.metadata as { view: unknown }).view).toEqual({ action_prefix: "doc" });
  });

  it("an entry, its proofs and entry tiles outside the view are refused with 403 outside_view", async () => {
    const { tenant, seqs, key } = await scoped();
    const h = { "x-api-key": key };
    expect((await api(`/v1/tenants/${tenant}/events/${seqs.open1}`, { headers: h })).status).toBe(200);
    expect((await api(`/v1/tenants/${tenant}/events/${seqs.open1}/proof`, { headers: h })).status).toBe(200);
    for (const path of [
      `/v1/tenants/${tenant}/events/${seqs.login1}`,
      `/v1/tenants/${tenant}/events/${seqs.login1}/proof`,
      `/v1/tenants/${tenant}/events/${seqs.docs}/proof`,
      `/v1/tenants/${tenant}/proof/inclusion?index=${seqs.login2}&size=${seqs.docs! + 1}`,
      `/logs/${tenant}/tile/entries/000.p/${seqs.docs! + 1}`,
    ]) {
      const res = await api(path, { headers: h });
      expect(res.status, path).toBe(403);
      expect(await code(res), path).toBe("outside_view");
    }
  });

  it("a time window on received_at narrows the list (stored times survive better-auth's metadata)", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const res = await postEvent(tenant, appendKey, event());
    const { seq } = (await res.json()) as { seq: number };
    const hour = 3_600_000;
    const past = await makeKey(owner, tenant, {
      permissions: ["read"],
      view: { received_from: new Date(Date.now() - hour).toISOString() },
    });
    const future = await makeKey(owner, tenant, {
      permissions: ["read"],
      view: { received_from: new Date(Date.now() + hour).toISOString() },
    });
    await mirrored(tenant);
    const seqs = async (key: string) =>
      (
        (await (await api(`/v1/tenants/${tenant}/events?action=user.login`, { headers: { "x-api-key": key } })).json()) as {
          events: { seq: number }[];
        }
      ).events.map((e) => e.seq);
    expect(await seqs(past.key)).toEqual([seq]);
    expect(await seqs(future.key)).toEqual([]);
    const one = await api(`/v1/tenants/${tenant}/events/${seq}`, { headers: { "x-api-key": future.key } });
    expect(one.status).toBe(403);
  });

  it("refuses a malformed view, a view on a publishable key, and a view on an admin key (streams read the whole log)", async () => {
    const { owner, tenant } = await tenantWithKeys();
    for (const body of [
      { permissions: ["read"], view: { action_prefix: "user.*" } },
      { permissions: ["read"], view: { nope: 1 } },
      { permissions: ["append"], allowed_origins: ["https://app.example.com"], view: { actor: "u1" } },
      { permissions: ["read", "admin"], view: { actor: "u1" } },
    ]) {
      const res = await api(`/v1/tenants/${tenant}/keys`, json({ name: "k", ...body }, bearer(owner)));
      expect(res.status).toBe(400);
      expect(await code(res)).toBe("invalid_key_request");
    }
  });
});

describe("grants of an auditor view", () => {
  it("a member uses a grant within its window (logged with its reason); after its end it is refused and the end is logged once", async () => {
    const owner = await signUp("Olive");
    const tenant = await createTenant(owner);
    const member = await signUp("Mia");
    await join(owner, tenant, member, "member");
    // A member reads but does not verify: GET /snapshots needs `verify`.
    expect((await api(`/v1/tenants/${tenant}/snapshots`, { headers: bearer(member) })).status).toBe(403);
    const res = await api(
      `/v1/tenants/${tenant}/grants`,
      json({ user_id: member.userId, view: { action_prefix: "doc" }, duration_seconds: 2, reason: "SOC 2 sample review" }, bearer(owner)),
    );
    expect(res.status, await res.clone().text()).toBe(201);
    const { grant } = (await res.json()) as { grant: { id: string; expires_at: string; permissions: string[] } };
    expect(grant.permissions).toEqual(["read", "verify"]);
    const through = await api(`/v1/tenants/${tenant}/snapshots`, { headers: bearer(member) });
    expect(through.status, await through.clone().text()).toBe(200);
    // Through the grant, reads are within its view: bundles of whole seals are refused.
    const bundle = await api(`/v1/tenants/${tenant}/snapshots/0/bundle`, { headers: bearer(member) });
    expect(bundle.status, await bundle.clone().text()).toBe(403);
    expect(await code(bundle)).toBe("outside_view");
    await sleep(Math.max(0, Date.parse(grant.expires_at) - Date.now()) + 50);
    const after = await api(`/v1/tenants/${tenant}/snapshots`, { headers: bearer(member) });
    expect(after.status).toBe(403);
    expect(await code(after)).toBe("forbidden");
    expect((await api(`/v1/tenants/${tenant}/snapshots`, { headers: bearer(member) })).status).toBe(403);
    const created = await entriesOf(owner, tenant, "sealtrail.grant.created");
    expect(created).toHaveLength(1);
    expect(created[0]!.event.actor).toEqual({ id: owner.userId, type: "user" });
    expect(created[0]!.event.metadata).toMatchObject({
      user_id: member.userId,
      view: { action_prefix: "doc" },
      reason: "SOC 2 sample review",
    });
    const used = await entriesOf(owner, tenant, "sealtrail.grant.used");
    expect(used.length).toBeGreaterThanOrEqual(1);
    expect(used[0]!.event.actor).toEqual({ id: member.userId, type: "user" });
    expect(used[0]!.event.metadata).toMatchObject({ permission: "verify", reason: "SOC 2 sample review", view: { action_prefix: "doc" } });
    const ended = await entriesOf(owner, tenant, "sealtrail.grant.ended");
    expect(ended).toHaveLength(1);
    expect(ended[0]!.event.metadata).toMatchObject({ user_id: member.userId, ended_at: grant.expires_at });
    const list = (await (await api(`/v1/tenants/${tenant}/grants`, { headers: bearer(owner) })).json()) as {
      grants: { active: boolean }[];
    };
    expect(list.grants.map((g) => g.active)).toEqual([false]);
  });

  it("a revoked grant is refused at once, and the revocation is logged", async () => {
    const owner = await signUp("Olive");
    const tenant = await createTenant(owner);
    const member = await signUp("Mia");
    await join(owner, tenant, member, "member");
    const res = await api(
      `/v1/tenants/${tenant}/grants`,
      json({ user_id: member.userId, view: {}, duration_seconds: 3600, reason: "audit" }, bearer(owner)),
    );
    const { grant } = (await res.json()) as { grant: { id: string } };
    expect((await api(`/v1/tenants/${tenant}/snapshots`, { headers: bearer(member) })).status).toBe(200);
    const revoke = await api(`/v1/tenants/${tenant}/grants/${grant.id}/revoke`, json({ reason: "done early" }, bearer(owner)));
    expect(revoke.status).toBe(200);
    expect((await api(`/v1/tenants/${tenant}/snapshots`, { headers: bearer(member) })).status).toBe(403);
    const revoked = await entriesOf(owner, tenant, "sealtrail.grant.revoked");
    expect(revoked[0]!.event.metadata).toMatchObject({ user_id: member.userId, reason: "done early" });
    // Only admins grant; the grantee is a member of the tenant.
    const byMember = await api(
      `/v1/tenants/${tenant}/grants`,
      json({ user_id: member.userId, view: {}, duration_seconds: 60, reason: "x" }, bearer(member)),
    );
    expect(byMember.status).toBe(403);
    const stranger = await signUp("Sam");
    const notMember = await api(
      `/v1/tenants/${tenant}/grants`,
      json({ user_id: stranger.userId, view: {}, duration_seconds: 60, reason: "x" }, bearer(owner)),
    );
    expect(notMember.status).toBe(404);
  });
});

describe("just-in-time elevation", () => {
  async function team() {
    const owner = await signUp("Olive");
    const tenant = await createTenant(owner);
    const admin = await signUp("Ann");
    await join(owner, tenant, admin, "admin");
    const member = await signUp("Mia");
    await join(owner, tenant, member, "member");
    return { owner, tenant, admin, member };
  }
  const request = (tenant: string, who: Session, body: Record<string, unknown>) =>
    api(`/v1/tenants/${tenant}/elevations`, json(body, bearer(who)));
  const decide = (tenant: string, who: Session, id: string, d: "approve" | "refuse", reason?: string) =>
    api(`/v1/tenants/${tenant}/elevations/${id}/${d}`, json(reason ? { reason } : {}, bearer(who)));

  it("approved by another admin, it adds the permission until its end, then is refused; each step is logged with who and why", async () => {
    const { owner, tenant, admin, member } = await team();
    expect((await api(`/v1/tenants/${tenant}/keys`, { headers: bearer(member) })).status).toBe(403);
    const asked = await request(tenant, member, { permission: "admin", duration_seconds: 2, reason: "rotate the ingest key (INC-42)" });
    expect(asked.status, await asked.clone().text()).toBe(201);
    const { elevation } = (await asked.json()) as { elevation: { id: string; status: string } };
    expect(elevation.status).toBe("requested");
    // Not in force before approval.
    expect((await api(`/v1/tenants/${tenant}/keys`, { headers: bearer(member) })).status).toBe(403);
    const approved = await decide(tenant, admin, elevation.id, "approve", "on call");
    expect(approved.status).toBe(200);
    const { elevation: live } = (await approved.json()) as { elevation: { expires_at: string; active: boolean } };
    expect(live.active).toBe(true);
    expect((await api(`/v1/tenants/${tenant}/keys`, { headers: bearer(member) })).status).toBe(200);
    await sleep(Math.max(0, Date.parse(live.expires_at) - Date.now()) + 50);
    const after = await api(`/v1/tenants/${tenant}/keys`, { headers: bearer(member) });
    expect(after.status).toBe(403);
    expect(await code(after)).toBe("forbidden");
    const actions = async (a: string) => entriesOf(owner, tenant, a);
    const [req] = await actions("sealtrail.elevation.requested");
    expect(req!.event.actor).toEqual({ id: member.userId, type: "user" });
    expect(req!.event.metadata).toMatchObject({ permission: "admin", duration_seconds: 2, reason: "rotate the ingest key (INC-42)" });
    const [ok] = await actions("sealtrail.elevation.approved");
    expect(ok!.event.actor).toEqual({ id: admin.userId, type: "user" });
    expect(ok!.event.metadata).toMatchObject({ user_id: member.userId, permission: "admin", reason: "on call" });
    const used = await actions("sealtrail.elevation.used");
    expect(used).toHaveLength(1);
    expect(used[0]!.event.metadata).toMatchObject({ permission: "admin", reason: "rotate the ingest key (INC-42)" });
    const ended = await actions("sealtrail.elevation.ended");
    expect(ended).toHaveLength(1);
    expect(ended[0]!.event.metadata).toMatchObject({ user_id: member.userId, permission: "admin", ended_at: live.expires_at });
  });

  it("a member cannot approve their own request (403 self_approval); refusal is logged; a decided request is not decided again", async () => {
    const { owner, tenant, admin, member } = await team();
    const asked = await request(tenant, admin, { permission: "append", duration_seconds: 600, reason: "backfill" });
    const { elevation } = (await asked.json()) as { elevation: { id: string } };
    const self = await decide(tenant, admin, elevation.id, "approve");
    expect(self.status).toBe(403);
    expect(await code(self)).toBe("self_approval");
    expect((await decide(tenant, member, elevation.id, "approve")).status).toBe(403);
    const refused = await decide(tenant, owner, elevation.id, "refuse", "use the backfill key");
    expect(refused.status).toBe(200);
    const again = await decide(tenant, owner, elevation.id, "approve");
    expect(again.status).toBe(409);
    expect(await code(again)).toBe("elevation_not_pending");
    const [r] = await entriesOf(owner, tenant, "sealtrail.elevation.refused");
    expect(r!.event.actor).toEqual({ id: owner.userId, type: "user" });
    expect(r!.event.metadata).toMatchObject({ user_id: admin.userId, reason: "use the backfill key", requested_reason: "backfill" });
    expect(await entriesOf(owner, tenant, "sealtrail.elevation.approved")).toEqual([]);
  });

  it("a duration above the tenant maximum (setting max_elevation_seconds, default 4 h) is refused", async () => {
    const { owner, tenant, member } = await team();
    const res = await request(tenant, member, { permission: "verify", duration_seconds: 4 * 3600 + 1, reason: "x" });
    expect(res.status).toBe(400);
    expect(await code(res)).toBe("elevation_too_long");
    expect((await request(tenant, member, { permission: "verify", duration_seconds: 4 * 3600, reason: "x" })).status).toBe(201);
    const put = await api(`/v1/tenants/${tenant}/settings`, { ...json({ max_elevation_seconds: 600 }, bearer(owner)), method: "PUT" });
    expect(put.status).toBe(200);
    const shorter = await request(tenant, member, { permission: "verify", duration_seconds: 601, reason: "x" });
    expect(shorter.status).toBe(400);
    expect(((await shorter.json()) as { error: { message: string } }).error.message).toContain("600 seconds");
    expect(await entriesOf(owner, tenant, "sealtrail.elevation.requested")).toHaveLength(1);
  });
});
