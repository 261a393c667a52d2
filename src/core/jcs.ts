/**
 * RFC 8785 JSON Canonicalization Scheme for plain JSON values (what a JSON parser returns:
 * objects, arrays, strings, finite numbers, booleans, null).
 *
 * Hand-written for speed (issue #8: the generic `canonicalize` package was the largest core
 * cost per entry); test/core/jcs-equivalence.test.ts proves it byte-equal to that package
 * with fast-check, and test/core/jcs.test.ts runs the RFC's vectors. How it meets RFC 8785:
 * - §3.2.2.2 strings: JSON.stringify's escaping is exactly the RFC's (it is defined by ES);
 * - §3.2.2.3 numbers: JSON.stringify(n) is ES Number-to-String, the RFC's serialization;
 * - §3.2.3 property order: Array.prototype.sort's default order compares UTF-16 code units.
 * Preconditions (RFC 8785 §3.1, I-JSON, RFC 7493): no lone surrogates, finite numbers only;
 * both throw here, and the Worker's strict JSON parser rejects them at the boundary.
 * Properties whose value is undefined are left out, as JSON.stringify (and the package) do.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Code units that JSON.stringify escapes (RFC 8785 §3.2.2.2: `"`, `\\`, U+0000–U+001F) and
 * surrogates (which may be lone). A string with none of them is its own JSON text between quotes.
 */
const NEEDS_ESCAPE_OR_CHECK = /["\\\u0000-\u001f\ud800-\udfff]/;

/** RFC 8785 §3.2.2.2: a string as JSON text; refuses lone surrogates (I-JSON). */
export function canonicalString(s: string): string {
  if (!NEEDS_ESCAPE_OR_CHECK.test(s)) return `"${s}"`;
  if (!s.isWellFormed()) throw new Error("Lone surrogate is not allowed");
  return JSON.stringify(s);
}

/**
 * `"key":` for object keys seen before: events repeat the same few keys. Bounded (short keys,
 * at most KEY_CACHE_LIMIT of them, never evicted): a cache of what no input can grow.
 */
const keyCache = new Map<string, string>();
const KEY_CACHE_LIMIT = 1024;
const KEY_CACHE_MAX_LENGTH = 64;

function keyText(key: string): string {
  const cached = keyCache.get(key);
  if (cached !== undefined) return cached;
  const text = `${canonicalString(key)}:`;
  if (key.length <= KEY_CACHE_MAX_LENGTH && keyCache.size < KEY_CACHE_LIMIT) keyCache.set(key, text);
  return text;
}

function sorted(keys: string[]): string[] {
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) return keys.sort();
  }
  return keys;
}

/** Only plain objects are JSON objects: a Date, Map or class instance is refused, not guessed at. */
function assertPlain(value: object): void {
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) throw new TypeError("value has no JSON representation");
}

function write(value: JsonValue | undefined): string {
  switch (typeof value) {
    case "string":
      return canonicalString(value);
    case "number":
      if (!Number.isFinite(value)) throw new Error(Number.isNaN(value) ? "NaN is not allowed" : "Infinity is not allowed");
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ",";
          const item = value[i];
          out += item === undefined ? "null" : write(item);
        }
        return `${out}]`;
      }
      assertPlain(value);
      let out = "{";
      for (const key of sorted(Object.keys(value))) {
        const item = value[key];
        if (item === undefined) continue;
        out += (out.length === 1 ? "" : ",") + keyText(key) + write(item);
      }
      return `${out}}`;
    }
    default:
      throw new TypeError("value has no JSON representation");
  }
}

/**
 * RFC 8785 canonical JSON text of `value`, written directly: keys sorted by UTF-16 code units
 * (§3.2.3; array-index keys, which JavaScript enumerates first, are sorted like any other),
 * strings and numbers in JSON.stringify's forms (see above). Measured in workerd (issue #15):
 * about twice as fast as a key-sorted copy serialized by JSON.stringify, which it replaced.
 */
export function canonicalize(value: JsonValue): string {
  return write(value);
}
