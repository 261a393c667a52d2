/**
 * `sealtrail verify-proof`: checks one receipt offline. Uses only src/core: the entry's bytes
 * are hashed as an RFC 6962 leaf, and the c2sp.org/tlog-proof must show that leaf at its
 * index in a checkpoint signed by one of the given verifier keys.
 *
 * Two kinds of entry:
 * - a Sealtrail entry (`--entry`): its bytes, or the JSON of GET /v1/tenants/:t/events/:seq.
 *   Its `seq` must be the proof's index, and every field of that JSON a person reads
 *   (`event`, `provenance`, `seq`, `received_at`, `leaf_hash`) must say what the verified
 *   bytes (`entry`) say: the proof covers the bytes, not the fields beside them.
 * - any transparency log's entry (`--entry-raw`): the file's exact bytes are the leaf input;
 *   only the proof and the checkpoint's signature are checked (c2sp.org/tlog-proof).
 */
import { toBase64 } from "../core/bytes";
import { entryLeafHash } from "../core/entry";
import { leafHash } from "../core/hash";
import { canonicalize, type JsonValue } from "../core/jcs";
import { parseVerifierKey, type NoteVerifier } from "../core/note";
import { parseTlogProof, verifyTlogProof, type TlogProofError } from "../core/tlog-proof";
import type { Result } from "../core/result";
import { readJson } from "../core/strict-json";
import { checkWitnesses, type WitnessPolicy } from "./witnesses";

export type ProofFailure =
  | TlogProofError
  | { reason: "entry_seq_mismatch"; expected: number; got: number }
  | { reason: "not_a_sealtrail_entry"; detail: string }
  | { reason: "entry_duplicate_key"; key: string }
  | { reason: "entry_fields_mismatch"; fields: string[] }
  | { reason: "bad_key"; detail: string }
  | { reason: "witness_quorum"; detail: string };

export interface ProofReport {
  ok: boolean;
  index?: number;
  tree_size?: number;
  origin?: string;
  leaf_seq?: number;
  /** Fields of the entry JSON that the entry bytes do not contain: not verified. */
  unverified_fields?: string[];
  /** With --witness: the witnesses whose cosignatures on the proof's checkpoint verified. */
  cosigned_by?: string[];
  error?: ProofFailure;
}

/** What `--entry` (a Sealtrail entry: bytes or the API's JSON) or `--entry-raw` (exact leaf bytes) gave. */
export type EntryFile = { format: "sealtrail"; text: string } | { format: "raw"; bytes: Uint8Array };

/** The fields of GET /v1/tenants/:t/events/:seq that are derived from the entry bytes. */
const VIEW_FIELDS = ["event", "provenance", "seq", "received_at", "leaf_hash"] as const;

interface SealtrailEntry {
  /** The entry's exact bytes (as text). */
  bytes: string;
  /** The API's JSON around them, if that is what the file held. */
  view?: Record<string, unknown>;
}

/** Nesting allowed when reading the file strictly: far above what an entry's JSON holds. */
const STRICT_DEPTH = 256;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The entry from a file: either the bytes themselves, or the JSON that
 * GET /v1/tenants/:t/events/:seq returns (its "entry" field holds the bytes verbatim).
 */
function sealtrailEntryFrom(
  fileText: string,
): Result<SealtrailEntry, { reason: "not_a_sealtrail_entry"; detail: string } | { reason: "entry_duplicate_key"; key: string }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fileText);
  } catch {
    parsed = undefined;
  }
  // A key written twice reads one way to a person (the first) and another to JSON.parse (the
  // last): such a file says two things, and is refused as the server's strict parser would.
  const strict = readJson(new TextEncoder().encode(fileText), STRICT_DEPTH);
  if (!strict.ok && strict.error.reason === "duplicate_key")
    return { ok: false, error: { reason: "entry_duplicate_key", key: strict.error.key } };
  if (isObject(parsed) && typeof parsed.entry === "string") return { ok: true, value: { bytes: parsed.entry, view: parsed } };
  if (isObject(parsed) && typeof parsed.seq === "number" && "v" in parsed) {
    // Canonical entries never end in a newline; one added by a shell or editor is not part of them.
    return { ok: true, value: { bytes: fileText.endsWith("\n") ? fileText.slice(0, -1) : fileText } };
  }
  return {
    ok: false,
    error: {
      reason: "not_a_sealtrail_entry",
      detail:
        "neither Sealtrail entry bytes nor the JSON of GET /v1/tenants/:t/events/:seq; for another log's entry, give its exact bytes with --entry-raw",
    },
  };
}

/** Canonical JSON of a parsed value, or undefined if it has none (RFC 8785 refuses it). */
function canonical(v: unknown): string | undefined {
  try {
    return canonicalize(v as JsonValue);
  } catch {
    return undefined;
  }
}

/**
 * The fields of `view` (the API's JSON) that differ from what the verified `bytes` say, and
 * those the bytes do not hold at all. Fields are compared as RFC 8785 canonical JSON, so key
 * order and whitespace do not matter; a missing field is not a difference.
 */
function compareView(view: Record<string, unknown>, bytes: string): { differ: string[]; unverified: string[] } {
  const inner = JSON.parse(bytes) as Record<string, unknown>;
  const differ: string[] = [];
  for (const field of VIEW_FIELDS) {
    if (!(field in view)) continue;
    const claimed = canonical(view[field]);
    const actual = field === "leaf_hash" ? canonical(toBase64(entryLeafHash(bytes))) : canonical(inner[field]);
    if (claimed === undefined || claimed !== actual) differ.push(field);
  }
  const known = new Set<string>([...VIEW_FIELDS, "entry"]);
  const unverified = Object.keys(view).filter((k) => !known.has(k) && !(k in inner));
  // Other fields the bytes hold too (tenant, prev, v): those must agree as well.
  for (const k of Object.keys(view)) {
    if (!known.has(k) && k in inner && canonical(view[k]) !== canonical(inner[k])) differ.push(k);
  }
  return { differ, unverified };
}

export function verifiersFrom(keys: readonly string[]): Result<NoteVerifier[], { reason: "bad_key"; detail: string }> {
  const out: NoteVerifier[] = [];
  for (const k of keys) {
    const v = parseVerifierKey(k.trim());
    if (!v.ok) return { ok: false, error: { reason: "bad_key", detail: `${k}: ${v.error.reason}` } };
    out.push(v.value);
  }
  return { ok: true, value: out };
}

/**
 * Verifies a tlog-proof for an entry against pinned keys. The checkpoint's origin must be the
 * first key's name (c2sp.org/tlog-checkpoint: the log's key is named after its origin).
 * A string entry is a Sealtrail entry (`--entry`).
 */
export function verifyProofFiles(
  proofText: string,
  entryFile: string | EntryFile,
  keys: readonly string[],
  witnesses?: WitnessPolicy,
): ProofReport {
  const report = verifyProofOnly(proofText, entryFile, keys);
  if (!report.ok || !witnesses) return report;
  // The proof verified, so it parses: its checkpoint must carry the witness quorum.
  const parsed = parseTlogProof(proofText);
  const checked = parsed.ok ? checkWitnesses(parsed.value.checkpoint, witnesses) : { ok: false as const, detail: "malformed proof" };
  if (!checked.ok) return { ...report, ok: false, error: { reason: "witness_quorum", detail: checked.detail } };
  return { ...report, cosigned_by: checked.cosigned_by };
}

function verifyProofOnly(proofText: string, entryFile: string | EntryFile, keys: readonly string[]): ProofReport {
  const verifiers = verifiersFrom(keys);
  if (!verifiers.ok) return { ok: false, error: verifiers.error };
  const origin = verifiers.value[0]?.name ?? "";
  const file: EntryFile = typeof entryFile === "string" ? { format: "sealtrail", text: entryFile } : entryFile;
  if (file.format === "raw") {
    const result = verifyTlogProof(proofText, leafHash(file.bytes), origin, verifiers.value);
    if (!result.ok) return { ok: false, origin, error: result.error };
    return { ok: true, index: result.value.index, tree_size: result.value.checkpoint.size, origin };
  }
  const entry = sealtrailEntryFrom(file.text);
  if (!entry.ok) return { ok: false, origin, error: entry.error };
  const bytes = entry.value.bytes;
  const result = verifyTlogProof(proofText, entryLeafHash(bytes), origin, verifiers.value);
  if (!result.ok) return { ok: false, origin, error: result.error };
  let seq: number | undefined;
  try {
    seq = (JSON.parse(bytes) as { seq?: number }).seq;
  } catch {
    seq = undefined;
  }
  if (seq !== result.value.index) {
    return { ok: false, origin, error: { reason: "entry_seq_mismatch", expected: result.value.index, got: seq ?? -1 } };
  }
  // The bytes are in the log. What a person reads beside them must be what they say.
  const { differ, unverified } = entry.value.view ? compareView(entry.value.view, bytes) : { differ: [], unverified: [] };
  if (differ.length > 0)
    return { ok: false, origin, index: result.value.index, error: { reason: "entry_fields_mismatch", fields: differ } };
  return {
    ok: true,
    index: result.value.index,
    tree_size: result.value.checkpoint.size,
    origin,
    leaf_seq: seq,
    ...(unverified.length > 0 ? { unverified_fields: unverified } : {}),
  };
}

/** One line saying why a proof failed, for people. */
export function describeProofFailure(e: ProofFailure): string {
  switch (e.reason) {
    case "entry_fields_mismatch": {
      const one = e.fields.length === 1;
      return `${e.fields.map((f) => `"${f}"`).join(", ")} ${one ? "differs" : "differ"} from the entry's verified bytes ("entry", which are in the log): the JSON was edited; do not trust ${one ? "that field" : "those fields"}`;
    }
    case "entry_seq_mismatch":
      return `the proof is for entry ${e.expected}, but the entry's seq is ${e.got}`;
    case "not_a_sealtrail_entry":
      return `not a Sealtrail entry: ${e.detail}`;
    case "entry_duplicate_key":
      return `the entry file has the key ${JSON.stringify(e.key)} more than once: what a person reads and what a parser reads may differ; do not trust it`;
    default:
      return "detail" in e && typeof e.detail === "string" ? `${e.reason}: ${e.detail}` : e.reason;
  }
}
