/**
 * The witness's refusals and the one map from them to HTTP (c2sp.org/tlog-witness
 * "add-checkpoint" names each status). Like src/worker/errors.ts for the API: code elsewhere
 * returns a `WitnessError`, and only `toResponse` picks a status, a content type and a body.
 */
import { formatTlogSize, TLOG_SIZE_CONTENT_TYPE } from "../core/tlog-witness";

export type WitnessError =
  // 400: the body is not an add-checkpoint request, or its note or checkpoint is malformed.
  | { reason: "malformed_request"; detail: string }
  // 400: "The old size MUST be equal to or lower than the checkpoint size."
  | { reason: "old_size_too_large"; oldSize: number; size: number }
  // 404: "If the checkpoint origin is unknown, the witness MUST respond with a 404."
  | { reason: "unknown_log"; origin: string }
  // 403: no signature by a trusted key, or a trusted key's signature fails to verify.
  | { reason: "bad_log_signature"; detail: string }
  // 409: the old size is not the size of the latest cosigned checkpoint (body: that size).
  | { reason: "size_mismatch"; latest: number }
  // 422: the consistency proof does not verify, a proof from size 0, other roots for the same
  // size, or a size-0 checkpoint whose root is not the empty tree's.
  | { reason: "inconsistent"; detail: string }
  // Not the protocol: other paths and methods, oversized bodies, a witness without a key.
  | { reason: "not_found" }
  | { reason: "method_not_allowed"; allow: string }
  | { reason: "body_too_large"; limit: number }
  | { reason: "misconfigured"; detail: string };

const TEXT = "text/plain; charset=utf-8";

/** The response for a refusal. Bodies are one short line; configuration details stay in the logs. */
export function toResponse(e: WitnessError): Response {
  const text = (status: number, body: string, headers: Record<string, string> = {}) =>
    new Response(`${body}\n`, { status, headers: { "content-type": TEXT, ...headers } });
  switch (e.reason) {
    case "malformed_request":
      return text(400, `malformed request: ${e.detail}`);
    case "old_size_too_large":
      return text(400, `old size ${e.oldSize} is larger than the checkpoint size ${e.size}`);
    case "unknown_log":
      return text(404, "unknown log origin");
    case "bad_log_signature":
      return text(403, `checkpoint signature: ${e.detail}`);
    case "size_mismatch":
      return new Response(formatTlogSize(e.latest), { status: 409, headers: { "content-type": TLOG_SIZE_CONTENT_TYPE } });
    case "inconsistent":
      return text(422, `inconsistent: ${e.detail}`);
    case "not_found":
      return text(404, "not found");
    case "method_not_allowed":
      return text(405, "method not allowed", { allow: e.allow });
    case "body_too_large":
      return text(413, `request body larger than ${e.limit} bytes`);
    case "misconfigured":
      console.error(`witness misconfigured: ${e.detail}`);
      return text(503, "witness misconfigured");
  }
}
