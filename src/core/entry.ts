/**
 * Sealtrail entry bytes (docs/design.md "Entry bytes"): the UTF-8 of the RFC 8785 canonical JSON of
 * {"v":1,"tenant","seq","received_at","prev","event","provenance"}. `prev` is the base64
 * leaf hash of entry seq-1, or 32 zero bytes for seq 0, which makes the log a hash chain as
 * well as the leaves of an RFC 6962 Merkle tree (leaf hash = SHA-256(0x00 ‖ entry bytes)).
 */
import { toBase64 } from "./bytes";
import { HASH_SIZE, leafHashText, sha256Text, type Hash } from "./hash";
import { canonicalize, canonicalString, type JsonValue } from "./jcs";

export const ENTRY_VERSION = 1;

/** `prev` of entry 0: 32 zero bytes (docs/design.md "Entry bytes"). */
export const GENESIS_PREV: Hash = new Uint8Array(HASH_SIZE);

export type JsonObject = { [key: string]: JsonValue };

export interface EntryFields {
  tenant: string;
  seq: number;
  /** Server time in milliseconds since the epoch; written as an RFC 3339 UTC timestamp. */
  receivedAtMs: number;
  prev: Hash;
  event: JsonObject;
  provenance: JsonObject;
}

/** RFC 3339 / ISO 8601 UTC with milliseconds, the form `received_at` takes in entries. */
export const formatTimestamp = (ms: number): string => new Date(ms).toISOString();

/**
 * Encodes an entry as its canonical text (RFC 8785 of the object in the header comment).
 * Preconditions: `seq` is a non-negative safe integer, `prev` is 32 bytes, and
 * event/provenance are I-JSON (RFC 7493) values.
 *
 * The fixed part is written by hand in RFC 8785 §3.2.3 property order (event, prev,
 * provenance, received_at, seq, tenant, v): `prev` is base64 and `received_at` an ISO
 * timestamp, neither of which JSON escapes; `seq` is an integer, whose ES serialization
 * (§3.2.2.3) is its decimal digits. test/core/jcs-equivalence.test.ts proves the result
 * byte-equal to the `canonicalize` package applied to the whole object.
 */
export function encodeEntry(f: EntryFields): string {
  if (!Number.isSafeInteger(f.seq) || f.seq < 0) return canonicalize(entryObject(f)); // outside the precondition: the generic path
  return (
    `{"event":${canonicalize(f.event)},"prev":"${toBase64(f.prev)}","provenance":${canonicalize(f.provenance)}` +
    `,"received_at":"${formatTimestamp(f.receivedAtMs)}","seq":${f.seq},"tenant":${canonicalString(f.tenant)},"v":${ENTRY_VERSION}}`
  );
}

/** The entry as a JSON object, before canonicalization. */
export const entryObject = (f: EntryFields): JsonObject => ({
  v: ENTRY_VERSION,
  tenant: f.tenant,
  seq: f.seq,
  received_at: formatTimestamp(f.receivedAtMs),
  prev: toBase64(f.prev),
  event: f.event,
  provenance: f.provenance,
});

/** RFC 6962 §2.1 leaf hash of an entry's stored bytes. */
export const entryLeafHash = (entryText: string): Hash => leafHashText(entryText);

/**
 * The digest that identifies an event body for idempotency: SHA-256 of its canonical JSON,
 * so key order and whitespace in a retried request do not matter.
 */
export const eventDigest = (event: JsonObject): string => toBase64(sha256Text(canonicalize(event)));
