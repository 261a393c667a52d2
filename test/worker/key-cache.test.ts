import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { KEY_CACHE_TTL_MS, VerifiedKeyCache, type VerifiedKey } from "../../src/worker/key-cache";
import { api, bearer, event, postEvent, tenantWithKeys } from "./helpers";

const key = (keyId: string, expiresAtMs: number | null = null): VerifiedKey => ({
  keyId,
  tenantId: "t",
  permissions: ["append"],
  expiresAtMs,
});

describe("verified-key cache (bounds)", () => {
  it("trusts a verified key for at most the TTL", () => {
    const cache = new VerifiedKeyCache(5_000);
    cache.set("d", key("k"), 1_000);
    expect(cache.get("d", 5_999)?.keyId).toBe("k");
    expect(cache.get("d", 6_000)).toBeUndefined();
  });

  it("never outlives the key's own expiry", () => {
    const cache = new VerifiedKeyCache(5_000);
    cache.set("d", key("k", 2_000), 1_000);
    expect(cache.get("d", 1_999)?.keyId).toBe("k");
    expect(cache.get("d", 2_000)).toBeUndefined();
    cache.set("e", key("k", 1_000), 1_000);
    expect(cache.get("e", 1_000)).toBeUndefined();
  });

  it("forgets a revoked key at once, and serves at most maxHits before asking again", () => {
    const cache = new VerifiedKeyCache(5_000, 2);
    cache.set("d", key("k"), 0);
    cache.evictKey("k", 0);
    expect(cache.get("d", 1)).toBeUndefined();
    cache.set("e", key("m"), 0);
    expect(cache.get("e", 1)).toBeDefined();
    expect(cache.get("e", 2)).toBeDefined();
    expect(cache.get("e", 3)).toBeUndefined();
  });

  it("does not cache a revoked key again for a TTL (a verification in flight at revocation cannot put it back)", () => {
    const cache = new VerifiedKeyCache(5_000);
    cache.evictKey("k", 1_000);
    cache.set("d", key("k"), 1_001);
    expect(cache.get("d", 1_002)).toBeUndefined();
    // After a TTL, a key with that id (verified by better-auth again) may be cached again.
    cache.set("d", key("k"), 6_000);
    expect(cache.get("d", 6_001)?.keyId).toBe("k");
  });

  it("holds a bounded number of keys", () => {
    const cache = new VerifiedKeyCache(5_000, Infinity, 3);
    for (let i = 0; i < 10; i++) cache.set(`d${i}`, key(`k${i}`), 0);
    expect(cache.size).toBe(3);
    expect(cache.get("d9", 1)).toBeDefined();
    expect(cache.get("d0", 1)).toBeUndefined();
  });
});

describe("verified-key cache (through the Worker)", () => {
  it("a key revoked through the API stops working at once, even right after it was used", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    expect((await postEvent(tenant, appendKey, event())).status).toBe(201);
    const listed = (await (await api(`/v1/tenants/${tenant}/keys`, { headers: bearer(owner) })).json()) as {
      keys: { id: string; name: string }[];
    };
    const writer = listed.keys.find((k) => k.name === "writer")!;
    expect((await api(`/v1/tenants/${tenant}/keys/${writer.id}`, { method: "DELETE", headers: bearer(owner) })).status).toBe(200);
    expect((await postEvent(tenant, appendKey, event())).status).toBe(401);
  });

  it("a key revoked elsewhere (another isolate) stops working within KEY_CACHE_TTL_MS", async () => {
    const { tenant, appendKey } = await tenantWithKeys();
    expect((await postEvent(tenant, appendKey, event())).status).toBe(201);
    // What another isolate's DELETE does: the row is gone, this isolate's cache does not know.
    await env.DB.prepare("DELETE FROM apikey WHERE reference_id = ?").bind(tenant).run();
    const revokedAt = Date.now();
    for (;;) {
      const status = (await postEvent(tenant, appendKey, event())).status;
      if (status === 401) break;
      expect(status).toBe(201);
      expect(Date.now() - revokedAt).toBeLessThan(KEY_CACHE_TTL_MS + 1_000);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(Date.now() - revokedAt).toBeLessThanOrEqual(KEY_CACHE_TTL_MS + 1_000);
  });

  it("a key for another tenant is refused from the cache as from better-auth (404)", async () => {
    const a = await tenantWithKeys();
    const b = await tenantWithKeys();
    expect((await postEvent(a.tenant, a.appendKey, event())).status).toBe(201);
    expect((await postEvent(b.tenant, a.appendKey, event())).status).toBe(404);
  });
});
