/** The add-checkpoint request body, read with a bound. */
import { readBounded } from "../core/bytes";
import type { WitnessError } from "./errors";

/** The largest add-checkpoint body read: 63 proof lines and a note with many post-quantum signatures fit. */
export const BODY_LIMIT = 512 * 1024;

/** The body as UTF-8 text, read up to `BODY_LIMIT` bytes; a longer or non-UTF-8 body is refused. */
export async function readBody(request: Request): Promise<string | WitnessError> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > BODY_LIMIT) return { reason: "body_too_large", limit: BODY_LIMIT };
  const bytes = await readBounded(request.body, BODY_LIMIT);
  if (!bytes) return { reason: "body_too_large", limit: BODY_LIMIT };
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return { reason: "malformed_request", detail: "the body is not UTF-8" };
  }
}
