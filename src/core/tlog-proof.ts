/**
 * c2sp.org/tlog-proof@v1: an offline-verifiable proof that an entry is in a log.
 *
 *   c2sp.org/tlog-proof@v1
 *   [extra <base64>]
 *   index <decimal>
 *   <base64 hash>…          (RFC 6962 §2.1.1 audit path, leaf's sibling first)
 *   <empty line>
 *   <signed checkpoint>
 */
import { fromBase64, toBase64 } from "./bytes";
import { openCheckpoint, type Checkpoint, type CheckpointError } from "./checkpoint";
import { HASH_SIZE, type Hash } from "./hash";
import { verifyInclusion, type ProofError } from "./merkle";
import type { NoteVerifier } from "./note";
import { err, ok, type Result } from "./result";

export const TLOG_PROOF_V1 = "c2sp.org/tlog-proof@v1";

export interface TlogProof {
  index: number;
  path: Hash[];
  /** The signed checkpoint note, verbatim. */
  checkpoint: string;
  extra?: Uint8Array;
}

export type TlogProofError = { reason: "malformed_proof"; detail: string } | CheckpointError | ProofError;

export function formatTlogProof(p: TlogProof): string {
  const lines = [TLOG_PROOF_V1];
  if (p.extra) lines.push(`extra ${toBase64(p.extra)}`);
  lines.push(`index ${p.index}`, ...p.path.map(toBase64));
  return `${lines.join("\n")}\n\n${p.checkpoint}`;
}

export function parseTlogProof(text: string): Result<TlogProof, TlogProofError> {
  const bad = (detail: string) => err<TlogProofError>({ reason: "malformed_proof", detail });
  const split = text.indexOf("\n\n");
  if (split < 0) return bad("no empty line before the checkpoint");
  const lines = text.slice(0, split).split("\n");
  if (lines.shift() !== TLOG_PROOF_V1) return bad(`first line must be ${TLOG_PROOF_V1}`);
  let extra: Uint8Array | undefined;
  if (lines[0]?.startsWith("extra ")) {
    extra = fromBase64(lines.shift()!.slice("extra ".length));
    if (!extra) return bad("extra is not base64");
  }
  const indexLine = /^index (0|[1-9][0-9]*)$/.exec(lines.shift() ?? "");
  if (!indexLine || !Number.isSafeInteger(Number(indexLine[1]))) return bad("bad index line");
  const path: Hash[] = [];
  for (const line of lines) {
    const h = fromBase64(line);
    if (!h || h.length !== HASH_SIZE) return bad("proof line is not a base64 SHA-256 hash");
    path.push(h);
  }
  return ok({ index: Number(indexLine[1]), path, checkpoint: text.slice(split + 2), ...(extra ? { extra } : {}) });
}

/**
 * Verifies that `leaf` (an RFC 6962 leaf hash) is at the proof's index in the tree of a
 * checkpoint signed for `origin` by one of `verifiers`.
 */
export function verifyTlogProof(
  text: string,
  leaf: Hash,
  origin: string,
  verifiers: readonly NoteVerifier[],
): Result<{ index: number; checkpoint: Checkpoint }, TlogProofError> {
  const parsed = parseTlogProof(text);
  if (!parsed.ok) return parsed;
  const cp = openCheckpoint(parsed.value.checkpoint, origin, verifiers);
  if (!cp.ok) return cp;
  const included = verifyInclusion(parsed.value.index, cp.value.size, leaf, parsed.value.path, cp.value.root);
  if (!included.ok) return included;
  return ok({ index: parsed.value.index, checkpoint: cp.value });
}
