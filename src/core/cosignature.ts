/**
 * c2sp.org/tlog-cosignature: a witness's (cosigner's) timestamped signature on a checkpoint, as a
 * c2sp.org/signed-note signature line. Two types:
 *
 * - 0x04, Ed25519 cosignature/v1 (tlog-cosignature "Ed25519 signed message"): the signed message
 *   is "cosignature/v1\ntime <decimal timestamp>\n" followed by the whole checkpoint note body
 *   (extension lines included, signature lines not).
 * - 0x06, ML-DSA-44 (tlog-cosignature "ML-DSA-44 signed message", FIPS 204 pure ML-DSA with an
 *   empty context string): the signed message is the binary `cosigned_message`
 *   "subtree/v1\n\0" ‖ u8-prefixed cosigner name ‖ u64 timestamp ‖ u8-prefixed log origin ‖
 *   u64 start (0 for a checkpoint) ‖ u64 end (the tree size) ‖ the 32-byte root. Extension lines
 *   are not signed.
 *
 * Either way the signature line is "— <cosigner name> base64(key ID ‖ u64 timestamp ‖ signature)"
 * (tlog-cosignature "Format": the `timestamped_signature` struct, big-endian), and the key ID is
 * SHA-256(name ‖ "\n" ‖ type ‖ public key)[:4] (signed-note "Signatures", tlog-cosignature
 * "Format"). A verifier key (vkey) is "<name>+<hex key ID>+<base64(type ‖ public key)>"
 * (signed-note "Verifier keys"); a private key text, as transparency-dev/formats writes it, is
 * "PRIVATE+KEY+<name>+<hex key ID>+<base64(type ‖ 32-byte seed)>" (Ed25519: the RFC 8032 private
 * key; ML-DSA-44: the FIPS 204 key generation seed ξ).
 *
 * Signing and verifying are synchronous and pure (@noble/curves, @noble/post-quantum), like the
 * rest of src/core: WebCrypto's Ed25519 is async and not in every runtime the core runs in.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { ml_dsa44 } from "@noble/post-quantum/ml-dsa.js";
import { concatBytes, fromBase64, toBase64, utf8 } from "./bytes";
import { parseCheckpoint, type Checkpoint } from "./checkpoint";
import { HASH_SIZE } from "./hash";
import { isValidKeyName, keyId, keyIdHex, MAX_SIGNATURES, parseVerifierKey, SIGNATURE_LINE_PREFIX, type NoteVerifier } from "./note";
import { err, ok, type Result } from "./result";

/** c2sp.org/signed-note "Signature types": timestamped Ed25519 checkpoint cosignatures. */
export const COSIGNATURE_TYPE_ED25519 = 0x04;
/** c2sp.org/signed-note "Signature types": timestamped ML-DSA-44 (sub)tree cosignatures. */
export const COSIGNATURE_TYPE_ML_DSA_44 = 0x06;
export type CosignatureType = typeof COSIGNATURE_TYPE_ED25519 | typeof COSIGNATURE_TYPE_ML_DSA_44;

/** tlog-cosignature "Ed25519 signed message": the header line. */
export const COSIGNATURE_V1_HEADER = "cosignature/v1";
/** tlog-cosignature "ML-DSA-44 signed message": `label[12]`. */
export const SUBTREE_V1_LABEL = utf8("subtree/v1\n\0");

const SEED_SIZE = 32;
const TIMESTAMP_SIZE = 8;
/** Public key and signature sizes per type (RFC 8032; FIPS 204 Table 2, ML-DSA-44). */
const SIZES: Record<CosignatureType, { publicKey: number; signature: number }> = {
  [COSIGNATURE_TYPE_ED25519]: { publicKey: 32, signature: 64 },
  [COSIGNATURE_TYPE_ML_DSA_44]: { publicKey: 1312, signature: 2420 },
};
/** tlog-cosignature: the timestamp "MUST NOT exceed 2^63 - 1"; here also a safe integer. */
const MAX_TIMESTAMP = Number.MAX_SAFE_INTEGER;

export type CosignatureError =
  | { reason: "malformed_key"; detail: string }
  | { reason: "unknown_algorithm"; got: number }
  | { reason: "key_id_mismatch"; expected: string; got: string }
  | { reason: "malformed_note"; detail: string }
  | { reason: "malformed_checkpoint"; detail: string }
  | { reason: "malformed_cosignature"; name: string; keyId: string; detail: string }
  | { reason: "invalid_cosignature"; name: string; keyId: string };

/** A cosigner's public key: what a vkey says. */
export interface CosignerKey {
  name: string;
  keyId: number;
  type: CosignatureType;
  publicKey: Uint8Array;
  /** The vkey text, "<name>+<hex key ID>+<base64(type ‖ public key)>". */
  vkey: string;
}

/** A cosigner that can sign: its public key, and its private key kept inside `sign`. */
export interface Cosigner {
  key: CosignerKey;
  /** The raw signature (without key ID or timestamp) over `message`. */
  sign(message: Uint8Array): Uint8Array;
}

/** One signature line of a signed note, split (c2sp.org/signed-note "Signatures"). */
export interface SignatureLine {
  name: string;
  keyId: number;
  /** The bytes after the 4-byte key ID. */
  signature: Uint8Array;
  /** The line as written, without its newline. */
  line: string;
}

const isType = (t: number): t is CosignatureType => t === COSIGNATURE_TYPE_ED25519 || t === COSIGNATURE_TYPE_ML_DSA_44;
const byteLength = (s: string) => utf8(s).length;

/** Key ID = SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4], big-endian (tlog-cosignature "Format"). */
export const cosignerKeyId = (name: string, type: CosignatureType, publicKey: Uint8Array): number =>
  keyId(name, concatBytes(Uint8Array.of(type), publicKey));

function keyFor(name: string, type: CosignatureType, publicKey: Uint8Array): Result<CosignerKey, CosignatureError> {
  if (!isValidKeyName(name)) return err({ reason: "malformed_key", detail: "key names are non-empty, with no spaces and no '+'" });
  // cosigned_message holds the cosigner name as opaque<1..2^8-1>.
  if (type === COSIGNATURE_TYPE_ML_DSA_44 && byteLength(name) > 255) {
    return err({ reason: "malformed_key", detail: "ML-DSA-44 cosigner names are at most 255 bytes" });
  }
  if (publicKey.length !== SIZES[type].publicKey) {
    return err({ reason: "malformed_key", detail: `type 0x0${type} public keys are ${SIZES[type].publicKey} bytes` });
  }
  const id = cosignerKeyId(name, type, publicKey);
  const vkey = `${name}+${keyIdHex(id)}+${toBase64(concatBytes(Uint8Array.of(type), publicKey))}`;
  return ok({ name, keyId: id, type, publicKey, vkey });
}

/** Splits "<a>+<hex id>+<base64>" after the name's fields: the base64 part may itself hold "+". */
function splitKeyText(text: string, fields: number): string[] | undefined {
  const at: number[] = [];
  for (let i = 0; i < text.length && at.length < fields - 1; i++) if (text[i] === "+") at.push(i);
  if (at.length < fields - 1) return undefined;
  return [...at.map((p, i) => text.slice(i === 0 ? 0 : at[i - 1]! + 1, p)), text.slice(at.at(-1)! + 1)];
}

function decodeTyped(name: string, hex: string, b64: string): Result<{ id: number; type: number; key: Uint8Array }, CosignatureError> {
  if (!isValidKeyName(name)) return err({ reason: "malformed_key", detail: "key names are non-empty, with no spaces and no '+'" });
  if (!/^[0-9a-f]{8}$/.test(hex)) return err({ reason: "malformed_key", detail: "key ID must be 8 lowercase hex digits" });
  const raw = fromBase64(b64);
  if (!raw || raw.length < 1) return err({ reason: "malformed_key", detail: "key is not base64" });
  return ok({ id: parseInt(hex, 16), type: raw[0]!, key: raw.subarray(1) });
}

/** Parses a cosigner's vkey (signed-note "Verifier keys") of type 0x04 or 0x06; the key ID must match. */
export function parseCosignerKey(vkey: string): Result<CosignerKey, CosignatureError> {
  const parts = splitKeyText(vkey, 3);
  if (!parts) return err({ reason: "malformed_key", detail: "expected name+keyid+key" });
  const typed = decodeTyped(parts[0]!, parts[1]!, parts[2]!);
  if (!typed.ok) return typed;
  const { id, type, key } = typed.value;
  if (!isType(type)) return err({ reason: "unknown_algorithm", got: type });
  const parsed = keyFor(parts[0]!, type, key);
  if (!parsed.ok) return parsed;
  if (parsed.value.keyId !== id) return err({ reason: "key_id_mismatch", expected: keyIdHex(parsed.value.keyId), got: keyIdHex(id) });
  return parsed;
}

/** A cosigner from its 32-byte seed: an Ed25519 private key (RFC 8032) or an ML-DSA-44 seed ξ (FIPS 204). */
export function cosignerFromSeed(name: string, type: CosignatureType, seed: Uint8Array): Result<Cosigner, CosignatureError> {
  if (seed.length !== SEED_SIZE) return err({ reason: "malformed_key", detail: "seeds are 32 bytes" });
  if (type === COSIGNATURE_TYPE_ED25519) {
    const key = keyFor(name, type, ed25519.getPublicKey(seed));
    return key.ok ? ok({ key: key.value, sign: (m) => ed25519.sign(m, seed) }) : key;
  }
  const { publicKey, secretKey } = ml_dsa44.keygen(seed);
  const key = keyFor(name, type, publicKey);
  // Pure ML-DSA (FIPS 204 Algorithm 2) with the empty context, hedged with fresh randomness.
  return key.ok ? ok({ key: key.value, sign: (m) => ml_dsa44.sign(m, secretKey) }) : key;
}

/** Private key text: "PRIVATE+KEY+<name>+<hex key ID>+<base64(type ‖ seed)>". */
export function cosignerPrivateKeyText(name: string, type: CosignatureType, seed: Uint8Array): string {
  const cosigner = cosignerFromSeed(name, type, seed);
  if (!cosigner.ok) throw new Error(`cannot make a cosigner key: ${JSON.stringify(cosigner.error)}`);
  return `PRIVATE+KEY+${name}+${keyIdHex(cosigner.value.key.keyId)}+${toBase64(concatBytes(Uint8Array.of(type), seed))}`;
}

/** Parses private key text of type 0x04 or 0x06; the key ID must be the one of its public key. */
export function parseCosignerPrivateKey(text: string): Result<Cosigner, CosignatureError> {
  const parts = splitKeyText(text, 5);
  if (parts?.[0] !== "PRIVATE" || parts[1] !== "KEY") {
    return err({ reason: "malformed_key", detail: "expected PRIVATE+KEY+name+keyid+key" });
  }
  const typed = decodeTyped(parts[2]!, parts[3]!, parts[4]!);
  if (!typed.ok) return typed;
  const { id, type, key } = typed.value;
  if (!isType(type)) return err({ reason: "unknown_algorithm", got: type });
  const cosigner = cosignerFromSeed(parts[2]!, type, key);
  if (!cosigner.ok) return cosigner;
  if (cosigner.value.key.keyId !== id) {
    return err({ reason: "key_id_mismatch", expected: keyIdHex(cosigner.value.key.keyId), got: keyIdHex(id) });
  }
  return cosigner;
}

function checkTimestamp(timestamp: number): void {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0 || timestamp > MAX_TIMESTAMP) {
    throw new Error(`cosignature timestamps are non-negative integers, got ${timestamp}`);
  }
}

const u64 = (n: number): Uint8Array => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
};

/** tlog-cosignature "Ed25519 signed message": header line, timestamp line, then the whole note body. */
export function ed25519CosignedMessage(checkpointBody: string, timestamp: number): Uint8Array {
  checkTimestamp(timestamp);
  return utf8(`${COSIGNATURE_V1_HEADER}\ntime ${timestamp}\n${checkpointBody}`);
}

/**
 * tlog-cosignature "ML-DSA-44 signed message": `cosigned_message` for the subtree [start, end)
 * with root `hash`. A checkpoint is the subtree [0, size); a non-zero start needs timestamp 0.
 */
export function mlDsaCosignedMessage(
  cosignerName: string,
  timestamp: number,
  origin: string,
  start: number,
  end: number,
  hash: Uint8Array,
): Uint8Array {
  checkTimestamp(timestamp);
  const name = utf8(cosignerName);
  const log = utf8(origin);
  if (name.length < 1 || name.length > 255 || log.length < 1 || log.length > 255) {
    throw new Error("the cosigner name and the log origin are 1 to 255 bytes");
  }
  if (start !== 0 && timestamp !== 0) throw new Error("a subtree with a non-zero start is signed with timestamp 0");
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) throw new Error("bad subtree range");
  if (hash.length !== HASH_SIZE) throw new Error("the hash is 32 bytes");
  return concatBytes(
    SUBTREE_V1_LABEL,
    Uint8Array.of(name.length),
    name,
    u64(timestamp),
    Uint8Array.of(log.length),
    log,
    u64(start),
    u64(end),
    hash,
  );
}

function parseBody(checkpointBody: string): Result<Checkpoint, CosignatureError> {
  const cp = parseCheckpoint(checkpointBody);
  if (!cp.ok) return err({ reason: "malformed_checkpoint", detail: "detail" in cp.error ? cp.error.detail : cp.error.reason });
  return ok(cp.value);
}

/** The message a key of `key.type` signs for this checkpoint body (the note text, ending in "\n") at `timestamp`. */
export function cosignedMessage(key: CosignerKey, checkpointBody: string, timestamp: number): Result<Uint8Array, CosignatureError> {
  const cp = parseBody(checkpointBody);
  if (!cp.ok) return cp;
  if (key.type === COSIGNATURE_TYPE_ED25519) return ok(ed25519CosignedMessage(checkpointBody, timestamp));
  if (byteLength(cp.value.origin) > 255) return err({ reason: "malformed_checkpoint", detail: "origin longer than 255 bytes" });
  return ok(mlDsaCosignedMessage(key.name, timestamp, cp.value.origin, 0, cp.value.size, cp.value.root));
}

const keyIdBytes = (id: number) => Uint8Array.of(id >>> 24, (id >>> 16) & 255, (id >>> 8) & 255, id & 255);

/**
 * Cosigns a checkpoint body (the note text without signatures) at `timestamp` (POSIX seconds,
 * tlog-witness: never 0 from add-checkpoint). Returns the signature line, ending in "\n".
 */
export function cosign(cosigner: Cosigner, checkpointBody: string, timestamp: number): Result<string, CosignatureError> {
  const message = cosignedMessage(cosigner.key, checkpointBody, timestamp);
  if (!message.ok) return message;
  const sig = concatBytes(keyIdBytes(cosigner.key.keyId), u64(timestamp), cosigner.sign(message.value));
  return ok(`${SIGNATURE_LINE_PREFIX}${cosigner.key.name} ${toBase64(sig)}\n`);
}

/** Verifies one cosignature by `key` (the bytes after the key ID) on `checkpointBody`; returns its timestamp. */
export function verifyCosignature(
  key: CosignerKey,
  checkpointBody: string,
  signature: Uint8Array,
): Result<{ timestamp: number }, CosignatureError> {
  const who = { name: key.name, keyId: keyIdHex(key.keyId) };
  const want = TIMESTAMP_SIZE + SIZES[key.type].signature;
  if (signature.length !== want) return err({ reason: "malformed_cosignature", ...who, detail: `expected ${want} bytes` });
  const ts = new DataView(signature.buffer, signature.byteOffset, TIMESTAMP_SIZE).getBigUint64(0);
  if (ts > BigInt(MAX_TIMESTAMP)) return err({ reason: "malformed_cosignature", ...who, detail: "timestamp out of range" });
  const timestamp = Number(ts);
  const message = cosignedMessage(key, checkpointBody, timestamp);
  if (!message.ok) return message;
  const raw = signature.subarray(TIMESTAMP_SIZE);
  const valid =
    key.type === COSIGNATURE_TYPE_ED25519
      ? ed25519.verify(raw, message.value, key.publicKey, { zip215: false })
      : ml_dsa44.verify(raw, message.value, key.publicKey);
  return valid ? ok({ timestamp }) : err({ reason: "invalid_cosignature", ...who });
}

/** Parses signature lines ("— <name> <base64(key ID ‖ signature)>\n" each), e.g. a witness's 200 response body. */
export function parseSignatureLines(block: string): Result<SignatureLine[], CosignatureError> {
  const malformed = (detail: string) => err<CosignatureError>({ reason: "malformed_note", detail });
  if (block.length === 0 || !block.endsWith("\n")) return malformed("signature lines end in a newline");
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) return malformed("too many signatures");
  const out: SignatureLine[] = [];
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_LINE_PREFIX)) return malformed("signature line without the em dash prefix");
    const rest = line.slice(SIGNATURE_LINE_PREFIX.length);
    const space = rest.indexOf(" ");
    const name = space < 0 ? rest : rest.slice(0, space);
    const raw = space < 0 ? undefined : fromBase64(rest.slice(space + 1));
    if (!isValidKeyName(name) || !raw || raw.length < 5) return malformed("bad signature line");
    const id = ((raw[0]! << 24) | (raw[1]! << 16) | (raw[2]! << 8) | raw[3]!) >>> 0;
    out.push({ name, keyId: id, signature: raw.subarray(4), line });
  }
  return ok(out);
}

/**
 * Splits a signed note (c2sp.org/signed-note "Format") into its text (ending in "\n") and its
 * signature lines, checking only the form: valid UTF-8, no control characters but newline.
 */
export function splitSignedNote(note: string): Result<{ text: string; signatures: SignatureLine[] }, CosignatureError> {
  if (!note.isWellFormed()) return err({ reason: "malformed_note", detail: "not valid Unicode" });
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note)) return err({ reason: "malformed_note", detail: "control characters other than newline" });
  const split = note.lastIndexOf("\n\n");
  if (split < 0) return err({ reason: "malformed_note", detail: "no blank line before the signatures" });
  const signatures = parseSignatureLines(note.slice(split + 2));
  return signatures.ok ? ok({ text: note.slice(0, split + 1), signatures: signatures.value }) : signatures;
}

/** The signed note with `lines` (signature lines, each ending in "\n") appended to its signatures. */
export function addSignatureLines(note: string, lines: string): Result<string, CosignatureError> {
  const parsed = parseSignatureLines(lines);
  if (!parsed.ok) return parsed;
  const whole = splitSignedNote(`${note}${lines}`);
  return whole.ok ? ok(`${note}${lines}`) : whole;
}

export interface QuorumCount {
  /** The distinct keys with a valid cosignature, with its timestamp (the newest if several). */
  valid: { key: CosignerKey; timestamp: number }[];
  /** Keys whose name and key ID match a signature line that does not verify (signed-note: reject). */
  invalid: { key: CosignerKey; error: CosignatureError }[];
}

/**
 * Counts the cosignatures of `keys` on a signed checkpoint note. Lines by other keys are ignored
 * (signed-note "Signatures": match on name and key ID both). A key is counted once however many
 * lines it has; a key with any line that fails to verify is listed in `invalid` and not counted.
 */
export function countCosignatures(note: string, keys: readonly CosignerKey[]): Result<QuorumCount, CosignatureError> {
  const split = splitSignedNote(note);
  if (!split.ok) return split;
  const { text, signatures } = split.value;
  const body = parseBody(text);
  if (!body.ok) return body;
  const valid: QuorumCount["valid"] = [];
  const invalid: QuorumCount["invalid"] = [];
  const seen = new Set<string>();
  for (const key of keys) {
    const tag = `${key.name}+${key.keyId}+${key.type}+${toBase64(key.publicKey)}`;
    if (seen.has(tag)) continue;
    seen.add(tag);
    let newest: number | undefined;
    let failed: CosignatureError | undefined;
    for (const s of signatures) {
      if (s.name !== key.name || s.keyId !== key.keyId) continue;
      const checked = verifyCosignature(key, text, s.signature);
      if (!checked.ok) failed ??= checked.error;
      else newest = Math.max(newest ?? 0, checked.value.timestamp);
    }
    if (failed) invalid.push({ key, error: failed });
    else if (newest !== undefined) valid.push({ key, timestamp: newest });
  }
  return ok({ valid, invalid });
}

export type QuorumError = CosignatureError | { reason: "quorum_not_met"; need: number; got: number; invalid: string[] };

/**
 * Requires at least `k` distinct keys of `keys` to validly cosign the note, and none of them to
 * have a cosignature line that fails (a known signature that fails makes the note bad).
 * k = 0 always passes (but a malformed note is still refused).
 */
export function checkQuorum(note: string, keys: readonly CosignerKey[], k: number): Result<QuorumCount, QuorumError> {
  const counted = countCosignatures(note, keys);
  if (!counted.ok) return counted;
  const { valid, invalid } = counted.value;
  if (invalid.length > 0 || valid.length < k) {
    return err({ reason: "quorum_not_met", need: k, got: valid.length, invalid: invalid.map((i) => i.key.vkey) });
  }
  return counted;
}

/**
 * A c2sp.org/signed-note verifier for a cosigner key, so that `openNote`/`openCheckpoint` accept
 * cosignatures (tlog-witness: "use a note verification function configured with the witness keys").
 * Also how a log that signs its checkpoints with a cosignature-type key is verified
 * (tlog-checkpoint "Signatures": logs SHOULD use ML-DSA-44 cosignatures).
 */
export function cosignatureNoteVerifier(key: CosignerKey): NoteVerifier {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  return {
    name: key.name,
    keyId: key.keyId,
    verify: (message, signature) => {
      let body: string;
      try {
        body = decoder.decode(message);
      } catch {
        return false;
      }
      return verifyCosignature(key, body, signature).ok;
    },
  };
}

/**
 * A verifier for a log's checkpoint key of any type a C2SP log uses: 0x01 (Ed25519 signed note,
 * c2sp.org/signed-note "Ed25519 signatures"), 0x04 or 0x06 (cosignature types).
 */
export function parseLogVerifierKey(vkey: string): Result<NoteVerifier, CosignatureError> {
  const parts = splitKeyText(vkey, 3);
  const raw = parts ? fromBase64(parts[2]!) : undefined;
  if (raw && raw[0] !== undefined && isType(raw[0])) {
    const key = parseCosignerKey(vkey);
    return key.ok ? ok(cosignatureNoteVerifier(key.value)) : key;
  }
  const v = parseVerifierKey(vkey);
  if (v.ok) return v;
  const e = v.error;
  if (e.reason === "malformed_key" || e.reason === "unknown_algorithm" || e.reason === "key_id_mismatch") return err(e);
  return err({ reason: "malformed_key", detail: e.reason });
}
