/**
 * The runtime's native, synchronous SHA-256 (node:crypto: BoringSSL in workerd with
 * nodejs_compat, OpenSSL in Node), installed into src/core/hash.ts at startup by both runtime
 * edges: the Worker (src/worker/index.ts) and the CLI (src/cli/main.ts). In workerd it
 * hashes an ~900-byte entry ~3× faster than @noble/hashes and is still synchronous, so it runs
 * inside transactionSync. installSha256 refuses it unless it passes SHA-256 test vectors;
 * test/core/hash-impl.test.ts proves it equal to @noble/hashes on arbitrary inputs.
 */
import * as nodeCrypto from "node:crypto";
import { concatBytes } from "../core/bytes";
import { installSha256, type Sha256 } from "../core/hash";

/** crypto.hash (Node >= 21.7): one call, no Hash object; about twice as fast for small inputs. */
const oneShot = (nodeCrypto as { hash?: (algorithm: "sha256", data: string | Uint8Array, encoding: "buffer") => Uint8Array }).hash;

const isAsciiByte = (p: Uint8Array | string): p is Uint8Array => typeof p !== "string" && p.length === 1 && p[0]! < 0x80;

export const nodeSha256: Sha256 = (parts) => {
  let digest: Uint8Array;
  if (oneShot && parts.length === 2 && isAsciiByte(parts[0]!) && typeof parts[1] === "string") {
    // A one-byte ASCII prefix (RFC 6962's 0x00 / 0x01) is the same byte as a one-character string.
    digest = oneShot("sha256", String.fromCharCode(parts[0][0]!) + parts[1], "buffer");
  } else if (oneShot && parts.every((p): p is Uint8Array => typeof p !== "string")) {
    digest = oneShot("sha256", concatBytes(...parts), "buffer");
  } else {
    const h = nodeCrypto.createHash("sha256");
    for (const p of parts) h.update(p);
    digest = h.digest();
  }
  // A copy as a plain Uint8Array: a Buffer may be a view into a shared pool.
  return new Uint8Array(digest);
};

/** Installs node:crypto's SHA-256; false (noble stays) if the runtime's does not pass the vectors. */
export const useNativeSha256 = (): boolean => installSha256(nodeSha256);
