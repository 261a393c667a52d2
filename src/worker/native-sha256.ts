/**
 * The runtime's native, synchronous SHA-256 (node:crypto: BoringSSL in workerd with
 * nodejs_compat, OpenSSL in Node), installed into src/core/hash.ts at startup. In workerd it
 * hashes an ~900-byte entry ~3× faster than @noble/hashes and is still synchronous, so it runs
 * inside transactionSync. installSha256 refuses it unless it passes SHA-256 test vectors;
 * test/core/hash-impl.test.ts proves it equal to @noble/hashes on arbitrary inputs.
 */
import { createHash } from "node:crypto";
import { installSha256, type Sha256 } from "../core/hash";

export const nodeSha256: Sha256 = (parts) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  // A copy as a plain Uint8Array: a Buffer may be a view into a shared pool.
  return new Uint8Array(h.digest());
};

/** Installs node:crypto's SHA-256; false (noble stays) if the runtime's does not pass the vectors. */
export const useNativeSha256 = (): boolean => installSha256(nodeSha256);
