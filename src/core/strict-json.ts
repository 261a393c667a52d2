/**
 * A strict JSON reader for request bodies: RFC 8259 grammar, plus the I-JSON rules of
 * RFC 7493 §2 that JSON.parse does not enforce. Entries are hashed as canonical JSON, so the
 * body must mean exactly one thing: duplicate member names, lone surrogates and numbers that
 * a double does not hold exactly as written (`storesExactly`) are refused rather than guessed at.
 */
import type { JsonValue } from "./jcs";
import type { Result } from "./result";

export type JsonReadError =
  | { reason: "invalid_utf8" }
  | { reason: "invalid_json"; offset: number }
  | { reason: "duplicate_key"; key: string; offset: number }
  | { reason: "reserved_key"; key: string; offset: number }
  | { reason: "lone_surrogate"; offset: number }
  | { reason: "number_out_of_range"; offset: number }
  | { reason: "too_deep"; limit: number };

class Stop extends Error {
  constructor(readonly detail: JsonReadError) {
    super(detail.reason);
  }
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const SIMPLE_STRING = /[^"\\\u0000-\u001f]*/y;
const ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/** Integers of at most 15 digits: always exactly a double (10^15 < 2^53), nothing to compare. */
const SHORT_INTEGER = /^-?(?:0|[1-9][0-9]{0,14})$/;
const DECIMAL = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/;

/** A JSON number's exact decimal value as "<sign><digits>e<exponent>", digits without leading or trailing zeros. */
function decimalValue(literal: string): string {
  const [, sign, whole, fraction = "", exp = "0"] = DECIMAL.exec(literal)!;
  const all = `${whole}${fraction}`.replace(/^0+/, "");
  const digits = all.replace(/0+$/, "");
  // Zero has one value (-0 is written "0" in canonical JSON).
  if (digits === "") return "0";
  return `${sign}${digits}e${Number(exp) - fraction.length + (all.length - digits.length)}`;
}

/**
 * The number rule (RFC 7493 §2.2, RFC 8785 §3.2.2.3). A number is accepted when the value it
 * writes is exactly the value of the canonical form of the double `n` it reads as, that is,
 * when the entry will store the very number the client wrote: `1e20`, `100000000000000000000`
 * and `1.0e+20` alike (stored as 100000000000000000000), `0.1` (stored as 0.1). Refused: values
 * beyond the double range (1e400) or rounded to zero (1e-400), and more digits than a double
 * holds (9007199254740993 or 0.10000000000000000555, which would be stored as another
 * number). Every spelling of one value gets the same answer, and the same stored bytes.
 */
function storesExactly(literal: string, n: number): boolean {
  if (!Number.isFinite(n)) return false;
  if (SHORT_INTEGER.test(literal)) return true;
  return decimalValue(literal) === decimalValue(JSON.stringify(n));
}

/** Reads UTF-8 bytes as JSON. `maxDepth` bounds nesting of arrays and objects. */
export function readJson(bytes: Uint8Array, maxDepth: number): Result<JsonValue, JsonReadError> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return { ok: false, error: { reason: "invalid_utf8" } };
  }
  try {
    return { ok: true, value: parseText(text, maxDepth) };
  } catch (e) {
    if (e instanceof Stop) return { ok: false, error: e.detail };
    throw e;
  }
}

function parseText(text: string, maxDepth: number): JsonValue {
  let i = 0;
  const fail = (): never => {
    throw new Stop({ reason: "invalid_json", offset: i });
  };
  const skipWs = () => {
    while (i < text.length && WS.has(text.charCodeAt(i))) i++;
  };

  const readString = (): string => {
    const start = i;
    i++; // opening quote
    let out = "";
    for (;;) {
      SIMPLE_STRING.lastIndex = i;
      SIMPLE_STRING.exec(text);
      out += text.slice(i, SIMPLE_STRING.lastIndex);
      i = SIMPLE_STRING.lastIndex;
      const c = text[i];
      if (c === '"') {
        i++;
        break;
      }
      if (c !== "\\") fail(); // control character or end of input
      const e = text[i + 1];
      if (e === "u") {
        const hex = text.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail();
        out += String.fromCharCode(parseInt(hex, 16));
        i += 6;
      } else if (e !== undefined && e in ESCAPES) {
        out += ESCAPES[e];
        i += 2;
      } else {
        fail();
      }
    }
    if (!out.isWellFormed()) throw new Stop({ reason: "lone_surrogate", offset: start });
    return out;
  };

  const readNumber = (): number => {
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) return fail();
    const token = m[0];
    const n = Number(token);
    if (!storesExactly(token, n)) throw new Stop({ reason: "number_out_of_range", offset: i });
    i += token.length;
    return n;
  };

  const readValue = (depth: number): JsonValue => {
    skipWs();
    const c = text[i];
    if (c === "{" || c === "[") {
      if (depth >= maxDepth) throw new Stop({ reason: "too_deep", limit: maxDepth });
      return c === "{" ? readObject(depth + 1) : readArray(depth + 1);
    }
    if (c === '"') return readString();
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return readNumber();
    for (const [word, value] of [
      ["true", true],
      ["false", false],
      ["null", null],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return value;
      }
    }
    return fail();
  };

  const readObject = (depth: number): JsonValue => {
    i++;
    const obj: { [key: string]: JsonValue } = {};
    const keys = new Set<string>();
    skipWs();
    if (text[i] === "}") {
      i++;
      return obj;
    }
    for (;;) {
      skipWs();
      if (text[i] !== '"') fail();
      const at = i;
      const key = readString();
      if (keys.has(key)) throw new Stop({ reason: "duplicate_key", key, offset: at });
      // JavaScript gives this name a meaning of its own (the prototype); libraries on the way
      // to the entry bytes (validation, RPC cloning) may drop or reinterpret it.
      if (key === "__proto__") throw new Stop({ reason: "reserved_key", key, offset: at });
      keys.add(key);
      skipWs();
      if (text[i] !== ":") fail();
      i++;
      obj[key] = readValue(depth);
      skipWs();
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "}") {
        i++;
        return obj;
      }
      fail();
    }
  };

  const readArray = (depth: number): JsonValue => {
    i++;
    const arr: JsonValue[] = [];
    skipWs();
    if (text[i] === "]") {
      i++;
      return arr;
    }
    for (;;) {
      arr.push(readValue(depth));
      skipWs();
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "]") {
        i++;
        return arr;
      }
      fail();
    }
  };

  const value = readValue(0);
  skipWs();
  if (i !== text.length) fail();
  return value;
}
