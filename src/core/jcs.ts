/**
 * RFC 8785 JSON Canonicalization Scheme, via the maintained `canonicalize` package (it passes
 * the RFC's test cases, see test/core/jcs.test.ts). Preconditions (RFC 8785 §3.1, I-JSON,
 * RFC 7493): no lone surrogates, finite numbers only; both throw here, and the Worker's
 * strict JSON parser rejects them at the boundary long before this is called.
 */
import canonicalizeJson from "canonicalize";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export function canonicalize(value: JsonValue): string {
  const text = canonicalizeJson(value);
  if (text === undefined) throw new TypeError("value has no JSON representation");
  return text;
}
