import { getTableConfig } from "drizzle-orm/sqlite-core";
import { describe, expect, it } from "vitest";
import { auditEvents, auditEventTargets } from "../../src/db/audit-schema";
import { EVENT_SQL_COLUMNS, TARGET_SQL_COLUMNS } from "../../src/durable/audit-events";
import { insertChunks, multiRowInsert } from "../../src/durable/sql";

describe("the D1 mirror's hand-written INSERTs", () => {
  it("name exactly the columns of the drizzle schema, in the order the values are bound", () => {
    expect([...EVENT_SQL_COLUMNS]).toEqual(getTableConfig(auditEvents).columns.map((c) => c.name));
    expect([...TARGET_SQL_COLUMNS]).toEqual(getTableConfig(auditEventTargets).columns.map((c) => c.name));
  });

  it("one builder for DO storage (plain) and D1 (rows whose key exists skipped), within 100 parameters", () => {
    expect(multiRowInsert("tree_nodes", ["level", "idx", "hash"], 2)).toBe(
      "INSERT INTO tree_nodes (level, idx, hash) VALUES (?, ?, ?), (?, ?, ?)",
    );
    expect(multiRowInsert("items", ["a", "b", "c"], 2, 2)).toBe(
      "INSERT INTO items (a, b, c) SELECT * FROM (VALUES (?, ?, ?), (?, ?, ?)) AS v WHERE NOT EXISTS (SELECT 1 FROM items AS t WHERE t.a = v.column1 AND t.b = v.column2)",
    );
    const rows = Array.from({ length: 20 }, (_, i) => i);
    expect(insertChunks(rows, EVENT_SQL_COLUMNS.length).map((c) => c.length)).toEqual([9, 9, 2]);
    expect(insertChunks(rows, 4).map((c) => c.length)).toEqual([20]);
  });
});
