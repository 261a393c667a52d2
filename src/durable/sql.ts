/**
 * Multi-row INSERT statements, shared by the Durable Object's SQLite storage (log-store.ts) and
 * the D1 mirror (mirror.ts). Both take at most 100 bound parameters per statement, so rows go
 * in chunks of as many as fit (issue #8: one statement per 25 entries, not one each). Texts are
 * built once per shape and reused (drizzle's builder cost ~15% of a mirror batch's CPU).
 */

/** Durable Object SQLite and D1 both allow 100 bound parameters per statement. */
export const MAX_BOUND_PARAMETERS = 100;

/** `rows` in chunks of as many rows of `columns` values as one statement may bind. */
export function insertChunks<T>(rows: readonly T[], columns: number): T[][] {
  const size = Math.floor(MAX_BOUND_PARAMETERS / columns);
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

const texts = new Map<string, string>();

/**
 * `INSERT INTO <table> (<columns>) VALUES (?, …), …` for `rows` rows. With `skipExisting` = k,
 * rows whose key (the first k columns) the table already holds are filtered out by a SELECT
 * instead, so the append-only BEFORE INSERT triggers never meet an existing key (mirror.ts).
 */
export function multiRowInsert(table: string, columns: readonly string[], rows: number, skipExisting = 0): string {
  const names = columns.join(", ");
  const key = `${table} (${names}) ${rows} ${skipExisting}`;
  let sql = texts.get(key);
  if (!sql) {
    const row = `(${columns.map(() => "?").join(", ")})`;
    const values = `VALUES ${Array.from({ length: rows }, () => row).join(", ")}`;
    if (skipExisting === 0) {
      sql = `INSERT INTO ${table} (${names}) ${values}`;
    } else {
      const match = columns
        .slice(0, skipExisting)
        .map((c, i) => `t.${c} = v.column${i + 1}`)
        .join(" AND ");
      sql = `INSERT INTO ${table} (${names}) SELECT * FROM (${values}) AS v WHERE NOT EXISTS (SELECT 1 FROM ${table} AS t WHERE ${match})`;
    }
    texts.set(key, sql);
  }
  return sql;
}
