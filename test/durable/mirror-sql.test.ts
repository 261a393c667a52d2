import { getTableConfig } from "drizzle-orm/sqlite-core";
import { describe, expect, it } from "vitest";
import { auditEvents, auditEventTargets } from "../../src/db/audit-schema";
import { EVENT_SQL_COLUMNS, TARGET_SQL_COLUMNS } from "../../src/durable/audit-events";

describe("the D1 mirror's hand-written INSERTs", () => {
  it("name exactly the columns of the drizzle schema, in the order the values are bound", () => {
    expect([...EVENT_SQL_COLUMNS]).toEqual(getTableConfig(auditEvents).columns.map((c) => c.name));
    expect([...TARGET_SQL_COLUMNS]).toEqual(getTableConfig(auditEventTargets).columns.map((c) => c.name));
  });
});
