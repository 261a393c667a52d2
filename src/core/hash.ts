/**
 * RFC 6962 §2.1 / RFC 9162 §2.1.1 hashing: SHA-256 with domain separation between leaves and
 * interior nodes. Synchronous, so it can run inside a Durable Object's transactionSync, where
 * no await is allowed.
 *
 * The default SHA-256 is @noble/hashes (pure JavaScript: runs in workerd, Node and browsers).
 * A runtime edge may install a faster synchronous native SHA-256 (src/runtime/native-sha256.ts
 * installs node:crypto's in workerd, src/cli/main.ts in Node: ~3× faster per entry in workerd,
 * issue #8). installSha256 checks it against FIPS 180-4 test vectors before using it, and
 * test/core/hash-impl.test.ts proves it equal to @noble/hashes on arbitrary inputs.
 */
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { toHex, utf8 } from "./bytes";

/** A SHA-256 digest (32 bytes). */
export type Hash = Uint8Array;

export const HASH_SIZE = 32;
/** RFC 6962 §2.1: leaf hashes are SHA-256(0x00 ‖ leaf input). */
export const RFC6962_LEAF_HASH_PREFIX = 0x00;
/** RFC 6962 §2.1: interior node hashes are SHA-256(0x01 ‖ left ‖ right). */
export const RFC6962_NODE_HASH_PREFIX = 0x01;

/** SHA-256 of the concatenation of `parts` (strings as UTF-8). Must be synchronous. */
export type Sha256 = (parts: readonly (Uint8Array | string)[]) => Hash;

export const nobleSha256Parts: Sha256 = (parts) => {
  const h = nobleSha256.create();
  for (const p of parts) h.update(typeof p === "string" ? utf8(p) : p);
  return h.digest();
};

let impl: Sha256 = nobleSha256Parts;

/** FIPS 180-4 examples (SHA-256 of "abc", and of the empty string). */
const KNOWN: readonly [string, string][] = [
  ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
];

/**
 * Inputs in every shape the log hashes: a leaf prefix byte then text (non-ASCII included, as
 * entries may hold any Unicode), a node prefix and two 32-byte hashes, bytes alone, text alone.
 * A candidate must give @noble/hashes' answer on each (so a runtime that encoded strings as
 * Latin-1, say, is refused).
 */
const SHAPES: readonly (readonly (Uint8Array | string)[])[] = [
  [Uint8Array.of(RFC6962_LEAF_HASH_PREFIX), '{"name":"Zoë ☃ 😀 \u0000"}'],
  [Uint8Array.of(RFC6962_LEAF_HASH_PREFIX), ""],
  [Uint8Array.of(RFC6962_NODE_HASH_PREFIX), new Uint8Array(32).fill(0xab), new Uint8Array(32).fill(0x01)],
  [new Uint8Array(1000).map((_, i) => i & 0xff)],
  ["é☃😀", "plain"],
];

/**
 * Uses `fast` for every hash from now on, if it computes SHA-256 (checked on FIPS 180-4 known
 * answers, given as bytes and as split strings, and against @noble/hashes on every input shape
 * the log uses); otherwise keeps the current one and returns false.
 */
export function installSha256(fast: Sha256): boolean {
  for (const [input, want] of KNOWN) {
    if (toHex(fast([utf8(input)])) !== want || toHex(fast([input.slice(0, 1), input.slice(1)])) !== want) return false;
  }
  for (const parts of SHAPES) if (toHex(fast(parts)) !== toHex(nobleSha256Parts(parts))) return false;
  impl = fast;
  return true;
}

/** Back to @noble/hashes (for tests comparing the two). */
export function resetSha256(): void {
  impl = nobleSha256Parts;
}

export const sha256 = (data: Uint8Array): Hash => impl([data]);

const LEAF_PREFIX = Uint8Array.of(RFC6962_LEAF_HASH_PREFIX);
const NODE_PREFIX = Uint8Array.of(RFC6962_NODE_HASH_PREFIX);

/** RFC 6962 §2.1: MTH({d(0)}) = SHA-256(0x00 ‖ d(0)). */
export function leafHash(leafInput: Uint8Array): Hash {
  return impl([LEAF_PREFIX, leafInput]);
}

/** RFC 6962 §2.1 leaf hash of a string's UTF-8 bytes (SHA-256(0x00 ‖ UTF-8(text))). */
export function leafHashText(text: string): Hash {
  return impl([LEAF_PREFIX, text]);
}

/** RFC 6962 §2.1: SHA-256(0x01 ‖ left ‖ right). Requires two 32-byte hashes. */
export function nodeHash(left: Hash, right: Hash): Hash {
  return impl([NODE_PREFIX, left, right]);
}

/** RFC 6962 §2.1: the hash of an empty tree is SHA-256 of the empty string. */
export const EMPTY_TREE_HASH: Hash = nobleSha256(new Uint8Array(0));

/** SHA-256 of a string's UTF-8 bytes. */
export const sha256Text = (s: string): Hash => impl([s]);

/** SHA-256 of a string's UTF-8 bytes, as lowercase hex (how secrets' digests are kept and compared). */
export const sha256Hex = (s: string): string => toHex(impl([s]));
