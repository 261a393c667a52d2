/**
 * Outbound HTTP calls to addresses a tenant chose (witness submission prefixes): the rules every
 * such call follows (docs/design.md "Witnessing", "Outbound calls").
 *   - `https:` only, unless the deployment runs as local dev (`SEALTRAIL_LOCAL_DEV = "1"`, set by
 *     scripts/dev.mjs, test/e2e/server.ts and vitest.config.ts, never in wrangler.toml);
 *   - no credentials, query or fragment in the URL;
 *   - no private, loopback, link-local, shared, multicast or reserved IP literal, no metadata
 *     address, no `localhost`, `*.localhost`, `*.local`, `*.internal` or single-label host name
 *     (local dev allows loopback: 127.0.0.0/8, [::1], localhost);
 *   - a timeout covering the whole call, a bounded response body, and redirects never followed.
 * Host names are not resolved here (a Worker cannot resolve DNS before a fetch): a public name
 * pointing at a private address is left to the platform, whose fetch does not reach private
 * networks.
 */
import { readBounded } from "../core/bytes";

/** The variable that marks a local deployment (dev server, tests). Never set it in production. */
export const LOCAL_DEV_VAR = "SEALTRAIL_LOCAL_DEV";

/** Whether `env` is a local dev deployment (see LOCAL_DEV_VAR). */
export const isLocalDev = (env: object): boolean => (env as Record<string, unknown>)[LOCAL_DEV_VAR] === "1";

/** Each outbound call gives up after this long, response body included. */
export const OUTBOUND_TIMEOUT_MS = 10_000;
/** Response bodies longer than this are refused (a witness answers a few signature lines). */
export const OUTBOUND_MAX_RESPONSE_BYTES = 64 * 1024;
/** The longest URL accepted. */
export const OUTBOUND_MAX_URL_LENGTH = 2048;

export type UrlCheck = { ok: true; url: URL } | { ok: false; detail: string };

function ipv4(host: string): number[] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : undefined;
}

/** Why an IPv4 address is not public (RFC 6890 special-purpose ranges), or undefined. */
function ipv4Refusal([a, b, c]: number[], localDev: boolean): string | undefined {
  if (a === 127) return localDev ? undefined : "a loopback address";
  if (a === 169 && b === 254) return "a link-local or metadata address";
  if (a === 0 || a === 10 || (a === 172 && b! >= 16 && b! <= 31) || (a === 192 && b === 168)) return "a private address";
  if (a === 100 && b! >= 64 && b! <= 127) return "a shared (carrier-grade NAT) address";
  if ((a === 192 && b === 0 && (c === 0 || c === 2)) || (a === 198 && (b === 18 || b === 19)) || (a === 198 && b === 51 && c === 100))
    return "a reserved address";
  if (a === 203 && b === 0 && c === 113) return "a reserved address";
  if (a! >= 224) return "a multicast or reserved address";
  return undefined;
}

/** Expands an IPv6 literal (without brackets) to eight 16-bit groups, or undefined. */
function ipv6Groups(host: string): number[] | undefined {
  let text = host;
  const tail: number[] = [];
  const v4 = /:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(text);
  if (v4) {
    const p = ipv4(v4[1]!);
    if (!p) return undefined;
    tail.push((p[0]! << 8) | p[1]!, (p[2]! << 8) | p[3]!);
    text = text.slice(0, v4.index + 1);
    if (!text.endsWith("::")) text = text.slice(0, -1);
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string) => (s === "" ? [] : s.split(":").map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const total = head.length + rest.length + tail.length;
  if ([...head, ...rest].some(Number.isNaN) || total > 8 || (halves.length === 1 && total !== 8)) return undefined;
  return [...head, ...new Array<number>(8 - total).fill(0), ...rest, ...tail];
}

function ipv6Refusal(g: number[], localDev: boolean): string | undefined {
  const zeroPrefix = g.slice(0, 5).every((x) => x === 0);
  if (zeroPrefix && g[5] === 0 && g[6] === 0 && g[7]! <= 1) {
    if (g[7] === 1) return localDev ? undefined : "a loopback address";
    return "the unspecified address";
  }
  // IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d): judged as the IPv4 address.
  if ((zeroPrefix && g[5] === 0xffff) || (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0))) {
    return ipv4Refusal([g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255], localDev);
  }
  if ((g[0]! & 0xfe00) === 0xfc00) return "a private (unique local) address";
  if ((g[0]! & 0xffc0) === 0xfe80) return "a link-local address";
  if ((g[0]! & 0xff00) === 0xff00) return "a multicast address";
  if (g[0] === 0x2001 && g[1] === 0x0db8) return "a documentation address";
  if (g[0] === 0xfd00 && g[1] === 0x0ec2) return "a metadata address";
  return undefined;
}

const LOCAL_NAMES = /(^|\.)(localhost|local|internal|localdomain|home\.arpa)$/;

/** Checks a URL a tenant gave (a witness submission prefix) against the rules above. */
export function checkOutboundUrl(raw: string, localDev: boolean): UrlCheck {
  const refuse = (detail: string): UrlCheck => ({ ok: false, detail });
  if (raw.length > OUTBOUND_MAX_URL_LENGTH) return refuse(`longer than ${OUTBOUND_MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse("not an absolute URL");
  }
  if (url.protocol !== "https:" && !(localDev && url.protocol === "http:")) {
    return refuse(localDev ? "only http: and https: URLs" : "only https: URLs");
  }
  if (url.username || url.password) return refuse("no credentials in the URL");
  if (url.search || url.hash || raw.includes("?") || raw.includes("#")) return refuse("no query or fragment");
  // The WHATWG parser normalizes every IPv4 spelling (decimal, octal, hex, short forms) to
  // dotted decimal, and brackets IPv6 literals.
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  if (host.startsWith("[")) {
    const groups = ipv6Groups(host.slice(1, -1));
    if (!groups) return refuse("not a valid IPv6 address");
    const why = ipv6Refusal(groups, localDev);
    return why ? refuse(`the host is ${why}`) : { ok: true, url };
  }
  const v4 = ipv4(host);
  if (v4) {
    const why = ipv4Refusal(v4, localDev);
    return why ? refuse(`the host is ${why}`) : { ok: true, url };
  }
  if (/^[0-9.]+$/.test(host)) return refuse("not a valid IPv4 address");
  if (localDev && (host === "localhost" || host.endsWith(".localhost"))) return { ok: true, url };
  if (LOCAL_NAMES.test(host)) return refuse("the host is a local name");
  if (!host.includes(".")) return refuse("the host is a single-label name");
  if (host === "metadata.google.internal" || host === "metadata") return refuse("the host is a metadata service");
  return { ok: true, url };
}

export interface OutboundResponse {
  status: number;
  contentType: string;
  body: string;
}

export type OutboundResult = { ok: true; response: OutboundResponse } | { ok: false; detail: string; retry: boolean };

export interface OutboundPolicy {
  localDev: boolean;
  timeoutMs?: number;
  maxResponseBytes?: number;
}

/**
 * POSTs `body` (text) to `url` under the rules above. `retry` says whether the failure may be
 * transient (network, timeout) rather than refused by the rules.
 */
export function guardedPost(url: string, body: string, contentType: string, policy: OutboundPolicy): Promise<OutboundResult> {
  return guardedRequest(url, { method: "POST", body, headers: { "content-type": contentType } }, policy);
}

/** An outbound request: method, headers (the caller's, e.g. signatures) and a body. */
export interface OutboundRequest {
  method: "POST" | "PUT";
  headers: Record<string, string>;
  body: string | Uint8Array;
}

/**
 * Sends `request` to `url` under the rules above (log streams: signed webhooks, Splunk HEC,
 * Datadog, S3 PUTs). `retry` says whether the failure may be transient (network, TLS, timeout)
 * rather than refused by the rules.
 */
export async function guardedRequest(url: string, request: OutboundRequest, policy: OutboundPolicy): Promise<OutboundResult> {
  const checked = checkOutboundUrl(url, policy.localDev);
  if (!checked.ok) return { ok: false, detail: `refused URL: ${checked.detail}`, retry: false };
  const max = policy.maxResponseBytes ?? OUTBOUND_MAX_RESPONSE_BYTES;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("timed out")), policy.timeoutMs ?? OUTBOUND_TIMEOUT_MS);
  try {
    const res = await fetch(checked.url, {
      method: request.method,
      body: request.body,
      headers: request.headers,
      redirect: "manual",
      signal: controller.signal,
    });
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      return { ok: false, detail: `redirect (${res.status}) not followed`, retry: false };
    }
    const declared = Number(res.headers.get("content-length") ?? "0");
    if (declared > max) {
      await res.body?.cancel();
      return { ok: false, detail: `response larger than ${max} bytes`, retry: false };
    }
    const bytes = await readBounded(res.body, max);
    if (!bytes) return { ok: false, detail: `response larger than ${max} bytes`, retry: false };
    return {
      ok: true,
      response: { status: res.status, contentType: res.headers.get("content-type") ?? "", body: new TextDecoder().decode(bytes) },
    };
  } catch (e) {
    const timedOut = controller.signal.aborted;
    return { ok: false, detail: timedOut ? "timed out" : `network error: ${e instanceof Error ? e.message : String(e)}`, retry: true };
  } finally {
    clearTimeout(timer);
  }
}
