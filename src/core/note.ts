/**
 * c2sp.org/signed-note: a text and one or more signature lines, with Ed25519 keys named and
 * identified by a 4-byte key ID. Byte-compatible with golang.org/x/mod/sumdb/note.
 *
 * Note = text (non-empty, ends in "\n") ‖ "\n" ‖ signature lines, each
 * "— <key name> <base64(key ID ‖ signature)>\n" (U+2014 EM DASH, U+0020 SPACE).
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { concatBytes, fromBase64, toBase64, utf8 } from "./bytes";
import { sha256 } from "./hash";
import { err, ok, type Result } from "./result";

/** c2sp.org/signed-note "Signature types": 0x01 is Ed25519. */
export const SIGNATURE_TYPE_ED25519 = 0x01;
/** c2sp.org/signed-note: each signature line starts with U+2014 and a space. */
export const SIGNATURE_LINE_PREFIX = "\u2014 ";
/** As golang.org/x/mod/sumdb/note: more signatures than this make a note malformed. */
export const MAX_SIGNATURES = 100;
const ED25519_KEY_SIZE = 32;
const ED25519_SIGNATURE_SIZE = 64;

export type NoteError =
  | { reason: "malformed_note"; detail: string }
  | { reason: "malformed_key"; detail: string }
  | { reason: "unknown_algorithm"; got: number }
  | { reason: "key_id_mismatch"; expected: string; got: string }
  | { reason: "invalid_signature"; name: string; keyId: string }
  | { reason: "no_verified_signature"; names: string[] };

export interface NoteSigner {
  name: string;
  keyId: number;
  sign(message: Uint8Array): Uint8Array;
}

export interface NoteVerifier {
  name: string;
  keyId: number;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

export interface NoteSignature {
  name: string;
  keyId: number;
  base64: string;
}

export interface OpenedNote {
  text: string;
  verified: NoteSignature[];
  /** Signatures by keys the caller does not know: ignored, as the spec requires. */
  unverified: NoteSignature[];
}

/** c2sp.org/signed-note: a key name is non-empty, with no Unicode spaces and no "+". */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && name.isWellFormed() && !/[\s+]/u.test(name);
}

/** Key ID: the first 4 bytes of SHA-256(name ‖ 0x0A ‖ signature type ‖ public key), big-endian. */
export function keyId(name: string, typedPublicKey: Uint8Array): number {
  const h = sha256(concatBytes(utf8(name), Uint8Array.of(0x0a), typedPublicKey));
  return ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
}

export const keyIdHex = (id: number) => id.toString(16).padStart(8, "0");

/** An Ed25519 signer from a 32-byte seed (RFC 8032 §5.1.5 private key). */
export function ed25519Signer(name: string, seed: Uint8Array): NoteSigner {
  const publicKey = ed25519.getPublicKey(seed);
  return {
    name,
    keyId: keyId(name, concatBytes(Uint8Array.of(SIGNATURE_TYPE_ED25519), publicKey)),
    sign: (message) => ed25519.sign(message, seed),
  };
}

export function ed25519Verifier(name: string, publicKey: Uint8Array): NoteVerifier {
  return {
    name,
    keyId: keyId(name, concatBytes(Uint8Array.of(SIGNATURE_TYPE_ED25519), publicKey)),
    // RFC 8032 verification (not ZIP 215), as Go's crypto/ed25519.
    verify: (message, signature) =>
      signature.length === ED25519_SIGNATURE_SIZE && ed25519.verify(signature, message, publicKey, { zip215: false }),
  };
}

/** Verifier key text: "<name>+<hex key ID>+<base64(0x01 ‖ public key)>". */
export function verifierKeyText(name: string, publicKey: Uint8Array): string {
  const typed = concatBytes(Uint8Array.of(SIGNATURE_TYPE_ED25519), publicKey);
  return `${name}+${keyIdHex(keyId(name, typed))}+${toBase64(typed)}`;
}

export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(seed);
}

/** Private key text: "PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 ‖ seed)>". */
export function signerKeyText(name: string, seed: Uint8Array): string {
  const signer = ed25519Signer(name, seed);
  return `PRIVATE+KEY+${name}+${keyIdHex(signer.keyId)}+${toBase64(concatBytes(Uint8Array.of(SIGNATURE_TYPE_ED25519), seed))}`;
}

interface KeyParts {
  name: string;
  id: number;
  typ: number;
  key: Uint8Array;
}

function splitKey(fields: string[]): Result<KeyParts, NoteError> {
  const [name, hex, b64] = fields;
  if (name === undefined || hex === undefined || b64 === undefined || !isValidKeyName(name)) {
    return err({ reason: "malformed_key", detail: "expected name+keyid+key" });
  }
  if (!/^[0-9a-f]{8}$/.test(hex)) return err({ reason: "malformed_key", detail: "key ID must be 8 lowercase hex digits" });
  const raw = fromBase64(b64);
  if (!raw || raw.length < 1) return err({ reason: "malformed_key", detail: "key is not base64" });
  return ok({ name, id: parseInt(hex, 16), typ: raw[0]!, key: raw.subarray(1) });
}

/** Parses verifier key text. */
export function parseVerifierKey(text: string): Result<NoteVerifier, NoteError> {
  // The name holds no "+", but the base64 key may: only the first two "+" separate fields.
  const first = text.indexOf("+");
  const second = first < 0 ? -1 : text.indexOf("+", first + 1);
  if (second < 0) return err({ reason: "malformed_key", detail: "expected name+keyid+key" });
  const parts = splitKey([text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)]);
  if (!parts.ok) return parts;
  const { name, id, typ, key } = parts.value;
  if (typ !== SIGNATURE_TYPE_ED25519) return err({ reason: "unknown_algorithm", got: typ });
  if (key.length !== ED25519_KEY_SIZE) return err({ reason: "malformed_key", detail: "Ed25519 keys are 32 bytes" });
  const verifier = ed25519Verifier(name, key);
  if (verifier.keyId !== id) return err({ reason: "key_id_mismatch", expected: keyIdHex(verifier.keyId), got: keyIdHex(id) });
  return ok(verifier);
}

/**
 * Parses private key text. Its base64 may itself contain "+", so only the first four "+"
 * separate fields.
 */
export function parseSignerKey(text: string): Result<NoteSigner, NoteError> {
  const at: number[] = [];
  for (let i = 0; i < text.length && at.length < 4; i++) if (text[i] === "+") at.push(i);
  if (at.length < 4 || text.slice(0, at[1]) !== "PRIVATE+KEY")
    return err({ reason: "malformed_key", detail: "expected PRIVATE+KEY+name+keyid+key" });
  const parts = splitKey([text.slice(at[1]! + 1, at[2]), text.slice(at[2]! + 1, at[3]), text.slice(at[3]! + 1)]);
  if (!parts.ok) return parts;
  const { name, id, typ, key } = parts.value;
  if (typ !== SIGNATURE_TYPE_ED25519) return err({ reason: "unknown_algorithm", got: typ });
  if (key.length !== ED25519_KEY_SIZE) return err({ reason: "malformed_key", detail: "Ed25519 seeds are 32 bytes" });
  const signer = ed25519Signer(name, key);
  if (signer.keyId !== id) return err({ reason: "key_id_mismatch", expected: keyIdHex(signer.keyId), got: keyIdHex(id) });
  return ok(signer);
}

/** Signs `text` (which must end in "\n") with each signer, in order. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  if (!text.endsWith("\n")) throw new Error("signed-note text must end with a newline");
  const message = utf8(text);
  let out = `${text}\n`;
  for (const s of signers) {
    if (!isValidKeyName(s.name)) throw new Error(`invalid key name ${JSON.stringify(s.name)}`);
    const id = Uint8Array.of(s.keyId >>> 24, (s.keyId >>> 16) & 255, (s.keyId >>> 8) & 255, s.keyId & 255);
    out += `${SIGNATURE_LINE_PREFIX}${s.name} ${toBase64(concatBytes(id, s.sign(message)))}\n`;
  }
  return out;
}

/**
 * Opens a signed note (c2sp.org/signed-note "Verifying"): the note must be well formed,
 * every signature by a known key must verify (one bad known signature rejects the note),
 * signatures by unknown keys are ignored, and at least one known key must have signed.
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): Result<OpenedNote, NoteError> {
  const malformed = (detail: string) => err<NoteError>({ reason: "malformed_note", detail });
  if (!note.isWellFormed()) return malformed("not valid Unicode");
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note)) return malformed("control characters other than newline");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) return malformed("no blank line before the signatures");
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0 || !block.endsWith("\n")) return malformed("signature block must end in a newline");

  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  const seen = new Set<string>();
  const message = utf8(text);
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) return malformed("too many signatures");
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_LINE_PREFIX)) return malformed("signature line without the em dash prefix");
    const rest = line.slice(SIGNATURE_LINE_PREFIX.length);
    const space = rest.indexOf(" ");
    const name = space < 0 ? rest : rest.slice(0, space);
    const b64 = space < 0 ? "" : rest.slice(space + 1);
    const raw = fromBase64(b64);
    if (!isValidKeyName(name) || !raw || raw.length < 5) return malformed("bad signature line");
    const id = ((raw[0]! << 24) | (raw[1]! << 16) | (raw[2]! << 8) | raw[3]!) >>> 0;
    const sig: NoteSignature = { name, keyId: id, base64: b64 };
    const known = verifiers.filter((v) => v.name === name && v.keyId === id);
    if (known.length === 0) {
      unverified.push(sig);
      continue;
    }
    const tag = `${name}+${id}`;
    if (seen.has(tag)) continue;
    seen.add(tag);
    if (!known[0]!.verify(message, raw.subarray(4))) return err({ reason: "invalid_signature", name, keyId: keyIdHex(id) });
    verified.push(sig);
  }
  if (verified.length === 0) return err({ reason: "no_verified_signature", names: unverified.map((s) => s.name) });
  return ok({ text, verified, unverified });
}
