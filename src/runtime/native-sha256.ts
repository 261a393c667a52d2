/**
 * The runtime's native, synchronous SHA-256 (node:crypto: BoringSSL in workerd with
 * nodejs_compat, OpenSSL in Node), installed into src/core/hash.ts at startup by both runtime
 * edges: the Worker (src/worker/index.ts) and the CLI (src/cli/main.ts). In workerd it
 * hashes an ~900-byte entry ~3× faster than @noble/hashes and is still synchronous, so it runs
 * inside transactionSync. installSha256 refuses it unless it passes SHA-256 test vectors;
 * test/core/hash-impl.test.ts proves it equal to @noble/hashes on arbitrary inputs.
 */
import { Buffer } from "node:buffer";
import * as nodeCrypto from "node:crypto";
import { concatBytes } from "../core/bytes";
import { installSha256, type Sha256 } from "../core/hash";

/** crypto.hash (Node >= 21.7): one call, no Hash object; about twice as fast for small inputs. */
const oneShot = (nodeCrypto as { hash?: (algorithm: "sha256", data: string | Uint8Array, encoding: "buffer") => Uint8Array }).hash;

const isOneByte = (p: Uint8Array | string): p is Uint8Array => typeof p !== "string" && p.length === 1;

const encoder = new TextEncoder();
/**
 * Reused input buffer for a prefix byte then a string's UTF-8 (a leaf: RFC 6962's 0x00, then the
 * entry). Encoding into it with encodeInto and hashing a view of it costs about half of handing
 * the runtime a new string (measured in workerd, issue #15); a Buffer, because workerd's Hash
 * copies any other Uint8Array into one first. Grown when a string may not fit.
 */
let scratch = Buffer.allocUnsafeSlow(4096);
const MAX_SCRATCH = 1 << 20;

/** SHA-256 of `prefix` ‖ UTF-8(`text`), through `scratch`. */
function hashPrefixed(hash: NonNullable<typeof oneShot>, prefix: number, text: string): Uint8Array {
  // A UTF-16 code unit is at most 3 UTF-8 bytes (a surrogate pair, two units, is 4).
  const need = 1 + 3 * text.length;
  if (scratch.length < need && need <= MAX_SCRATCH) scratch = Buffer.allocUnsafeSlow(Math.min(MAX_SCRATCH, 2 * need));
  const buffer = scratch.length >= need ? scratch : Buffer.allocUnsafeSlow(need); // a large input: not kept
  buffer[0] = prefix;
  const { read, written } = encoder.encodeInto(text, buffer.subarray(1));
  if (read !== text.length) throw new Error("hash input buffer too small"); // unreachable: sized above
  return hash("sha256", buffer.subarray(0, 1 + written), "buffer");
}

/** SHA-256 of the concatenated `parts` (an RFC 6962 node: 0x01 ‖ left ‖ right), through `scratch`. */
function hashBytes(hash: NonNullable<typeof oneShot>, parts: readonly Uint8Array[]): Uint8Array {
  let need = 0;
  for (const p of parts) need += p.length;
  if (need > MAX_SCRATCH) return hash("sha256", concatBytes(...parts), "buffer"); // a large input: not kept
  if (scratch.length < need) scratch = Buffer.allocUnsafeSlow(Math.min(MAX_SCRATCH, 2 * need));
  let at = 0;
  for (const p of parts) {
    scratch.set(p, at);
    at += p.length;
  }
  return hash("sha256", scratch.subarray(0, need), "buffer");
}

export const nodeSha256: Sha256 = (parts) => {
  let digest: Uint8Array;
  if (oneShot && parts.length === 2 && isOneByte(parts[0]!) && typeof parts[1] === "string") {
    digest = hashPrefixed(oneShot, parts[0][0]!, parts[1]);
  } else if (oneShot && parts.every((p): p is Uint8Array => typeof p !== "string")) {
    digest = hashBytes(oneShot, parts);
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
