/**
 * c2sp.org/tlog-witness "add-checkpoint": the request body and the 409 body, as bytes on the wire.
 *
 *   old <decimal size>\n            (no leading zeroes; "0" for zero)
 *   <base64 hash>\n                 (0..63 consistency proof lines, RFC 6962 §2.1.2)
 *   \n
 *   <signed checkpoint note>
 *
 * A 409 Conflict answers `text/x.tlog.size`: the size of the latest cosigned checkpoint in
 * decimal and a newline. A 200 answers signature lines (src/core/cosignature.ts parses them).
 */
import { fromBase64, toBase64 } from "./bytes";
import { HASH_SIZE, type Hash } from "./hash";
import { err, ok, type Result } from "./result";

/** tlog-witness: "The client MUST NOT send more than 63 consistency proof lines." */
export const MAX_PROOF_LINES = 63;
/** tlog-witness: the content type of a 409 body. */
export const TLOG_SIZE_CONTENT_TYPE = "text/x.tlog.size";

export interface AddCheckpointRequest {
  oldSize: number;
  proof: Hash[];
  /** The signed checkpoint note, verbatim. */
  checkpoint: string;
}

export type AddCheckpointParseError = { reason: "malformed_request"; detail: string };

const DECIMAL = /^(0|[1-9][0-9]*)$/;

export function formatAddCheckpoint(req: AddCheckpointRequest): string {
  return `old ${req.oldSize}\n${req.proof.map((h) => `${toBase64(h)}\n`).join("")}\n${req.checkpoint}`;
}

/** Parses an add-checkpoint body. Any deviation (400 Bad Request) is `malformed_request`. */
export function parseAddCheckpoint(body: string): Result<AddCheckpointRequest, AddCheckpointParseError> {
  const bad = (detail: string) => err<AddCheckpointParseError>({ reason: "malformed_request", detail });
  const blank = body.indexOf("\n\n");
  if (blank < 0) return bad("no empty line before the checkpoint");
  const [first, ...proofLines] = body.slice(0, blank).split("\n");
  const size = /^old (.*)$/.exec(first ?? "");
  if (!size || !DECIMAL.test(size[1]!) || !Number.isSafeInteger(Number(size[1]))) return bad("bad old size line");
  if (proofLines.length > MAX_PROOF_LINES) return bad(`more than ${MAX_PROOF_LINES} consistency proof lines`);
  const proof: Hash[] = [];
  for (const line of proofLines) {
    const h = fromBase64(line);
    if (!h || h.length !== HASH_SIZE) return bad("a consistency proof line is not a base64 SHA-256 hash");
    proof.push(h);
  }
  return ok({ oldSize: Number(size[1]), proof, checkpoint: body.slice(blank + 2) });
}

/** The 409 body: "<size>\n". */
export const formatTlogSize = (size: number): string => `${size}\n`;

/** Parses a 409 body ("<decimal>\n"); undefined if it is not one. */
export function parseTlogSize(body: string): number | undefined {
  const m = /^(0|[1-9][0-9]*)\n$/.exec(body);
  return m && Number.isSafeInteger(Number(m[1])) ? Number(m[1]) : undefined;
}
