/** Published verifier keys come from a bounded per-isolate cache that never serves a stale key. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { utf8 } from "../../src/core/bytes";
import { checkpointVerifierKey } from "../../src/core/keys";
import { publishedKeys, tenantOrigin, VerifierKeyCache, verifierKeys, VERIFIER_KEY_CACHE_MAX } from "../../src/durable/checkpoint-keys";

const derive = (secret: string, origin: string, version: number) => checkpointVerifierKey(utf8(secret), origin, version);
const OTHER_SECRET = "another-signing-secret-0123456789abcdef0123456789";

describe("published verifier keys", () => {
  it("are the derived keys of every version, whatever the cache saw before", () => {
    const tenant = `t${crypto.randomUUID().replaceAll("-", "")}`;
    const origin = tenantOrigin(env, tenant);
    const v1 = publishedKeys(env, tenant);
    expect(v1.map((k) => k.verifier_key)).toEqual([derive(env.SEALTRAIL_SIGNING_SECRET, origin, 1)]);
    expect(publishedKeys(env, tenant)).toEqual(v1);
    // A key rotation publishes the new version next to the old one.
    const rotated = publishedKeys({ ...env, SEALTRAIL_KEY_VERSION: "3" }, tenant).map((k) => [k.version, k.verifier_key]);
    expect(rotated).toEqual([1, 2, 3].map((v) => [v, derive(env.SEALTRAIL_SIGNING_SECRET, origin, v)]));
    // Another signing secret means other keys: none derived from the first one is served.
    const other = publishedKeys({ ...env, SEALTRAIL_SIGNING_SECRET: OTHER_SECRET }, tenant);
    expect(other.map((k) => k.verifier_key)).toEqual([derive(OTHER_SECRET, origin, 1)]);
    expect(other[0]!.verifier_key).not.toBe(v1[0]!.verifier_key);
    expect(publishedKeys(env, tenant)).toEqual(v1);
    expect(verifierKeys.size).toBeLessThanOrEqual(VERIFIER_KEY_CACHE_MAX);
  });

  it("the cache is bounded, and serves the derived key whatever it dropped", () => {
    const secret = env.SEALTRAIL_SIGNING_SECRET;
    const cache = new VerifierKeyCache(3);
    const origins = ["sealtrail.test/a", "sealtrail.test/b", "sealtrail.test/c", "sealtrail.test/d"];
    for (const o of origins.slice(0, 3)) expect(cache.get(secret, o, 1)).toBe(derive(secret, o, 1));
    expect(cache.get(secret, origins[0]!, 1)).toBe(derive(secret, origins[0]!, 1));
    expect(cache.get(secret, origins[3]!, 1)).toBe(derive(secret, origins[3]!, 1));
    expect(cache.size).toBe(3);
    for (const o of origins) expect(cache.get(secret, o, 1)).toBe(derive(secret, o, 1));
    for (let i = 0; i < 20; i++) cache.get(secret, "sealtrail.test/many", i + 1);
    expect(cache.size).toBe(3);
  });
});
