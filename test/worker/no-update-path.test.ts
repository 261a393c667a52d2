import { describe, expect, it } from "vitest";

// Invariant 4 and retention: the application has no update or delete path for audit data,
// in any store. Checked on the source itself, so a new code path cannot slip in unnoticed.
const sources = import.meta.glob<string>("../../src/**/*.ts", { eager: true, query: "?raw", import: "default" });
const migrations = import.meta.glob<string>("../../migrations/*.sql", { eager: true, query: "?raw", import: "default" });
const wranglerToml = Object.values(import.meta.glob<string>("../../wrangler.toml", { eager: true, query: "?raw", import: "default" }))[0]!;

const code = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");

describe("no update path", () => {
  it("finds the sources it checks", () => {
    expect(Object.keys(sources).length).toBeGreaterThan(20);
    expect(Object.keys(migrations).length).toBeGreaterThan(1);
  });

  for (const [file, text] of Object.entries(sources)) {
    it(`${file.replace("../../", "")} never updates or deletes audit rows or R2 objects`, () => {
      const src = code(text);
      expect(src).not.toMatch(/\b(UPDATE|DELETE\s+FROM|REPLACE\s+INTO|INSERT\s+OR\s+REPLACE)\s+[`"]?audit_/i);
      expect(src).not.toMatch(/\.(update|delete)\(\s*(auditEvents|auditEventTargets)\b/);
      expect(src).not.toMatch(/\b(bucket|BUCKET)\s*\.\s*delete\s*\(/);
      expect(src).not.toMatch(/onConflictDoUpdate/);
    });
  }

  it("no migration drops the append-only triggers or alters the audit tables", () => {
    const all = Object.values(migrations).join("\n");
    expect(all).toMatch(/CREATE TRIGGER audit_events_no_update/);
    expect(all).toMatch(/CREATE TRIGGER audit_events_no_delete/);
    // REPLACE deletes without firing DELETE triggers: a BEFORE INSERT trigger refuses it (issue #13).
    for (const table of ["audit_events", "audit_event_targets", "verification_reports"]) {
      expect(all).toMatch(new RegExp(`CREATE TRIGGER ${table}_no_replace BEFORE INSERT ON ${table}`));
    }
    expect(all).not.toMatch(/DROP\s+TRIGGER/i);
    expect(all).not.toMatch(/(DROP|ALTER)\s+TABLE\s+[`"]?audit_/i);
  });

  it("wrangler.toml never deletes, renames or transfers the TenantLog class (that would erase every log)", () => {
    const migrationBlocks = wranglerToml
      .split(/\[\[migrations\]\]/)
      .slice(1)
      .join("\n");
    expect(migrationBlocks).toMatch(/new_sqlite_classes\s*=\s*\[\s*"TenantLog"\s*\]/);
    for (const key of ["deleted_classes", "renamed_classes", "transferred_classes"]) {
      const line = migrationBlocks.split("\n").find((l) => l.trim().startsWith(key));
      expect(line ?? "", key).not.toMatch(/TenantLog/);
    }
    expect(migrationBlocks).not.toMatch(/from\s*=\s*"TenantLog"/);
  });
});
