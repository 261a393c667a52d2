/**
 * `q=` on the event list and the export (issue #19.4): full-text search of what
 * src/durable/search-index.ts indexes (actor names, target names, action, metadata values),
 * through SQLite FTS5 in the tenant's D1 shard (docs/query-plans.md "Search").
 *
 * The user's text is never passed to FTS5 as query syntax: it is split on white space into at
 * most SEARCH_LIMITS.terms words, and each word becomes one quoted FTS5 string (a phrase of its
 * tokens), all of which must match. Text that looks like FTS5 syntax (quotes, `*`, parentheses,
 * `:` column filters, `^`, braces), control characters and text past the limits are refused with
 * 400 `invalid_search`, so a query is either plain words or refused, never a 500.
 */
import { sql, type SQL } from "drizzle-orm";
import { auditEvents } from "../db/audit-schema";
import { SEARCH_SEQ_SPAN } from "../durable/search-index";
import { Failure } from "./errors";

export const SEARCH_LIMITS = {
  /** The whole `q`, in characters. */
  chars: 200,
  /** Words in `q`. */
  terms: 8,
} as const;

/** FTS5 query syntax outside a quoted string, refused rather than quietly quoted. */
const SYNTAX = /["*():^{}]/;
/** C0 and C1 controls, DEL, and Unicode bidi/format controls. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;

/** The FTS5 MATCH expression for `q`: each word a quoted string, all required. Throws invalid_search. */
export function searchMatch(q: string): string {
  const refuse = (why: string): never => {
    throw new Failure({ reason: "invalid_search", why });
  };
  if (q.length > SEARCH_LIMITS.chars) refuse(`at most ${SEARCH_LIMITS.chars} characters`);
  if (CONTROL.test(q)) refuse("control characters are not allowed");
  if (SYNTAX.test(q)) refuse('plain words only: quotes, *, parentheses, ":", "^" and braces are not search syntax here');
  const terms = q.split(/\s+/u).filter((t) => t !== "");
  if (terms.length === 0) refuse("no words to search for");
  if (terms.length > SEARCH_LIMITS.terms) refuse(`at most ${SEARCH_LIMITS.terms} words`);
  // Inside an FTS5 string everything is literal; no `"` is left to close it early.
  return terms.map((t) => `"${t}"`).join(" ");
}

/**
 * The condition "the entry's text matches `q`" for the tenant's rows, within [from, to) when the
 * filter bounds the sequence numbers: the FTS5 index is read for the tenant's rowid range only.
 */
export function searchCondition(tenant: string, q: string, fromSeq = 0, toSeq = SEARCH_SEQ_SPAN): SQL {
  const match = searchMatch(q);
  const base = sql`(SELECT num FROM search_tenants WHERE tenant_id = ${tenant}) * ${SEARCH_SEQ_SPAN}`;
  const lo = Math.min(fromSeq, SEARCH_SEQ_SPAN);
  const hi = Math.min(toSeq, SEARCH_SEQ_SPAN);
  return sql`${auditEvents.seq} IN (SELECT rowid % ${SEARCH_SEQ_SPAN} FROM search_index WHERE search_index MATCH ${match}
    AND rowid >= ${base} + ${lo} AND rowid < ${base} + ${hi})`;
}
