/**
 * Which key signs a tenant's checkpoints. Keys are derived (src/core/keys.ts) from the
 * deployment secret SEALTRAIL_SIGNING_SECRET, the tenant's origin and a key version;
 * SEALTRAIL_KEY_VERSION names the version that signs now, and every version from 1 up to it
 * stays published so that older checkpoints keep verifying.
 */
import { utf8 } from "../core/bytes";
import { checkpointSigner, checkpointVerifierKey } from "../core/keys";
import type { NoteSigner } from "../core/note";

export type SigningEnv = Pick<Env, "SEALTRAIL_SIGNING_SECRET" | "SEALTRAIL_ORIGIN" | "SEALTRAIL_KEY_VERSION">;

/** c2sp.org/tlog-checkpoint origin of a tenant's log: "<SEALTRAIL_ORIGIN>/<tenant id>". */
export const tenantOrigin = (env: SigningEnv, tenant: string): string => `${env.SEALTRAIL_ORIGIN}/${tenant}`;

export function currentKeyVersion(env: SigningEnv): number {
  const v = Number(env.SEALTRAIL_KEY_VERSION);
  if (!Number.isSafeInteger(v) || v < 1) throw new Error("SEALTRAIL_KEY_VERSION must be a whole number >= 1");
  return v;
}

export const currentSigner = (env: SigningEnv, tenant: string): NoteSigner =>
  checkpointSigner(utf8(env.SEALTRAIL_SIGNING_SECRET), tenantOrigin(env, tenant), currentKeyVersion(env));

export interface PublishedKey {
  tenant: string;
  origin: string;
  version: number;
  verifier_key: string;
}

/** How many derived verifier keys one isolate keeps (one per tenant and key version). */
export const VERIFIER_KEY_CACHE_MAX = 4096;

/**
 * Derived verifier keys, per isolate. Deriving one costs an HKDF and an Ed25519 scalar
 * multiplication, and GET /v1/keys is public (and asks for every version each time): a cache
 * keeps a flood of requests from costing a derivation each. Keyed by origin (which names the
 * tenant) and key version; emptied when the signing secret differs from the one its keys came
 * from; bounded, least recently used dropped first.
 */
export class VerifierKeyCache {
  readonly #keys = new Map<string, string>();
  #secret: string | undefined;

  constructor(readonly max = VERIFIER_KEY_CACHE_MAX) {}

  get(secret: string, origin: string, version: number): string {
    if (secret !== this.#secret) {
      this.#keys.clear();
      this.#secret = secret;
    }
    const id = `${origin}\n${version}`;
    let key = this.#keys.get(id);
    if (key === undefined) {
      key = checkpointVerifierKey(utf8(secret), origin, version);
      if (this.#keys.size >= this.max) this.#keys.delete(this.#keys.keys().next().value!);
    } else {
      this.#keys.delete(id);
    }
    this.#keys.set(id, key);
    return key;
  }

  get size(): number {
    return this.#keys.size;
  }
}

export const verifierKeys = new VerifierKeyCache();

/** Every verifier key of the tenant, oldest version first. */
export function publishedKeys(env: SigningEnv, tenant: string): PublishedKey[] {
  const origin = tenantOrigin(env, tenant);
  return Array.from({ length: currentKeyVersion(env) }, (_, i) => ({
    tenant,
    origin,
    version: i + 1,
    verifier_key: verifierKeys.get(env.SEALTRAIL_SIGNING_SECRET, origin, i + 1),
  }));
}
