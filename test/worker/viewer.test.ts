/**
 * Viewer tokens (issue #19.5): minted by a tenant's backend, signed, at most an hour, scoped to a
 * view; reads through one see only that view and are logged as the token's; anything else is
 * refused. The viewer page is framed only by the tenant's allowed origins.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signViewerToken, type ViewerClaims } from "../../src/worker/viewer-token";
import { api, bearer, entriesOf, event, mirrored, postEvent, tenantWithKeys } from "./helpers";

const json = (body: unknown, headers: Record<string, string>): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});

async function mint(tenant: string, key: string, body: unknown) {
  const res = await api(`/v1/tenants/${tenant}/viewer-tokens`, json(body, { "x-api-key": key }));
  return {
    status: res.status,
    body: (await res.json()) as { token: string; token_id: string; expires_at: string; error?: { code: string } },
  };
}

const ORG_A = { type: "organization", id: "org-a" };

/** A tenant with events for two customer organizations, and a token for org-a's slice. */
async function slices() {
  const t = await tenantWithKeys();
  for (let i = 0; i < 3; i++) {
    for (const org of ["org-a", "org-b"]) {
      const res = await postEvent(
        t.tenant,
        t.appendKey,
        event({ action: i === 2 ? "invoice.paid" : "user.login", targets: [{ type: "organization", id: org }] }),
      );
      expect(res.status).toBe(201);
    }
  }
  await mirrored(t.tenant);
  const minted = await mint(t.tenant, t.readKey, { view: { target: ORG_A }, ttl_seconds: 600 });
  expect(minted.status).toBe(201);
  return { ...t, token: minted.body.token, tokenId: minted.body.token_id };
}

type Listed = { events: { seq: number; event: { action: string; targets: { id: string }[] } }[]; next_cursor: string | null };
const orgsOf = (l: Listed) => l.events.map((e) => e.event.targets[0]!.id);

describe("viewer tokens", () => {
  it("are minted by a read key for at most an hour, in the documented format, and the minting is logged with the view and token id", async () => {
    const { owner, tenant, readKey, appendKey } = await tenantWithKeys();
    const ok = await mint(tenant, readKey, { view: { target: ORG_A }, ttl_seconds: 3600 });
    expect(ok.status).toBe(201);
    expect(ok.body.token).toMatch(/^stv1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const payload = JSON.parse(atob(ok.body.token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))) as ViewerClaims;
    expect(payload).toMatchObject({ tid: ok.body.token_id, t: tenant, view: { target: ORG_A } });
    expect(payload.exp - payload.iat).toBe(3600);
    const logged = await entriesOf(owner, tenant, "sealtrail.viewer_token.minted");
    expect(logged).toHaveLength(1);
    expect(logged[0]!.event.targets).toEqual([{ id: ok.body.token_id, type: "viewer_token" }]);
    expect(logged[0]!.event.metadata).toMatchObject({ token_id: ok.body.token_id, view: { target: ORG_A }, ttl_seconds: 3600 });

    expect((await mint(tenant, readKey, { view: {}, ttl_seconds: 3601 })).body.error?.code).toBe("invalid_viewer_token_request");
    expect((await mint(tenant, readKey, { view: { target: { id: "" } } })).body.error?.code).toBe("invalid_viewer_token_request");
    expect((await mint(tenant, readKey, { view: { tenant: "other" } })).body.error?.code).toBe("invalid_viewer_token_request");
    // An append-only key cannot mint (it cannot read).
    const refused = await mint(tenant, appendKey, { view: {} });
    expect([refused.status, refused.body.error?.code]).toEqual([403, "forbidden"]);
    expect(await entriesOf(owner, tenant, "sealtrail.viewer_token.minted")).toHaveLength(1);
  });

  it("cannot be widened: a changed payload, a changed signature, another secret's signature, or an expired token is 401", async () => {
    const { tenant, token } = await slices();
    const [, payload, sig] = token.split(".") as [string, string, string];
    const claims = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as ViewerClaims;
    const enc = (c: object) => btoa(JSON.stringify(c)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const widened = `stv1.${enc({ ...claims, view: {} })}.${sig}`;
    const longer = `stv1.${enc({ ...claims, exp: claims.exp + 86400 })}.${sig}`;
    const flipped = `stv1.${payload}.${sig[0] === "A" ? "B" : "A"}${sig.slice(1)}`;
    const foreign = await signViewerToken("another deployment's secret", { ...claims, view: {} });
    const nowS = Math.floor(Date.now() / 1000);
    const expired = await signViewerToken(env.SEALTRAIL_SIGNING_SECRET, { ...claims, iat: nowS - 120, exp: nowS - 60 });
    for (const [bad, why] of [
      [widened, "signature"],
      [longer, "signature"],
      [flipped, "signature"],
      [foreign, "signature"],
      [expired, "expired"],
      ["stv1.garbage", "malformed"],
    ] as const) {
      const res = await api(`/v1/tenants/${tenant}/events`, { headers: bearer(bad) });
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect([res.status, body.error.code], `${why}: ${bad.slice(0, 40)}`).toEqual([401, "viewer_token_invalid"]);
      if (why === "expired") expect(body.error.message).toMatch(/expired/);
    }
    // The genuine token still works.
    expect((await api(`/v1/tenants/${tenant}/events`, { headers: bearer(token) })).status).toBe(200);
  });

  it("cannot be minted wider than the minting key's own view: a key scoped to org-a mints org-a (or narrower), never more", async () => {
    const t = await tenantWithKeys();
    const made = await api(
      `/v1/tenants/${t.tenant}/keys`,
      json({ name: "org-a backend", permissions: ["read"], view: { target: ORG_A } }, bearer(t.owner)),
    );
    expect(made.status).toBe(201);
    const scoped = ((await made.json()) as { key: string }).key;
    for (const view of [{}, { target: { type: "organization", id: "org-b" } }, { action_prefix: "invoice" }]) {
      const wider = await mint(t.tenant, scoped, { view, ttl_seconds: 600 });
      expect([wider.status, wider.body.error?.code], JSON.stringify(view)).toEqual([403, "view_widened"]);
    }
    expect((await mint(t.tenant, scoped, { view: { target: ORG_A }, ttl_seconds: 600 })).status).toBe(201);
    const narrower = await mint(t.tenant, scoped, { view: { target: ORG_A, action_prefix: "invoice" }, ttl_seconds: 600 });
    expect(narrower.status).toBe(201);
  });

  it("never outlives the key that mints it: a key expiring in a minute mints tokens that expire with it", async () => {
    const t = await tenantWithKeys();
    const made = await api(
      `/v1/tenants/${t.tenant}/keys`,
      json({ name: "short-lived backend", permissions: ["read"], expires_in_seconds: 60 }, bearer(t.owner)),
    );
    expect(made.status).toBe(201);
    const { key, expires_at } = (await made.json()) as { key: string; expires_at: string };
    const minted = await mint(t.tenant, key, { view: { target: ORG_A }, ttl_seconds: 3600 });
    expect(minted.status).toBe(201);
    expect(Date.parse(minted.body.expires_at)).toBeLessThanOrEqual(Date.parse(expires_at));
    expect(Date.parse(minted.body.expires_at)).toBeGreaterThan(Date.now());
  });

  it("opens only reads of entries, proofs, exports and checkpoints of its own tenant: writes, settings, stats, keys and minting are refused", async () => {
    const { tenant, token } = await slices();
    const other = await tenantWithKeys();
    const refusedWith = async (path: string, init: RequestInit = {}) => {
      const res = await api(path, { ...init, headers: { ...(init.headers as Record<string, string>), ...bearer(token) } });
      return [res.status, ((await res.json()) as { error: { code: string } }).error.code];
    };
    const t = `/v1/tenants/${tenant}`;
    expect(await refusedWith(`${t}/events`, json(event(), {}))).toEqual([403, "viewer_token_route"]);
    expect(await refusedWith(`${t}/viewer-tokens`, json({ view: {} }, {}))).toEqual([403, "viewer_token_route"]);
    for (const path of ["/settings", "/stats", "/keys", "/holds", "/snapshots", "/sources", "/verify"]) {
      expect(await refusedWith(`${t}${path}`), path).toEqual([403, "viewer_token_route"]);
    }
    expect(await refusedWith(`${t}/settings`, { method: "PUT", body: "{}", headers: { "content-type": "application/json" } })).toEqual([
      403,
      "viewer_token_route",
    ]);
    expect(await refusedWith(`/v1/tenants/${other.tenant}/events`)).toEqual([404, "not_found"]);
    // Tiles would hand out whole entry bundles, outside any view: refused too.
    expect(await refusedWith(`/logs/${tenant}/tile/entries/000.p/1`)).toEqual([403, "viewer_token_route"]);
    expect(await refusedWith(`/logs/${tenant}/checkpoint`)).toEqual([403, "viewer_token_route"]);
  });

  it("sees only its view: list (filters intersected, paging), export, entry, proofs; other entries are 403 outside_view", async () => {
    const { tenant, token, readKey } = await slices();
    const t = `/v1/tenants/${tenant}`;
    const list = async (q: string) => (await (await api(`${t}/events?${q}`, { headers: bearer(token) })).json()) as Listed;
    const all = await list("limit=100");
    expect(orgsOf(all)).toEqual(["org-a", "org-a", "org-a"]);
    // A filter for the other organization finds nothing; an action filter is intersected with the view.
    expect((await list("target=org-b")).events).toEqual([]);
    expect(orgsOf(await list("action=invoice.*"))).toEqual(["org-a"]);
    // Paging stays within the view (narrowed in SQL, not after a page is read).
    const first = await list("limit=2");
    expect(orgsOf(first)).toEqual(["org-a", "org-a"]);
    expect(orgsOf(await list(`limit=2&cursor=${first.next_cursor}`))).toEqual(["org-a"]);

    const exported = await (await api(`${t}/export?format=jsonl`, { headers: bearer(token) })).text();
    const lines = exported.trim().split("\n");
    expect(lines).toHaveLength(3);
    for (const l of lines) expect((JSON.parse(l) as { event: { targets: { id: string }[] } }).event.targets[0]!.id).toBe("org-a");

    // Entries of org-b, found with the tenant's read key.
    const full = (await (await api(`${t}/events?target=org-b`, { headers: { "x-api-key": readKey } })).json()) as Listed;
    const inside = all.events[0]!.seq;
    const outside = full.events[0]!.seq;
    const get = async (path: string) => {
      const res = await api(`${t}${path}`, { headers: bearer(token) });
      return [res.status, res.status === 200 ? "ok" : ((await res.json()) as { error: { code: string } }).error.code];
    };
    expect(await get(`/events/${inside}`)).toEqual([200, "ok"]);
    expect(await get(`/events/${inside}/proof`)).toEqual([200, "ok"]);
    expect(await get("/checkpoint")).toEqual([200, "ok"]);
    expect(await get(`/proof/inclusion?index=${inside}&size=${outside + 1}`)).toEqual([200, "ok"]);
    expect(await get(`/events/${outside}`)).toEqual([403, "outside_view"]);
    expect(await get(`/events/${outside}/proof`)).toEqual([403, "outside_view"]);
    expect(await get(`/proof/inclusion?index=${outside}&size=${outside + 1}`)).toEqual([403, "outside_view"]);
  });

  it("its reads are logged as the token's: the token id as actor, its view beside the query", async () => {
    const { owner, tenant, token, tokenId } = await slices();
    expect((await api(`/v1/tenants/${tenant}/events?action=user.login`, { headers: bearer(token) })).status).toBe(200);
    const listed = await entriesOf(owner, tenant, "sealtrail.events.listed");
    const mine = listed.filter((e) => (e.event.actor as { id: string }).id === tokenId);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.event.actor).toEqual({ id: tokenId, type: "viewer_token" });
    expect(mine[0]!.event.metadata).toMatchObject({
      query: { action: "user.login" },
      viewer: { token_id: tokenId, view: { target: ORG_A } },
    });
    expect(mine[0]!.provenance).toMatchObject({ principal_type: "viewer_token", principal_id: tokenId });
  });
});

describe("the viewer page", () => {
  it("is framed only by the tenant's allowed origins (frame-ancestors, no X-Frame-Options); with none, by nobody", async () => {
    const { owner, tenant } = await tenantWithKeys();
    const page = () => api(`/embed/viewer/${tenant}`);
    const before = await page();
    expect(before.status).toBe(200);
    expect(before.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(before.headers.get("x-frame-options")).toBe("DENY");
    const res = await api(
      `/v1/tenants/${tenant}/keys`,
      json({ name: "shop", permissions: ["append"], allowed_origins: ["https://shop.example"] }, bearer(owner)),
    );
    expect(res.status).toBe(201);
    const after = await page();
    const csp = after.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("frame-ancestors https://shop.example");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(after.headers.get("x-frame-options")).toBeNull();
    expect(await after.text()).not.toMatch(/<script>|<style>|style=/);
    // Everything else keeps refusing to be framed; an unknown tenant's page says nothing more.
    expect((await api(`/v1/tenants/${tenant}/events`, { headers: bearer(owner) })).headers.get("x-frame-options")).toBe("DENY");
    expect((await api("/embed/viewer/nope")).headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
  });
});
