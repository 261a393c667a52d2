/**
 * The number rule: a number in a request body is accepted when the value it writes is exactly a
 * value the log stores, that is, the value of the RFC 8785 canonical form (ECMAScript's shortest
 * round-trip decimal) of an IEEE 754 double; otherwise it is refused (`number_out_of_range`).
 * So every way of writing the same value (canonical, exponent form, trailing zeros, another
 * exponent) is accepted or refused alike, and when accepted is stored as the same bytes.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readJson } from "../../src/core/strict-json";
import { api, event, logOf, tenantWithKeys, mirroredDbOf } from "./helpers";

/** A decimal value as sign, significant digits (no leading or trailing zeros) and exponent. */
interface Decimal {
  negative: boolean;
  digits: string;
  exponent: number;
}

function decimalOf(literal: string): Decimal {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(literal)!;
  const all = `${m[2]}${m[3] ?? ""}`.replace(/^0+/, "");
  const digits = all.replace(/0+$/, "");
  const exponent = Number(m[4] ?? 0) - (m[3]?.length ?? 0) + (all.length - digits.length);
  return { negative: m[1] === "-", digits: digits || "0", exponent: digits ? exponent : 0 };
}

/** Many spellings of one decimal value, all valid JSON numbers. */
function spellings({ negative, digits, exponent }: Decimal): string[] {
  const sign = negative ? "-" : "";
  if (digits === "0") return ["0", "-0", "0.0", "0e5", "-0.000E-3"];
  const sci = exponent + digits.length - 1;
  const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const out = [
    `${sign}${mantissa}e${sci}`,
    `${sign}${mantissa}E+${sci}`.replace("E+-", "E-"),
    `${sign}${digits}e${exponent}`,
    `${sign}${digits}000e${exponent - 3}`,
    `${sign}0.${digits}e${exponent + digits.length}`,
    `${sign}${digits[0]}.${digits.slice(1)}000e${sci}`,
  ];
  // Positional, when it is not absurdly long.
  if (exponent >= 0 && exponent <= 40) out.push(`${sign}${digits}${"0".repeat(exponent)}`);
  if (exponent < 0 && exponent >= -40) {
    const padded = digits.padStart(-exponent + 1, "0");
    out.push(`${sign}${padded.slice(0, exponent)}.${padded.slice(exponent)}00`);
  }
  return out;
}

const finiteDouble = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer().map((i) => i * 1e15),
  fc.bigInt({ min: 0n, max: 10n ** 25n }).map((b) => Number(b)),
  fc.constantFrom(1e20, 1e21, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 0.1, 5e-324, 1.7976931348623157e308, -0),
);

const parseNumber = (literal: string) => readJson(new TextEncoder().encode(`{"n":${literal}}`), 4);
const storedForm = (literal: string): string | null => {
  const r = parseNumber(literal);
  return r.ok ? JSON.stringify((r.value as { n: number }).n) : null;
};

describe("the number rule: one value, one outcome, one stored form", () => {
  it("every spelling of a double's canonical value is accepted and reads as that double", () => {
    fc.assert(
      fc.property(finiteDouble, (x) => {
        const canonical = JSON.stringify(x);
        for (const literal of [canonical, ...spellings(decimalOf(canonical))]) {
          expect(storedForm(literal), literal).toBe(canonical);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("a value no double holds exactly is refused in every spelling", () => {
    // The canonical digits with a 1 appended far past a double's 17 significant digits.
    fc.assert(
      fc.property(finiteDouble, fc.integer({ min: 18, max: 40 }), (x, far) => {
        const d = decimalOf(JSON.stringify(x));
        const inexact: Decimal =
          d.digits === "0"
            ? { negative: false, digits: "1", exponent: -400 - far }
            : { negative: d.negative, digits: `${d.digits}${"0".repeat(far)}1`, exponent: d.exponent - far - 1 };
        for (const literal of spellings(inexact)) {
          const r = parseNumber(literal);
          expect(r.ok, literal).toBe(false);
          if (!r.ok) expect(r.error.reason).toBe("number_out_of_range");
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("examples: 1e20 and 100000000000000000000 alike; 2^53 + 1 refused in every form", () => {
    for (const [literals, stored] of [
      [["1e20", "100000000000000000000", "1.0e+20", "10e19"], "100000000000000000000"],
      [["1e21", "1000000000000000000000", "1E21"], "1e+21"],
      [["9007199254740993", "9.007199254740993e15", "9007199254740993.0"], null],
      [["12345678901234567890", "1.234567890123456789e19"], null],
      [["0.1", "1e-1", "0.10", "100e-3"], "0.1"],
      [["0.10000000000000000555", "1.0000000000000000555e-1"], null],
      [["1e-400", "0.1e-399"], null],
      [["1e400", "1e309"], null],
      [["-0", "0", "0.0e10"], "0"],
    ] as [string[], string | null][]) {
      for (const literal of literals) expect(storedForm(literal), literal).toBe(stored);
    }
  });

  it("through the API: the spellings of one value are stored as the same bytes, or all refused with nothing stored", async () => {
    const { tenant, appendKey, base } = await tenantWithKeys();
    const post = (events: unknown[], literals: string[]) => {
      let body = JSON.stringify({ events });
      for (const [i, l] of literals.entries()) body = body.replace(`"@${i}@"`, l);
      return api(`/v1/tenants/${tenant}/events`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": appendKey },
        body,
      });
    };
    // The keys' creation is logged: that is where the log starts for this test.
    let stored = base;
    await fc.assert(
      fc.asyncProperty(finiteDouble, fc.boolean(), async (x, exact) => {
        const d = decimalOf(JSON.stringify(x));
        const value: Decimal = exact || d.digits === "0" ? d : { ...d, digits: `${d.digits}${"0".repeat(20)}7`, exponent: d.exponent - 21 };
        const literals = spellings(value);
        if (exact || d.digits === "0") {
          const res = await post(
            literals.map((_, i) => event({ metadata: { n: `@${i}@` } })),
            literals,
          );
          expect(res.status, literals.join(" ")).toBe(201);
          const { receipts } = (await res.json()) as { receipts: { seq: number }[] };
          const { results } = await (await mirroredDbOf(tenant))
            .prepare("SELECT entry FROM audit_events WHERE tenant_id = ? AND seq >= ? AND seq <= ? ORDER BY seq")
            .bind(tenant, receipts[0]!.seq, receipts.at(-1)!.seq)
            .all<{ entry: string }>();
          const forms = results.map((r) => /"metadata":\{"n":([^}]*)\}/.exec(r.entry)![1]);
          expect(new Set(forms)).toEqual(new Set([JSON.stringify(x)]));
          stored += literals.length;
        } else {
          // Each spelling alone, and all of them in one batch: refused.
          for (const literal of literals) {
            const res = await post([event({ metadata: { n: "@0@" } })], [literal]);
            expect(res.status, literal).toBe(400);
            expect(((await res.json()) as { error: { code: string } }).error.code).toBe("number_out_of_range");
          }
        }
      }),
      { numRuns: 40 },
    );
    expect((await logOf(tenant).stats()).size).toBe(stored);
  });
});
