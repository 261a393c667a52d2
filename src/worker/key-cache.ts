/**
 * A short-lived, in-isolate cache of verified secret API keys (issue #8). Verifying a key
 * through better-auth costs D1 reads and a D1 write (`last_request`, rate-limit counters) on
 * every request, which serialized single-event ingest at ~140 requests/s. A key verified once
 * is trusted again, in the same isolate, for at most KEY_CACHE_TTL_MS.
 *
 * Security bounds (tested in test/worker/key-cache.test.ts):
 * - Entries are keyed by the SHA-256 of the key, never the key itself.
 * - Revocation through DELETE /v1/tenants/:t/keys/:id, or because the key's creator left the
 *   tenant or was removed (routes/keys.ts `revokeKeysCreatedBy`), evicts the key in that isolate
 *   at once, and for KEY_CACHE_TTL_MS refuses to cache it again (a verification that was in
 *   flight when the key was deleted cannot put it back); in every other isolate a revoked key
 *   stops working within KEY_CACHE_TTL_MS. better-auth's own /api/auth/api-key routes, which
 *   would change keys behind this cache, are refused (auth-routes.ts).
 * - A key's own expiry is honoured exactly (an entry never outlives `expiresAt`).
 * - Only secret keys are cached. Publishable keys (copied from web pages, with a low rate limit)
 *   are verified by better-auth on every request, so their limit holds exactly.
 * - Rate limits of secret keys become per isolate: a cached entry serves at most `maxHits`
 *   requests (the limit's share of one TTL) before better-auth verifies and counts the key again,
 *   so each isolate may pass up to about the configured rate, and N isolates about N times it.
 *   Secret keys' limit (API_KEY_RATE_LIMIT) is a guard against runaway clients, not a quota.
 *   better-auth's `last_request` is updated on verifications only (at least once per TTL while a
 *   key is in use). Keys with a `remaining` allowance are not used by Sealtrail; caching would
 *   not count them.
 */
import type { View } from "../core/views";
import type { Permission } from "./permissions";

/** How long a verified secret key is trusted without asking better-auth (and D1) again. */
export const KEY_CACHE_TTL_MS = 5_000;
/** Bound on memory: at most this many keys are cached per isolate (oldest dropped first). */
export const KEY_CACHE_MAX_KEYS = 1_000;

export interface VerifiedKey {
  keyId: string;
  tenantId: string;
  permissions: readonly Permission[];
  /** The key's own expiry (ms since the epoch), if it has one. */
  expiresAtMs: number | null;
  /** The view its reads are narrowed to (absent: the whole log). */
  view?: View;
}

interface Entry {
  key: VerifiedKey;
  validUntilMs: number;
  hitsLeft: number;
}

export class VerifiedKeyCache {
  readonly #entries = new Map<string, Entry>();
  /** Keys revoked in this isolate, by id: not cached again until the time given. */
  readonly #revoked = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #maxHits: number;
  readonly #maxKeys: number;

  constructor(ttlMs = KEY_CACHE_TTL_MS, maxHits = Infinity, maxKeys = KEY_CACHE_MAX_KEYS) {
    this.#ttlMs = ttlMs;
    this.#maxHits = maxHits;
    this.#maxKeys = maxKeys;
  }

  /** The verified key for this digest, if it was verified less than the TTL ago and has hits left. */
  get(digest: string, nowMs: number): VerifiedKey | undefined {
    const e = this.#entries.get(digest);
    if (!e) return undefined;
    if (nowMs >= e.validUntilMs || e.hitsLeft <= 0) {
      this.#entries.delete(digest);
      return undefined;
    }
    e.hitsLeft -= 1;
    return e.key;
  }

  /** Records a key better-auth has just verified. */
  set(digest: string, key: VerifiedKey, nowMs: number): void {
    const validUntilMs = Math.min(nowMs + this.#ttlMs, key.expiresAtMs ?? Infinity);
    if (validUntilMs <= nowMs) return;
    for (const [id, until] of this.#revoked) if (until <= nowMs) this.#revoked.delete(id);
    if (this.#revoked.has(key.keyId)) return;
    this.#entries.delete(digest);
    if (this.#entries.size >= this.#maxKeys) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(digest, { key, validUntilMs, hitsLeft: this.#maxHits });
  }

  /** Forgets a key (by its id) at once, and refuses to cache it for a TTL: called when it is revoked. */
  evictKey(keyId: string, nowMs: number): void {
    for (const [digest, e] of this.#entries) if (e.key.keyId === keyId) this.#entries.delete(digest);
    // Bounded like the entries: revocations older than a TTL are dropped on the next set().
    if (this.#revoked.size >= this.#maxKeys) this.#revoked.delete(this.#revoked.keys().next().value!);
    this.#revoked.set(keyId, nowMs + this.#ttlMs);
  }

  get size(): number {
    return this.#entries.size;
  }
}
