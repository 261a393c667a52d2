/**
 * Every entry fits an entry bundle: c2sp.org/tlog-tiles prefixes each entry with a big-endian
 * uint16 length, so an entry has at most MAX_ENTRY_BYTES = 65,535 bytes (docs/design.md "Tiles").
 * A client's event is at most 32 KiB as canonical JSON (src/worker/event-schema.ts) and the
 * provenance the Worker stamps is clipped (src/worker/provenance.ts), so client entries stay far
 * below it; the service's own entries (names, e-mail addresses, queries it records) are checked
 * here, for every append, before anything is committed.
 */
import type { JsonObject } from "../core/entry";
import { MAX_ENTRY_BYTES } from "../core/tiles";

/**
 * Bytes an entry holds besides its event and provenance (entry.ts `encodeEntry`): the keys and
 * punctuation (about 100), `prev` (44), `received_at` (at most 27), `seq` (at most 16 digits), a
 * `clock_skew_ms` the sequencer may add to the provenance (at most 34), rounded up.
 */
const ENTRY_OVERHEAD_BYTES = 256;

/** An upper bound of the UTF-8 length of JSON.stringify(v): the RFC 8785 form has the same characters (event-schema.ts `canonicalSize`). */
function jsonBytesBound(v: unknown): number {
  const text = JSON.stringify(v);
  // Cheap when it is small: no character takes more than 3 bytes in UTF-8.
  if (text.length * 3 <= MAX_ENTRY_BYTES) return text.length * 3;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : 3; // a surrogate pair counts 6 for its 4 bytes
  }
  return bytes;
}

/** An upper bound of the bytes of the entry that would hold `event` (entry.ts `encodeEntry`). */
export function entryBytesBound(tenant: string, event: JsonObject, provenance: JsonObject): number {
  return ENTRY_OVERHEAD_BYTES + 6 * tenant.length + 2 + jsonBytesBound(event) + jsonBytesBound(provenance);
}

export type EntryTooLarge = { reason: "entry_too_large"; bytes: number; limit: number };

/** The refusal for a request any of whose entries could exceed MAX_ENTRY_BYTES, or undefined. */
export function oversizedEntry(tenant: string, items: readonly { event: JsonObject }[], provenance: JsonObject): EntryTooLarge | undefined {
  const provenanceBytes = jsonBytesBound(provenance);
  // The common case costs one bound per event; the exact count runs only near the limit.
  for (const item of items) {
    const bytes = ENTRY_OVERHEAD_BYTES + 6 * tenant.length + 2 + provenanceBytes + jsonBytesBound(item.event);
    if (bytes > MAX_ENTRY_BYTES) return { reason: "entry_too_large", bytes, limit: MAX_ENTRY_BYTES };
  }
  return undefined;
}
