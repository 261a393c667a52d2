/** The add-checkpoint request body, read with a bound. */
import type { WitnessError } from "./errors";

/** The largest add-checkpoint body read: 63 proof lines and a note with many post-quantum signatures fit. */
export const BODY_LIMIT = 512 * 1024;

/** The body as UTF-8 text, read up to `BODY_LIMIT` bytes; a longer or non-UTF-8 body is refused. */
export async function readBody(request: Request): Promise<string | WitnessError> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > BODY_LIMIT) return { reason: "body_too_large", limit: BODY_LIMIT };
  const chunks: Uint8Array[] = [];
  let length = 0;
  if (request.body) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      length += value.length;
      if (length > BODY_LIMIT) {
        await reader.cancel();
        return { reason: "body_too_large", limit: BODY_LIMIT };
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return { reason: "malformed_request", detail: "the body is not UTF-8" };
  }
}
