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

/** Every verifier key of the tenant, oldest version first. */
export function publishedKeys(env: SigningEnv, tenant: string): PublishedKey[] {
  const origin = tenantOrigin(env, tenant);
  const secret = utf8(env.SEALTRAIL_SIGNING_SECRET);
  return Array.from({ length: currentKeyVersion(env) }, (_, i) => ({
    tenant,
    origin,
    version: i + 1,
    verifier_key: checkpointVerifierKey(secret, origin, i + 1),
  }));
}
