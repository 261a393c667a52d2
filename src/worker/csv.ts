/**
 * CSV for spreadsheets (RFC 4180 quoting) that cannot be turned against the person opening it:
 * a cell that starts with = + - @, a tab or a carriage return is prefixed with an apostrophe
 * (OWASP "CSV injection"), and every control or bidirectional-formatting character is written
 * as a visible \uXXXX escape, so one record is always one line and reads as it was stored.
 */
const FORMULA_START = /^[=+\-@\t\r]/;
// C0 and C1 controls, DEL, and the bidi embeddings, overrides and isolates.
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function csvCell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '""';
  const text = String(value);
  const guarded = FORMULA_START.test(text) ? `'${text}` : text;
  const visible = guarded.replace(INVISIBLE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return `"${visible.replace(/"/g, '""')}"`;
}

export const csvRow = (cells: readonly (string | number | null | undefined)[]): string => `${cells.map(csvCell).join(",")}\r\n`;
