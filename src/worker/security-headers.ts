/**
 * Headers on every response the Worker makes (the console's static files get theirs from
 * src/console/static/_headers). Nothing the Worker serves is meant to be framed, sniffed into
 * another type, or to pass the page's address on. A response that sets its own
 * Content-Security-Policy keeps it (the API reference page allows its inline style by hash);
 * every other one gets the strictest, which lets JSON, text and downloads work and would stop
 * any script or style in a response rendered as a page.
 */
import { toBase64 } from "../core/bytes";
import { sha256Text } from "../core/hash";

export const DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** A CSP for a page of the Worker's own that has no script and only the given inline styles. */
export const pageCsp = (inlineStyles: readonly string[]): string =>
  `default-src 'none'; style-src ${inlineStyles.map((s) => `'sha256-${toBase64(sha256Text(s))}'`).join(" ")}; ` +
  "img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * X-Frame-Options: DENY everywhere, except on a page whose own CSP lets named origins frame it
 * (the embeddable viewer, routes/viewer.ts): there `frame-ancestors` decides, and DENY would
 * contradict it in browsers that read only X-Frame-Options.
 */
export function setSecurityHeaders(headers: Headers): void {
  if (!headers.has("content-security-policy")) headers.set("content-security-policy", DEFAULT_CSP);
  headers.set("x-content-type-options", "nosniff");
  headers.set("referrer-policy", "no-referrer");
  const ancestors = /(?:^|;)\s*frame-ancestors\s+([^;]*)/.exec(headers.get("content-security-policy") ?? "")?.[1]?.trim();
  if (ancestors === undefined || ancestors === "'none'") headers.set("x-frame-options", "DENY");
  else headers.delete("x-frame-options");
}
