import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

// Invariant 4 and retention: the application has no update path for audit data, in any store,
// and one delete path: the retention sweep (src/durable/retention.ts), below the tenant's
// retention floor. Checked on the source itself, so a new code path cannot slip in unnoticed,
// and on D1's triggers, which refuse every other DELETE whoever issues it.
const sources = import.meta.glob<string>("../../src/**/*.ts", { eager: true, query: "?raw", import: "default" });
const migrations = import.meta.glob<string>("../../migrations/*.sql", { eager: true, query: "?raw", import: "default" });
const wranglerToml = Object.values(import.meta.glob<string>("../../wrangler.toml", { eager: true, query: "?raw", import: "default" }))[0]!;

const code = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");

/** The one deletion path (issue #17): its file name says "retention", as the before-stop check looks for. */
const RETENTION_PATH = "../../src/durable/retention.ts";

describe("no update path", () => {
  it("finds the sources it checks", () => {
    expect(Object.keys(sources).length).toBeGreaterThan(20);
    expect(Object.keys(migrations).length).toBeGreaterThan(1);
  });

  for (const [file, text] of Object.entries(sources)) {
    if (file === RETENTION_PATH) continue;
    it(`${file.replace("../../", "")} never updates or deletes audit rows or R2 objects`, () => {
      const src = code(text);
      expect(src).not.toMatch(/\b(UPDATE|DELETE\s+FROM|REPLACE\s+INTO|INSERT\s+OR\s+REPLACE)\s+[`"]?audit_/i);
      expect(src).not.toMatch(/\.(update|delete)\(\s*(auditEvents|auditEventTargets)\b/);
      expect(src).not.toMatch(/\b(bucket|BUCKET)\s*\.\s*delete\s*\(/);
      expect(src).not.toMatch(/onConflictDoUpdate/);
    });
  }

  it("the retention sweep is the one deletion path: bounded by seq, of audit rows, seal bundles and entry tiles only", () => {
    const src = code(sources[RETENTION_PATH] ?? "");
    expect(src).not.toBe("");
    expect(src).not.toMatch(/\b(UPDATE|REPLACE\s+INTO|INSERT\s+OR\s+REPLACE)\s+[`"]?audit_/i);
    // Every DELETE of audit rows names the tenant and a range below the floor (runsWithout(from, floor, …)).
    const deletes = [...src.matchAll(/DELETE\s+FROM\s+[`"]?audit_\w+[^"]*/gi)].map((m) => m[0]);
    expect(deletes).toEqual([
      "DELETE FROM audit_event_targets WHERE tenant_id = ? AND seq >= ? AND seq < ?",
      "DELETE FROM audit_events WHERE tenant_id = ? AND seq >= ? AND seq < ?",
    ]);
    // R2: seal bundles and entry tiles only; never manifests, checkpoints, hash tiles or the KV index.
    const r2 = [...src.matchAll(/\bbucket\s*\.\s*delete\s*\(([^;]*)\);/g)].map((m) => m[1]);
    expect(r2).toEqual(["sealKeys(tenant, s.id).bundle", 'tileKey(tenant, { level: "entries", index: k, width: TILE_WIDTH })']);
    expect(src).not.toMatch(/\bkv\s*\.\s*delete\b/i);
    expect(src).not.toMatch(/tree_nodes|deleteLeaves|\.manifest\)|\.checkpoint\)/);
  });

  it("no migration drops the append-only triggers or alters the audit tables (0009 narrows the DELETE ones to the floor)", () => {
    const all = Object.values(migrations).join("\n");
    expect(all).toMatch(/CREATE TRIGGER audit_events_no_update/);
    expect(all).toMatch(/CREATE TRIGGER audit_events_no_delete/);
    // The only triggers ever dropped are the two DELETE refusals, by 0009, which re-creates them
    // refusing every DELETE at or above the tenant's retention floor.
    const retention = Object.entries(migrations).find(([f]) => f.endsWith("/0009_retention_floor.sql"))?.[1] ?? "";
    for (const table of ["audit_events", "audit_event_targets"]) {
      expect(retention).toMatch(new RegExp(`DROP TRIGGER ${table}_no_delete;`));
      expect(retention).toMatch(
        new RegExp(
          `CREATE TRIGGER ${table}_no_delete BEFORE DELETE ON ${table}\\s+WHEN OLD\\.seq >= \\(SELECT coalesce\\(max\\(floor\\), 0\\) FROM retention_floor WHERE tenant_id = OLD\\.tenant_id\\)`,
        ),
      );
    }
    const dropped = [...all.matchAll(/DROP\s+TRIGGER\s+(\w+)/gi)].map((m) => m[1]);
    expect(dropped).toEqual(["audit_events_no_delete", "audit_event_targets_no_delete"]);
    expect(retention.replace(/--.*$/gm, "")).not.toMatch(/DROP TRIGGER \w+_no_update|DROP TRIGGER retention_floor/);
    // REPLACE deletes without firing DELETE triggers: a BEFORE INSERT trigger refuses it (issue #13).
    for (const table of ["audit_events", "audit_event_targets", "verification_reports"]) {
      expect(all).toMatch(new RegExp(`CREATE TRIGGER ${table}_no_replace BEFORE INSERT ON ${table}`));
    }
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

  describe("D1's retention floor (migrations/0009)", () => {
    const db = () => env.DB;
    const tryRun = (sql: string, ...params: unknown[]) =>
      db()
        .prepare(sql)
        .bind(...params)
        .run()
        .then(
          () => "ok",
          (e: unknown) => String(e),
        );
    async function rows(tenant: string, n: number) {
      for (let seq = 0; seq < n; seq++) {
        await db()
          .prepare(
            "INSERT INTO audit_events (tenant_id, seq, entry, leaf_hash, received_at, action, actor_id, actor_type, outcome) VALUES (?, ?, '{}', 'x', 0, 'a', 'u', 'user', 'success')",
          )
          .bind(tenant, seq)
          .run();
        await db()
          .prepare("INSERT INTO audit_event_targets (tenant_id, seq, position, target_id, target_type) VALUES (?, ?, 0, 't', 'doc')")
          .bind(tenant, seq)
          .run();
      }
    }
    const count = async (table: string, tenant: string) =>
      (await db().prepare(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = ?`).bind(tenant).first<{ n: number }>())!.n;

    it("a tenant without a floor: every DELETE is refused, in both tables", async () => {
      await rows("t-nofloor", 3);
      expect(await tryRun("DELETE FROM audit_events WHERE tenant_id = ? AND seq = 0", "t-nofloor")).toMatch(
        /append-only above the retention floor/,
      );
      expect(await tryRun("DELETE FROM audit_event_targets WHERE tenant_id = ?", "t-nofloor")).toMatch(
        /append-only above the retention floor/,
      );
      expect(await count("audit_events", "t-nofloor")).toBe(3);
    });

    it("below the floor a DELETE is allowed, at or above it refused; UPDATEs stay refused everywhere", async () => {
      await rows("t-floor", 6);
      await rows("t-other", 2);
      expect(await tryRun("INSERT INTO retention_floor (tenant_id, floor, set_at) VALUES (?, 3, 0)", "t-floor")).toBe("ok");
      expect(await tryRun("DELETE FROM audit_events WHERE tenant_id = ? AND seq >= 2", "t-floor")).toMatch(/above the retention floor/);
      expect(await tryRun("DELETE FROM audit_event_targets WHERE tenant_id = ? AND seq = 3", "t-floor")).toMatch(
        /above the retention floor/,
      );
      expect(await tryRun("DELETE FROM audit_event_targets WHERE tenant_id = ? AND seq < 3", "t-floor")).toBe("ok");
      expect(await tryRun("DELETE FROM audit_events WHERE tenant_id = ? AND seq < 3", "t-floor")).toBe("ok");
      expect(await count("audit_events", "t-floor")).toBe(3);
      // Another tenant's floor is its own: none here.
      expect(await tryRun("DELETE FROM audit_events WHERE tenant_id = ? AND seq = 0", "t-other")).toMatch(/retention floor/);
      expect(await tryRun("UPDATE audit_events SET action = 'b' WHERE tenant_id = ? AND seq = 4", "t-floor")).toMatch(/append-only/);
      expect(
        await tryRun(
          "INSERT OR REPLACE INTO audit_events (tenant_id, seq, entry, leaf_hash, received_at, action, actor_id, actor_type, outcome) VALUES (?, 4, 'x', 'x', 0, 'a', 'u', 'user', 'success')",
          "t-floor",
        ),
      ).toMatch(/append-only/);
    });

    it("the floor only rises: never lowered, updated or deleted; a repeat of the same floor adds nothing", async () => {
      expect(await tryRun("INSERT INTO retention_floor (tenant_id, floor, set_at) VALUES (?, 10, 0)", "t-rise")).toBe("ok");
      expect(await tryRun("INSERT INTO retention_floor (tenant_id, floor, set_at) VALUES (?, 9, 0)", "t-rise")).toMatch(/only rises/);
      expect(
        await tryRun(
          "INSERT INTO retention_floor (tenant_id, floor, set_at) VALUES (?, 10, 1) ON CONFLICT (tenant_id, floor) DO NOTHING",
          "t-rise",
        ),
      ).toBe("ok");
      expect(await tryRun("INSERT OR REPLACE INTO retention_floor (tenant_id, floor, set_at) VALUES (?, 10, 2)", "t-rise")).toBe("ok");
      expect(await db().prepare("SELECT set_at FROM retention_floor WHERE tenant_id = ? AND floor = 10").bind("t-rise").first()).toEqual({
        set_at: 0,
      });
      expect(await tryRun("UPDATE retention_floor SET floor = 0 WHERE tenant_id = ?", "t-rise")).toMatch(/insert-only/);
      expect(await tryRun("DELETE FROM retention_floor WHERE tenant_id = ?", "t-rise")).toMatch(/insert-only/);
      expect(await tryRun("INSERT INTO retention_floor (tenant_id, floor, set_at) VALUES (?, 20, 0)", "t-rise")).toBe("ok");
      const floor = await db()
        .prepare("SELECT max(floor) AS f, count(*) AS n FROM retention_floor WHERE tenant_id = ?")
        .bind("t-rise")
        .first();
      expect(floor).toEqual({ f: 20, n: 2 });
    });
  });
});
