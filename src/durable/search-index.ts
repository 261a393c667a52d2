/**
 * The full-text index of a tenant's entries in its D1 shard (issue #19.4; migrations/0016_search.sql,
 * docs/query-plans.md "Search"). Filled by the D1 mirror and by the D1 rebuild, both through
 * audit-events.ts `writeToD1`: the index statements join the batch that inserts the rows, so
 * rows and their index reach D1 in one transaction. Queried by src/worker/search.ts.
 *
 * `search_index` is a contentless FTS5 table (the text is not stored, only its index), rowid =
 * tenant number × SEARCH_SEQ_SPAN + seq (`search_tenants` numbers the shard's tenants).
 * Indexing is INSERT OR REPLACE: a pass that is repeated (a lost reply, a rebuild) indexes the
 * same text again in place of the old, so it is idempotent, and a rebuild restores a lost index.
 */
import { MAX_BOUND_PARAMETERS } from "./sql";
import type { StoredEntry } from "./log-store";
import { ENCRYPTED_FIELD_PREFIX } from "../core/personal-fields";

/** Sequence numbers per tenant in the rowid space (2^40 ≈ 1.1 × 10^12 entries; later ones are not indexed). */
export const SEARCH_SEQ_SPAN = 2 ** 40;

/** Rows per INSERT (two bound parameters a row, one for the tenant). */
const ROWS_PER_STATEMENT = Math.floor((MAX_BOUND_PARAMETERS - 1) / 2);

interface SearchableEvent {
  action?: unknown;
  actor?: { name?: unknown };
  targets?: { name?: unknown }[];
  metadata?: unknown;
}

/**
 * Erasure (issue #17.3): a value stored encrypted for a subject (a declared personal field, in
 * the `sealtrail:enc:v1:` form of src/core/personal-fields.ts) is not indexed: its ciphertext is
 * noise, and its plaintext never reaches the index, so erasing the subject's key leaves nothing
 * searchable behind. Declared personal fields are therefore not searchable.
 */
export const isEncryptedValue = (value: unknown): boolean => typeof value === "string" && value.startsWith(ENCRYPTED_FIELD_PREFIX);

function leafValues(v: unknown, out: string[], depth = 0): void {
  if (depth > 16 || isEncryptedValue(v)) return;
  if (typeof v === "string") out.push(v);
  else if (typeof v === "number") out.push(String(v));
  else if (Array.isArray(v)) for (const x of v) leafValues(x, out, depth + 1);
  else if (typeof v === "object" && v !== null) for (const x of Object.values(v)) leafValues(x, out, depth + 1);
}

/**
 * The text an entry is found by: the actor's name, the targets' names, the action and every
 * metadata value (strings and numbers, at any depth; not the keys; not for `sealtrail.*` entries). The one hook between an
 * event and the index: what it leaves out is not searchable.
 */
export function indexableText(event: SearchableEvent): string {
  const out: string[] = [];
  leafValues(event.actor?.name, out);
  for (const t of Array.isArray(event.targets) ? event.targets : []) leafValues(t?.name, out);
  leafValues(event.action, out);
  // The service's own entries (`sealtrail.*`) are found by action, actor and targets, not by their
  // metadata: it holds the queries of logged reads, so every search would find its own records.
  if (!(typeof event.action === "string" && /^sealtrail\./i.test(event.action))) leafValues(event.metadata, out);
  return out.join("\n");
}

const texts = new Map<number, string>();
/** `INSERT OR REPLACE` of `rows` (seq, body) pairs for one tenant, its number looked up once. */
function insertText(rows: number): string {
  let sql = texts.get(rows);
  if (!sql) {
    const values = Array.from({ length: rows }, () => "(?, ?)").join(", ");
    sql =
      `INSERT OR REPLACE INTO search_index (rowid, body) SELECT t.num * ${SEARCH_SEQ_SPAN} + v.column1, v.column2 ` +
      `FROM search_tenants AS t, (VALUES ${values}) AS v WHERE t.tenant_id = ?`;
    texts.set(rows, sql);
  }
  return sql;
}

/**
 * The statements that index `entries` (all of one tenant, as the mirror and the rebuild write
 * them): the tenant's number if it has none yet, then the entries' text. Entries with no text
 * are skipped.
 */
export function searchIndexStatements(d1: D1Database, entries: readonly StoredEntry[]): D1PreparedStatement[] {
  const byTenant = new Map<string, [number, string][]>();
  for (const e of entries) {
    if (e.seq >= SEARCH_SEQ_SPAN) continue;
    const parsed = JSON.parse(e.entry) as { tenant: string; event: SearchableEvent };
    const body = indexableText(parsed.event ?? {});
    if (body === "") continue;
    const rows = byTenant.get(parsed.tenant) ?? [];
    if (rows.length === 0) byTenant.set(parsed.tenant, rows);
    rows.push([e.seq, body]);
  }
  const statements: D1PreparedStatement[] = [];
  for (const [tenant, rows] of byTenant) {
    statements.push(
      d1
        .prepare("INSERT INTO search_tenants (tenant_id) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM search_tenants WHERE tenant_id = ?)")
        .bind(tenant, tenant),
    );
    for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
      const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
      statements.push(d1.prepare(insertText(chunk.length)).bind(...chunk.flat(), tenant));
    }
  }
  return statements;
}
