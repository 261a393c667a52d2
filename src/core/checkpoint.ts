/**
 * c2sp.org/tlog-checkpoint: the note text "<origin>\n<decimal tree size>\n<base64 root>\n"
 * followed by optional extension lines, signed as a c2sp.org/signed-note whose key name is
 * the origin.
 */
import { fromBase64, toBase64 } from "./bytes";
import { HASH_SIZE, type Hash } from "./hash";
import { openNote, type NoteError, type NoteVerifier } from "./note";
import { err, ok, type Result } from "./result";

export interface Checkpoint {
  origin: string;
  size: number;
  root: Hash;
  /** Optional extension lines (c2sp.org/tlog-checkpoint "Extension lines"). */
  extensions: string[];
}

export type CheckpointError =
  | NoteError
  | { reason: "malformed_checkpoint"; detail: string }
  | { reason: "origin_mismatch"; expected: string; got: string };

/** The checkpoint's note text. Requires a non-empty origin and a 32-byte root. */
export function formatCheckpoint(cp: Checkpoint): string {
  return `${[cp.origin, String(cp.size), toBase64(cp.root), ...cp.extensions].join("\n")}\n`;
}

/** Parses checkpoint note text (the body, without signatures). */
export function parseCheckpoint(text: string): Result<Checkpoint, CheckpointError> {
  const bad = (detail: string) => err<CheckpointError>({ reason: "malformed_checkpoint", detail });
  if (!text.endsWith("\n")) return bad("must end with a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) return bad("needs origin, size and root lines");
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) return bad("empty origin");
  // Decimal, no leading zeros (except "0"), and within the integers JavaScript holds exactly.
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) return bad("size is not a decimal integer");
  const root = fromBase64(rootText);
  if (!root || root.length !== HASH_SIZE) return bad("root is not a base64 SHA-256 hash");
  if (extensions.some((l) => l.length === 0)) return bad("empty extension line");
  return ok({ origin, size: Number(sizeText), root, extensions });
}

/**
 * Verifies a signed checkpoint: a valid signature by one of `verifiers`, and an origin equal
 * to `origin` (the key name, c2sp.org/tlog-checkpoint "Signed note format").
 */
export function openCheckpoint(note: string, origin: string, verifiers: readonly NoteVerifier[]): Result<Checkpoint, CheckpointError> {
  const opened = openNote(
    note,
    verifiers.filter((v) => v.name === origin),
  );
  if (!opened.ok) return opened;
  const cp = parseCheckpoint(opened.value.text);
  if (!cp.ok) return cp;
  if (cp.value.origin !== origin) return err({ reason: "origin_mismatch", expected: origin, got: cp.value.origin });
  return cp;
}
