/**
 * RFC 6962 §2.1 / RFC 9162 §2.1.1 hashing: SHA-256 with domain separation between leaves and
 * interior nodes. Synchronous (@noble/hashes) so it can run inside a Durable Object's
 * transactionSync, where no await is allowed.
 */
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { utf8 } from "./bytes";

/** A SHA-256 digest (32 bytes). */
export type Hash = Uint8Array;

export const HASH_SIZE = 32;
/** RFC 6962 §2.1: leaf hashes are SHA-256(0x00 ‖ leaf input). */
export const RFC6962_LEAF_HASH_PREFIX = 0x00;
/** RFC 6962 §2.1: interior node hashes are SHA-256(0x01 ‖ left ‖ right). */
export const RFC6962_NODE_HASH_PREFIX = 0x01;

export const sha256 = (data: Uint8Array): Hash => nobleSha256(data);

/** RFC 6962 §2.1: MTH({d(0)}) = SHA-256(0x00 ‖ d(0)). */
export function leafHash(leafInput: Uint8Array): Hash {
  const h = nobleSha256.create();
  h.update(Uint8Array.of(RFC6962_LEAF_HASH_PREFIX));
  h.update(leafInput);
  return h.digest();
}

/** RFC 6962 §2.1: SHA-256(0x01 ‖ left ‖ right). Requires two 32-byte hashes. */
export function nodeHash(left: Hash, right: Hash): Hash {
  const h = nobleSha256.create();
  h.update(Uint8Array.of(RFC6962_NODE_HASH_PREFIX));
  h.update(left);
  h.update(right);
  return h.digest();
}

/** RFC 6962 §2.1: the hash of an empty tree is SHA-256 of the empty string. */
export const EMPTY_TREE_HASH: Hash = nobleSha256(new Uint8Array(0));

/** SHA-256 of a string's UTF-8 bytes. */
export const sha256Text = (s: string): Hash => nobleSha256(utf8(s));
