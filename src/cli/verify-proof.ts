/**
 * `sealtrail verify-proof`: checks one receipt offline. Uses only src/core: the entry's bytes
 * are hashed as an RFC 6962 leaf, and the c2sp.org/tlog-proof must show that leaf at its
 * index in a checkpoint signed by one of the given verifier keys.
 */
import { entryLeafHash } from "../core/entry";
import { parseVerifierKey, type NoteVerifier } from "../core/note";
import { verifyTlogProof, type TlogProofError } from "../core/tlog-proof";
import type { Result } from "../core/result";

export interface ProofReport {
  ok: boolean;
  index?: number;
  tree_size?: number;
  origin?: string;
  leaf_seq?: number;
  error?: TlogProofError | { reason: "entry_seq_mismatch"; expected: number; got: number } | { reason: "bad_key"; detail: string };
}

/**
 * The entry bytes from a file: either the bytes themselves, or the JSON that
 * GET /v1/tenants/:t/events/:seq returns (its "entry" field holds the bytes verbatim).
 */
export function entryBytesFrom(fileText: string): string {
  try {
    const parsed = JSON.parse(fileText) as unknown;
    if (typeof parsed === "object" && parsed !== null && typeof (parsed as { entry?: unknown }).entry === "string") {
      return (parsed as { entry: string }).entry;
    }
  } catch {
    // Not JSON at all: treat as raw bytes below.
  }
  // Canonical entries never end in a newline; one added by a shell or editor is not part of them.
  return fileText.endsWith("\n") ? fileText.slice(0, -1) : fileText;
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

export function verifyProofFiles(proofText: string, entryText: string, keys: readonly string[]): ProofReport {
  const verifiers = verifiersFrom(keys);
  if (!verifiers.ok) return { ok: false, error: verifiers.error };
  const origin = verifiers.value[0]?.name ?? "";
  const entry = entryBytesFrom(entryText);
  const result = verifyTlogProof(proofText, entryLeafHash(entry), origin, verifiers.value);
  if (!result.ok) return { ok: false, origin, error: result.error };
  let seq: number | undefined;
  try {
    seq = (JSON.parse(entry) as { seq?: number }).seq;
  } catch {
    seq = undefined;
  }
  if (seq !== result.value.index) {
    return { ok: false, origin, error: { reason: "entry_seq_mismatch", expected: result.value.index, got: seq ?? -1 } };
  }
  return { ok: true, index: result.value.index, tree_size: result.value.checkpoint.size, origin, leaf_seq: seq };
}
