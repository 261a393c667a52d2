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

/** RFC 8785 §3.2.2.2: a string as JSON text; refuses lone surrogates (I-JSON). */
export function canonicalString(s: string): string {
  if (!s.isWellFormed()) throw new Error("Lone surrogate is not allowed");
  return JSON.stringify(s);
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
      let first = true;
      for (const key of sorted(Object.keys(value))) {
        const item = value[key];
        if (item === undefined) continue;
        out += `${(first ? "" : ",") + canonicalString(key)}:${write(item)}`;
        first = false;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError("value has no JSON representation");
  }
}

/** True for keys that JavaScript objects enumerate before all others (array indices). */
const INDEX_KEY = /^(?:0|[1-9][0-9]*)$/;

/**
 * A copy of `value` whose objects have their keys inserted in RFC 8785 order, checking every
 * string and number on the way; UNORDERABLE if some object has an array-index key ("0", "12"),
 * which JavaScript would enumerate first whatever the insertion order, or a "__proto__" key,
 * which an assignment would not copy.
 */
function sortedCopy(value: JsonValue | undefined): JsonValue | undefined | typeof UNORDERABLE {
  switch (typeof value) {
    case "string":
      if (!value.isWellFormed()) throw new Error("Lone surrogate is not allowed");
      return value;
    case "number":
      if (!Number.isFinite(value)) throw new Error(Number.isNaN(value) ? "NaN is not allowed" : "Infinity is not allowed");
      return value;
    case "boolean":
      return value;
    case "object": {
      if (value === null) return null;
      if (Array.isArray(value)) {
        const out: JsonValue[] = new Array(value.length);
        for (let i = 0; i < value.length; i++) {
          const item = value[i];
          const copy = item === undefined ? null : sortedCopy(item);
          if (copy === UNORDERABLE) return UNORDERABLE;
          out[i] = copy as JsonValue;
        }
        return out;
      }
      assertPlain(value);
      const out: { [key: string]: JsonValue } = {};
      for (const key of sorted(Object.keys(value))) {
        if (!key.isWellFormed()) throw new Error("Lone surrogate is not allowed");
        // An own "__proto__" key (JSON.parse makes one) would set the copy's prototype instead.
        if (INDEX_KEY.test(key) || key === "__proto__") return UNORDERABLE;
        const item = value[key];
        if (item === undefined) continue;
        const copy = sortedCopy(item);
        if (copy === UNORDERABLE) return UNORDERABLE;
        out[key] = copy as JsonValue;
      }
      return out;
    }
    default:
      throw new TypeError("value has no JSON representation");
  }
}
const UNORDERABLE = Symbol("unorderable");

/**
 * RFC 8785 canonical JSON text of `value`. Fast path: a key-sorted copy serialized by the
 * native JSON.stringify (whose string and number forms are the RFC's, see above); objects
 * with array-index keys take the hand-written serializer instead.
 */
export function canonicalize(value: JsonValue): string {
  const copy = sortedCopy(value);
  return copy === UNORDERABLE ? write(value) : JSON.stringify(copy);
}
