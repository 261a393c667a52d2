/**
 * Per-tenant checkpoint keys (docs/design.md "Checkpoints and keys": derived from one deployment secret).
 * seed = HKDF-SHA256 (RFC 5869) with IKM = the deployment secret, salt = CHECKPOINT_KEY_SALT
 * and info = "<origin>\n<version>"; the seed is an Ed25519 private key (RFC 8032 §5.1.5).
 * A new version is a new key for the same origin: older checkpoints keep verifying with the
 * older, still published, verifier keys.
 */
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { utf8 } from "./bytes";
import { ed25519PublicKey, ed25519Signer, isValidKeyName, verifierKeyText, type NoteSigner } from "./note";

export const CHECKPOINT_KEY_SALT = "sealtrail checkpoint key";
const SEED_SIZE = 32;

/** Requires a secret of at least 32 bytes, a valid key name as origin and version >= 1. */
export function checkpointSeed(secret: Uint8Array, origin: string, version: number): Uint8Array {
  if (secret.length < 32) throw new Error("the signing secret must be at least 32 bytes");
  if (!isValidKeyName(origin)) throw new Error(`origin ${JSON.stringify(origin)} is not a valid key name`);
  if (!Number.isSafeInteger(version) || version < 1) throw new Error("key versions start at 1");
  return hkdf(sha256, secret, utf8(CHECKPOINT_KEY_SALT), utf8(`${origin}\n${version}`), SEED_SIZE);
}

export const checkpointSigner = (secret: Uint8Array, origin: string, version: number): NoteSigner =>
  ed25519Signer(origin, checkpointSeed(secret, origin, version));

export const checkpointVerifierKey = (secret: Uint8Array, origin: string, version: number): string =>
  verifierKeyText(origin, ed25519PublicKey(checkpointSeed(secret, origin, version)));
