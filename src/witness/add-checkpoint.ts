/**
 * c2sp.org/tlog-witness "add-checkpoint", as two steps:
 * - `checkRequest` (the Worker, stateless): the body parses (400), the origin is a trusted log
 *   (404), the checkpoint is signed by a trusted key and no trusted key's signature fails (403),
 *   the old size is not above the checkpoint's size (400);
 * - `decide` (the origin's Durable Object, against the latest cosigned checkpoint it stored):
 *   the old size is that checkpoint's size (409), a size-0 checkpoint has the empty tree's root,
 *   a proof from size 0 is empty, and the consistency proof verifies from the stored root (422).
 * Only then does the Durable Object cosign and store the new checkpoint.
 */
import { equalBytes, utf8 } from "../core/bytes";
import { parseCheckpoint } from "../core/checkpoint";
import { splitSignedNote } from "../core/cosignature";
import { EMPTY_TREE_HASH, type Hash } from "../core/hash";
import { verifyConsistency } from "../core/merkle";
import { err, ok, type Result } from "../core/result";
import { parseAddCheckpoint } from "../core/tlog-witness";
import type { TrustedLog } from "./config";
import type { WitnessError } from "./errors";

/** What the Worker hands the origin's Durable Object: a request whose checkpoint is verified. */
export interface VerifiedSubmission {
  origin: string;
  oldSize: number;
  proof: Hash[];
  size: number;
  root: Hash;
  /** The checkpoint's note text (origin, size, root, extension lines), ending in "\n". */
  body: string;
  /** The note's signature lines by the log's trusted keys (each ending in "\n"), kept for monitors. */
  logSignatures: string;
}

/** The latest cosigned checkpoint of one log, as its Durable Object stores it. */
export interface Latest {
  size: number;
  root: Hash;
}

const NOTE_SIZE_LIMIT = 256 * 1024;

/** Parses and checks what needs no state (see the file's comment), in the spec's order. */
export function checkRequest(body: string, logs: ReadonlyMap<string, TrustedLog>): Result<VerifiedSubmission, WitnessError> {
  const req = parseAddCheckpoint(body);
  if (!req.ok) return err({ reason: "malformed_request", detail: req.error.detail });
  const note = req.value.checkpoint;
  if (note.length > NOTE_SIZE_LIMIT) return err({ reason: "malformed_request", detail: "checkpoint too large" });
  const split = splitSignedNote(note);
  if (!split.ok) return err({ reason: "malformed_request", detail: "detail" in split.error ? split.error.detail : split.error.reason });
  const { text, signatures } = split.value;
  const cp = parseCheckpoint(text);
  if (!cp.ok) return err({ reason: "malformed_request", detail: "detail" in cp.error ? cp.error.detail : cp.error.reason });
  const log = logs.get(cp.value.origin);
  if (!log) return err({ reason: "unknown_log", origin: cp.value.origin });
  // c2sp.org/signed-note "Signatures": lines by unknown keys are ignored; every line whose key
  // name and ID match a trusted key is verified, and one that fails refuses the note (every
  // line, not only the first per key: tlog-witness answers 403 to any such line); at least one
  // trusted key must have signed.
  const message = utf8(text);
  const verified: string[] = [];
  for (const s of signatures) {
    const known = log.verifiers.find((v) => v.name === s.name && v.keyId === s.keyId);
    if (!known) continue;
    if (!known.verify(message, s.signature)) return err({ reason: "bad_log_signature", detail: `invalid signature by ${s.name}` });
    if (!verified.includes(s.line)) verified.push(s.line);
  }
  if (verified.length === 0) return err({ reason: "bad_log_signature", detail: "no signature by a key trusted for this origin" });
  const { oldSize, proof } = req.value;
  if (oldSize > cp.value.size) return err({ reason: "old_size_too_large", oldSize, size: cp.value.size });
  const logSignatures = verified.map((line) => `${line}\n`).join("");
  return ok({ origin: cp.value.origin, oldSize, proof, size: cp.value.size, root: cp.value.root, body: text, logSignatures });
}

/** Whether `sub` may be cosigned after `latest` (undefined: never cosigned for this origin). */
export function decide(latest: Latest | undefined, sub: VerifiedSubmission): Result<void, WitnessError> {
  const latestSize = latest?.size ?? 0;
  // "If it doesn't match, the witness MUST respond with a 409 Conflict."
  if (sub.oldSize !== latestSize) return err({ reason: "size_mismatch", latest: latestSize });
  // "A checkpoint of size zero MUST have the root hash of the empty tree."
  if (sub.size === 0 && !equalBytes(sub.root, EMPTY_TREE_HASH)) {
    return err({ reason: "inconsistent", detail: "a size-0 checkpoint must have the empty tree's root" });
  }
  if (sub.oldSize === 0) {
    // "If the old size is zero, the consistency proof MUST be empty."
    if (sub.proof.length > 0) return err({ reason: "inconsistent", detail: "a consistency proof from size 0 must be empty" });
    return ok(undefined);
  }
  // latest is defined here: latestSize = oldSize > 0. The proof is checked against the root
  // the witness stored, never one the client sends; equal sizes need equal roots.
  const checked = verifyConsistency(sub.oldSize, sub.size, sub.proof, latest!.root, sub.root);
  if (!checked.ok) {
    const sameSize = sub.oldSize === sub.size && checked.error.reason === "root_mismatch";
    const detail = sameSize ? "another root for the size already cosigned" : `consistency proof: ${checked.error.reason}`;
    return err({ reason: "inconsistent", detail });
  }
  return ok(undefined);
}
