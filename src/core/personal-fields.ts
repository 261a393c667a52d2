/**
 * Personal fields (docs/design.md "Personal fields and erasure"): the paths a tenant declares,
 * the encrypted-field form that replaces their values in an event before the entry is
 * canonicalized, and the associated data that binds each ciphertext to its tenant, entry and
 * path. Pure: the AES-256-GCM (NIST SP 800-38D) itself runs in src/durable/personal-fields.ts.
 */
import { fromBase64, toBase64, toHex, utf8 } from "./bytes";
import { sha256Text } from "./hash";
import { canonicalize, type JsonValue } from "./jcs";

/** The encrypted-field form: `sealtrail:enc:v1:<kid>:<base64(nonce ‖ ciphertext ‖ tag)>`. */
export const ENCRYPTED_FIELD_PREFIX = "sealtrail:enc:v1:";
/** GCM nonce (IV) length: 96 bits, the length NIST SP 800-38D §5.2.1.1 recommends. */
export const GCM_NONCE_BYTES = 12;
/** GCM tag length: 128 bits (NIST SP 800-38D §5.2.1.2). */
export const GCM_TAG_BYTES = 16;
/** A subject key's id: 8 random bytes as 16 lowercase hex digits. */
export const KEY_ID_PATTERN = /^[0-9a-f]{16}$/;

/** What a decrypted view (CSV, streams) shows in place of an erased value, and of one that does not authenticate. */
export const ERASED_MARKER = "[erased]";
export const UNDECRYPTABLE_MARKER = "[undecryptable]";

/** Declared paths per tenant, and the length of one. */
export const MAX_PERSONAL_FIELDS = 32;
export const MAX_PERSONAL_PATH_LENGTH = 256;

/**
 * A declared path, as the settings name it: `actor.name`, `targets[].name` (every target's name),
 * `context.<key>`, `metadata.<key>(.<key>)*`. Segments are object keys (no dots in them); the
 * value found there, whatever its JSON type, is encrypted whole.
 */
export function personalPathProblem(path: string): string | undefined {
  if (path.length === 0 || path.length > MAX_PERSONAL_PATH_LENGTH) return `paths have 1 to ${MAX_PERSONAL_PATH_LENGTH} characters`;
  if (path === "actor.name" || path === "targets[].name") return undefined;
  if (path === "actor.id" || path.startsWith("actor.")) {
    return path === "actor.id"
      ? "actor.id is the subject (and an index): it cannot be encrypted; use an opaque id"
      : `only actor.name can be declared under actor (events have no ${path}; put it under metadata)`;
  }
  const segments = path.split(".");
  const [root, ...rest] = segments;
  if (root !== "metadata" && root !== "context") {
    return "a path is actor.name, targets[].name, context.<key> or metadata.<key>[.<key>…]";
  }
  if (rest.length === 0 || rest.some((s) => s.length === 0)) return `${root} paths name a key: ${root}.<key>`;
  if (root === "context" && rest.length !== 1) return "context values are scalars: context.<key>";
  if (rest.some((s) => s.includes("[") || s.includes("]"))) return "metadata paths name object keys only";
  return undefined;
}

/** The first problem of a declared list, or undefined. */
export function personalFieldsProblem(paths: readonly string[]): string | undefined {
  if (paths.length > MAX_PERSONAL_FIELDS) return `at most ${MAX_PERSONAL_FIELDS} personal fields`;
  if (new Set(paths).size !== paths.length) return "a path is declared twice";
  for (const p of paths) {
    const problem = personalPathProblem(p);
    if (problem) return `${p}: ${problem}`;
  }
  return undefined;
}

/** A concrete place in an event: object keys and array indexes, from the event's root. */
export type FieldPath = (string | number)[];

/** `actor.name`, `targets.0.name`, `metadata.a.b`: how a concrete path is shown (README, API). */
export const showPath = (path: FieldPath): string => path.join(".");

type JsonObj = { [key: string]: JsonValue };
const isObj = (v: JsonValue | undefined): v is JsonObj => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The concrete paths of `event` that the declared `paths` name and that hold a value, in a
 * fixed order (declaration order; targets by index). A value already in the encrypted-field
 * form is encrypted again like any other (a client may send such a string).
 */
export function personalPaths(event: JsonObj, paths: readonly string[]): FieldPath[] {
  const out: FieldPath[] = [];
  // The service's own entries (`sealtrail.*`) keep their metadata readable: verifiers and the log
  // itself read it (a retention pruned entry's range and checkpoint, a settings change's before and
  // after, an erasure's subject hash), and it is written by the service, not sent by a client.
  // Their actor and target names and context are personal fields like any other entry's.
  const service = typeof event.action === "string" && event.action.startsWith("sealtrail.");
  for (const declared of paths) {
    if (service && declared.startsWith("metadata.")) continue;
    if (declared === "targets[].name") {
      const targets = event.targets;
      if (!Array.isArray(targets)) continue;
      targets.forEach((t, i) => {
        if (isObj(t) && t.name !== undefined) out.push(["targets", i, "name"]);
      });
      continue;
    }
    const segments = declared.split(".");
    let at: JsonValue | undefined = event;
    for (const s of segments) at = isObj(at) ? at[s] : undefined;
    if (at !== undefined) out.push(segments);
  }
  return out;
}

/** The value at `path`, or undefined. */
export function valueAt(event: JsonValue, path: FieldPath): JsonValue | undefined {
  let at: JsonValue | undefined = event;
  for (const s of path) {
    if (typeof s === "number") at = Array.isArray(at) ? at[s] : undefined;
    else at = isObj(at) ? at[s] : undefined;
  }
  return at;
}

/** A copy of `event` with the values at `paths` replaced (structure shared where unchanged). */
export function replaceAt(event: JsonObj, replacements: readonly { path: FieldPath; value: JsonValue }[]): JsonObj {
  const set = (node: JsonValue, path: FieldPath, i: number, value: JsonValue): JsonValue => {
    if (i === path.length) return value;
    const key = path[i]!;
    if (Array.isArray(node) && typeof key === "number") {
      const copy = node.slice();
      copy[key] = set(node[key]!, path, i + 1, value);
      return copy;
    }
    // A shown path (`showPath`) read back has numbers for numeric keys: on an object they are keys.
    if (isObj(node) && String(key) in node) return { ...node, [String(key)]: set(node[String(key)]!, path, i + 1, value) };
    return node;
  };
  let out: JsonValue = event;
  for (const r of replacements) out = set(out, r.path, 0, r.value);
  return out as JsonObj;
}

/**
 * The subject of an event: its `subject` when it names one, else `actor.id` (issue #17). Every
 * personal field of the event is encrypted under this subject's key.
 */
export function subjectOf(event: JsonObj): string | undefined {
  if (typeof event.subject === "string") return event.subject;
  const actor = event.actor;
  return isObj(actor) && typeof actor.id === "string" ? actor.id : undefined;
}

/**
 * The subject's hash: lowercase hex SHA-256 of the UTF-8 of `sealtrail subject v1\n<tenant>\n<subject>`.
 * Unkeyed on purpose: whoever knows a subject id and the tenant can find its erasure in the log
 * (`sealtrail.subject.erased` records only this); the tenant binding keeps hashes of one
 * person in two tenants apart. The DO's key table is keyed by it too.
 */
export const subjectHash = (tenant: string, subject: string): string => toHex(sha256Text(`sealtrail subject v1\n${tenant}\n${subject}`));

/**
 * The associated data of one encrypted field (NIST SP 800-38D §5.2.1 "A"): the UTF-8 bytes of
 * the RFC 8785 canonical JSON of {"kid","path","seq","tenant","v":1}, where `path` is the
 * concrete path in the event as an array (keys as strings, array indexes as numbers). A
 * ciphertext moved to another tenant, entry, path or key id fails authentication.
 */
export const fieldAad = (tenant: string, seq: number, path: FieldPath, kid: string): Uint8Array =>
  utf8(canonicalize({ kid, path, seq, tenant, v: 1 }));

/** The plaintext that is encrypted: the UTF-8 of the value's RFC 8785 canonical JSON. */
export const fieldPlaintext = (value: JsonValue): Uint8Array => utf8(canonicalize(value));

export function formatEncryptedField(kid: string, nonce: Uint8Array, sealed: Uint8Array): string {
  const joined = new Uint8Array(nonce.length + sealed.length);
  joined.set(nonce);
  joined.set(sealed, nonce.length);
  return `${ENCRYPTED_FIELD_PREFIX}${kid}:${toBase64(joined)}`;
}

export interface EncryptedField {
  kid: string;
  nonce: Uint8Array;
  /** Ciphertext followed by the 16-byte tag. */
  sealed: Uint8Array;
}

/** Parses the encrypted-field form; undefined if `s` is not one. */
export function parseEncryptedField(s: string): EncryptedField | undefined {
  if (!s.startsWith(ENCRYPTED_FIELD_PREFIX)) return undefined;
  const rest = s.slice(ENCRYPTED_FIELD_PREFIX.length);
  const colon = rest.indexOf(":");
  const kid = rest.slice(0, colon);
  if (colon < 0 || !KEY_ID_PATTERN.test(kid)) return undefined;
  const bytes = fromBase64(rest.slice(colon + 1));
  if (!bytes || bytes.length < GCM_NONCE_BYTES + GCM_TAG_BYTES) return undefined;
  return { kid, nonce: bytes.slice(0, GCM_NONCE_BYTES), sealed: bytes.slice(GCM_NONCE_BYTES) };
}

/** Every string in `event` in the encrypted-field form, with its concrete path. */
export function encryptedFields(event: JsonValue): { path: FieldPath; field: EncryptedField }[] {
  const out: { path: FieldPath; field: EncryptedField }[] = [];
  const walk = (v: JsonValue, path: FieldPath) => {
    if (typeof v === "string") {
      const field = parseEncryptedField(v);
      if (field) out.push({ path, field });
    } else if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) walk(x, [...path, i]);
    } else if (isObj(v)) for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
  };
  walk(event, []);
  return out;
}

/**
 * The length of the encrypted-field form of a value whose canonical JSON has `plaintextBytes`
 * bytes: what an event grows by (entry-size.ts counts entries against 65,535 bytes).
 */
export const encryptedFieldLength = (plaintextBytes: number): number =>
  ENCRYPTED_FIELD_PREFIX.length + 17 + 4 * Math.ceil((GCM_NONCE_BYTES + plaintextBytes + GCM_TAG_BYTES) / 3);
