/**
 * Personal fields and erasure by crypto-shredding (docs/design.md "Personal fields and
 * erasure"; issue #17.3). In the commit (sequencer.ts calls `atCommit` for every entry, inside
 * transactionSync, so everything here is synchronous): the values at the tenant's declared
 * paths are replaced by the encrypted-field form (src/core/personal-fields.ts), AES-256-GCM
 * (NIST SP 800-38D) under the subject's key, a fresh random 96-bit nonce per field, the tenant,
 * seq and path bound as associated data. Subject keys are random, one per (tenant, subject),
 * stored wrapped (AES-256-GCM) under a key derived with HKDF-SHA256 (RFC 5869) from the
 * deployment secret SEALTRAIL_SUBJECT_KEY_SECRET (not the signing secret), in this object's
 * `subject_keys` table: not audit data, so it has a delete path. Erasure deletes the subject's
 * rows in the commit that appends `sealtrail.subject.erased`, at that entry's place in the
 * sequence, and remembers the erased key ids (`erased_keys`) so reads say "erased".
 */
import { gcm } from "@noble/ciphers/aes.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { toHex, utf8 } from "../core/bytes";
import type { JsonObject } from "../core/entry";
import {
  fieldAad,
  fieldPlaintext,
  formatEncryptedField,
  GCM_NONCE_BYTES,
  parseEncryptedField,
  personalPaths,
  replaceAt,
  subjectHash,
  subjectOf,
  valueAt,
  encryptedFieldLength,
  encryptedFields,
  ERASED_MARKER,
  UNDECRYPTABLE_MARKER,
  type FieldPath,
} from "../core/personal-fields";
import type { JsonValue } from "../core/jcs";
import type { LogStore } from "./log-store";

/** The entry that records an erasure; the commit that appends it deletes the subject's keys. */
export const SUBJECT_ERASED_ACTION = "sealtrail.subject.erased";
/** HKDF salt of the per-tenant wrapping key (info: the tenant id). */
export const SUBJECT_WRAP_SALT = "sealtrail subject key wrap v1";
const KEY_BYTES = 32;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS subject_keys (
  kid TEXT PRIMARY KEY,
  subject_hash TEXT NOT NULL,
  wrapped BLOB NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS subject_keys_subject ON subject_keys (subject_hash);
CREATE TABLE IF NOT EXISTS erased_keys (
  kid TEXT PRIMARY KEY,
  erased_at INTEGER NOT NULL,
  erased_by INTEGER NOT NULL
) WITHOUT ROWID;
`;

/** The deployment's subject key secret, if it is one (at least 32 bytes). */
export function subjectKeySecret(env: object): string | undefined {
  const s = (env as { SEALTRAIL_SUBJECT_KEY_SECRET?: unknown }).SEALTRAIL_SUBJECT_KEY_SECRET;
  return typeof s === "string" && utf8(s).length >= 32 ? s : undefined;
}

/** Whether personal fields can be declared in this deployment. */
export const subjectKeysAvailable = (env: object): boolean => subjectKeySecret(env) !== undefined;

/** What a reader is shown for one encrypted field. */
export type RevealedField =
  /** `json`: the value's RFC 8785 canonical JSON, as it was encrypted (a string keeps the RPC's types shallow). */
  | { state: "decrypted"; json: string }
  | { state: "erased"; erased_at: string; erased_by: number }
  /** The ciphertext does not authenticate under its key, tenant, seq and path: tampered or moved. */
  | { state: "undecryptable" }
  /** A string in the encrypted-field form under a key this log never made: not one of ours, shown as it is. */
  | { state: "foreign" };

export interface RevealRequest {
  seq: number;
  path: FieldPath;
  value: string;
}

/** The wrapping key's associated data: binds a wrapped key to its tenant, subject and id. */
const wrapAad = (tenant: string, hash: string, kid: string) => utf8(`sealtrail subject key v1\n${tenant}\n${hash}\n${kid}`);

export class PersonalFields {
  readonly #sql: SqlStorage;
  readonly #store: LogStore;
  readonly #secret: () => string | undefined;
  readonly #random: (n: number) => Uint8Array;
  /** Unwrapped subject keys by key id. A key made in a transaction that rolls back stays here unused (its id is random). */
  readonly #keys = new Map<string, Uint8Array>();
  #wrapKey: { tenant: string; key: Uint8Array } | undefined;

  constructor(sql: SqlStorage, store: LogStore, secret: () => string | undefined, random?: (n: number) => Uint8Array) {
    this.#sql = sql;
    this.#store = store;
    this.#secret = secret;
    this.#random = random ?? ((n) => crypto.getRandomValues(new Uint8Array(n)));
    this.#sql.exec(SCHEMA);
  }

  /** Whether the deployment can encrypt (SEALTRAIL_SUBJECT_KEY_SECRET of at least 32 bytes). */
  available(): boolean {
    const s = this.#secret();
    return s !== undefined && utf8(s).length >= 32;
  }

  /** HKDF-SHA256(IKM = secret, salt = SUBJECT_WRAP_SALT, info = tenant), derived once per object. */
  #wrapping(tenant: string): Uint8Array {
    if (this.#wrapKey?.tenant === tenant) return this.#wrapKey.key;
    const secret = this.#secret();
    if (secret === undefined || utf8(secret).length < 32)
      throw new Error("SEALTRAIL_SUBJECT_KEY_SECRET is missing or shorter than 32 bytes");
    const key = hkdf(sha256, utf8(secret), utf8(SUBJECT_WRAP_SALT), utf8(tenant), KEY_BYTES);
    this.#wrapKey = { tenant, key };
    return key;
  }

  #unwrap(tenant: string, hash: string, kid: string, wrapped: Uint8Array): Uint8Array {
    const known = this.#keys.get(kid);
    if (known) return known;
    const nonce = wrapped.slice(0, GCM_NONCE_BYTES);
    const key = gcm(this.#wrapping(tenant), nonce, wrapAad(tenant, hash, kid)).decrypt(wrapped.slice(GCM_NONCE_BYTES));
    this.#keys.set(kid, key);
    return key;
  }

  /** The subject's current key, made (and stored wrapped) if it has none. In the commit's transaction. */
  #keyFor(tenant: string, subject: string, nowMs: number): { kid: string; key: Uint8Array } {
    const hash = subjectHash(tenant, subject);
    const row = this.#sql.exec("SELECT kid, wrapped FROM subject_keys WHERE subject_hash = ? LIMIT 1", hash).toArray()[0];
    if (row) {
      const kid = String(row.kid);
      return { kid, key: this.#unwrap(tenant, hash, kid, new Uint8Array(row.wrapped as ArrayBuffer)) };
    }
    const kid = toHex(this.#random(8));
    const key = this.#random(KEY_BYTES);
    const nonce = this.#random(GCM_NONCE_BYTES);
    const sealed = gcm(this.#wrapping(tenant), nonce, wrapAad(tenant, hash, kid)).encrypt(key);
    const wrapped = new Uint8Array(nonce.length + sealed.length);
    wrapped.set(nonce);
    wrapped.set(sealed, nonce.length);
    this.#sql.exec("INSERT INTO subject_keys (kid, subject_hash, wrapped, created_at) VALUES (?, ?, ?, ?)", kid, hash, wrapped, nowMs);
    this.#keys.set(kid, key);
    return { kid, key };
  }

  /**
   * The event as it is stored: the declared paths' values in the encrypted-field form (an event
   * with none of them comes back as it is). Erases first when `event` is the erasure entry, so
   * that entries sequenced before it keep the erased key and those after get a new one.
   * Called by sequenceGroup for every new entry, inside transactionSync.
   */
  atCommit(tenant: string, seq: number, event: JsonObject, nowMs: number): JsonObject {
    if (event.action === SUBJECT_ERASED_ACTION) {
      const hash = (event.metadata as JsonObject | undefined)?.subject_hash;
      if (typeof hash === "string") this.#erase(hash, seq, nowMs);
    }
    const declared = this.#store.settings().personalFields;
    if (declared.length === 0) return event;
    const paths = personalPaths(event, declared);
    const subject = subjectOf(event);
    if (paths.length === 0 || subject === undefined) return event;
    const { kid, key } = this.#keyFor(tenant, subject, nowMs);
    return replaceAt(
      event,
      paths.map((path) => {
        const nonce = this.#random(GCM_NONCE_BYTES);
        const sealed = gcm(key, nonce, fieldAad(tenant, seq, path, kid)).encrypt(fieldPlaintext(valueAt(event, path)!));
        return { path, value: formatEncryptedField(kid, nonce, sealed) };
      }),
    );
  }

  /** Deletes every key of the subject (in the commit that appends the erasure entry `bySeq`). */
  #erase(hash: string, bySeq: number, nowMs: number): void {
    const kids = this.#sql
      .exec("SELECT kid FROM subject_keys WHERE subject_hash = ?", hash)
      .toArray()
      .map((r) => String(r.kid));
    for (const kid of kids) {
      this.#sql.exec("INSERT OR IGNORE INTO erased_keys (kid, erased_at, erased_by) VALUES (?, ?, ?)", kid, nowMs, bySeq);
      // Forgotten here whether or not the transaction commits: a cache, re-read from the table if it rolls back.
      this.#keys.delete(kid);
    }
    // Best effort against remnants in freed pages (DO SQLite refuses PRAGMA secure_delete): the
    // wrapped key is overwritten with zeros, then the row deleted (docs/design.md "What deleted means").
    this.#sql.exec("UPDATE subject_keys SET wrapped = zeroblob(length(wrapped)) WHERE subject_hash = ?", hash);
    this.#sql.exec("DELETE FROM subject_keys WHERE subject_hash = ?", hash);
  }

  /** How many keys the subject has now (0 after erasure, or before its first personal field). */
  keyCount(hash: string): number {
    return Number(this.#sql.exec("SELECT count(*) AS n FROM subject_keys WHERE subject_hash = ?", hash).one().n);
  }

  /** Decrypts for a reader: each field's plaintext, or that it was erased, or that it does not authenticate. */
  reveal(tenant: string, fields: readonly RevealRequest[]): RevealedField[] {
    return fields.map((f): RevealedField => {
      const parsed = parseEncryptedField(f.value);
      if (!parsed) return { state: "foreign" };
      let key = this.#keys.get(parsed.kid);
      if (!key) {
        const row = this.#sql.exec("SELECT subject_hash, wrapped FROM subject_keys WHERE kid = ?", parsed.kid).toArray()[0];
        if (!row) {
          const erased = this.#sql.exec("SELECT erased_at, erased_by FROM erased_keys WHERE kid = ?", parsed.kid).toArray()[0];
          if (!erased) return { state: "foreign" };
          return { state: "erased", erased_at: new Date(Number(erased.erased_at)).toISOString(), erased_by: Number(erased.erased_by) };
        }
        try {
          key = this.#unwrap(tenant, String(row.subject_hash), parsed.kid, new Uint8Array(row.wrapped as ArrayBuffer));
        } catch {
          return { state: "undecryptable" };
        }
      }
      try {
        const plain = gcm(key, parsed.nonce, fieldAad(tenant, f.seq, f.path, parsed.kid)).decrypt(parsed.sealed);
        return { state: "decrypted", json: new TextDecoder().decode(plain) };
      } catch {
        return { state: "undecryptable" };
      }
    });
  }

  /**
   * What a reader sees of a stored event, inside this object: each encrypted field replaced by its
   * plaintext, ERASED_MARKER or UNDECRYPTABLE_MARKER. The Worker's reads use `reveal`
   * (src/worker/personal-view.ts). Never for what leaves the system on its own: log streams carry
   * personal fields only encrypted (docs/design.md "Streams").
   */
  readerEvent(tenant: string, seq: number, event: JsonObject): JsonObject {
    const found = encryptedFields(event);
    if (found.length === 0) return event;
    const shown = this.reveal(
      tenant,
      found.map((f) => ({ seq, path: f.path, value: String(valueAt(event, f.path)) })),
    );
    const replacements: { path: FieldPath; value: JsonValue }[] = [];
    for (const [i, r] of shown.entries()) {
      if (r.state === "foreign") continue;
      const value =
        r.state === "decrypted" ? (JSON.parse(r.json) as JsonValue) : r.state === "erased" ? ERASED_MARKER : UNDECRYPTABLE_MARKER;
      replacements.push({ path: found[i]!.path, value });
    }
    return replaceAt(event, replacements);
  }

  /**
   * `event` with each declared value replaced by a string as long as its encrypted form: what
   * entry-size.ts must count (an entry bundle holds at most 65,535 bytes per entry).
   */
  sizedLikeStored(event: JsonObject): JsonObject {
    const declared = this.#store.settings().personalFields;
    if (declared.length === 0) return event;
    const paths = personalPaths(event, declared);
    if (paths.length === 0) return event;
    return replaceAt(
      event,
      paths.map((path) => ({ path, value: "x".repeat(encryptedFieldLength(fieldPlaintext(valueAt(event, path)!).length)) })),
    );
  }
}
