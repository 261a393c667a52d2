/** The test witnesses' keys (test/witness/server.ts), computed alike by the server and the tests. */
import { utf8 } from "../../src/core/bytes";
import { COSIGNATURE_TYPE_ED25519, COSIGNATURE_TYPE_ML_DSA_44, cosignerFromSeed, type Cosigner } from "../../src/core/cosignature";
import { sha256 } from "../../src/core/hash";

/** The test witness cosigns only logs whose origin starts with this (the tests' SEALTRAIL_ORIGIN). */
export const TEST_LOG_ORIGIN_PREFIX = "sealtrail.localhost/";

/** The witness `name`'s cosigner (deterministic): ML-DSA-44 when the name starts with "pq-", else Ed25519. */
export function witnessCosigner(name: string): Cosigner {
  const type = name.startsWith("pq-") ? COSIGNATURE_TYPE_ML_DSA_44 : COSIGNATURE_TYPE_ED25519;
  const c = cosignerFromSeed(`witness.test/${name}`, type, sha256(utf8(`test witness ${name}`)));
  if (!c.ok) throw new Error(c.error.reason);
  return c.value;
}

// inject("witnessBase") in the workerd tests: the test witness's base URL (global-setup.ts).
declare module "vitest" {
  export interface ProvidedContext {
    witnessBase: string;
  }
}
