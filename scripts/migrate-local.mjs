// Applies migrations/ to every local D1 database wrangler.toml binds (the control database DB and
// each tenant data shard: every database gets every migration), in one process.
// `node scripts/migrate-local.mjs [--persist-to <dir>]` (default: wrangler's own .wrangler/state).
//
// It does what `wrangler d1 migrations apply <binding> --local` does, for all bindings at once:
// one wrangler process per database cost ~5 s of CPU each (35 s on a loaded machine), and
// `npm run dev` and the browser tests start with it. Same storage (<persist>/v3/d1, by database
// id), same bookkeeping table (`d1_migrations`, one row per file applied, in the batch that
// applies it), so wrangler's own command sees these migrations as applied and vice versa.
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { experimental_readRawConfig as readRawConfig, unstable_splitSqlQuery } from "wrangler";

const { values } = parseArgs({ options: { "persist-to": { type: "string" }, config: { type: "string", default: "wrangler.toml" } } });
const persist = resolve(values["persist-to"] ?? ".wrangler/state");
const { rawConfig } = readRawConfig({ config: values.config });
const databases = (rawConfig.d1_databases ?? []).map((d) => ({
  binding: d.binding,
  id: d.preview_database_id ?? d.database_id ?? d.binding,
  dir: d.migrations_dir ?? "migrations",
}));

// As wrangler's `d1 execute --local` opens one (same persistence layout, databases by id).
const mf = new Miniflare(
  convertV4MiniflareOptions({
    modules: true,
    script: "",
    resourcePersistencePath: join(persist, "v3"),
    d1Databases: Object.fromEntries(databases.map((d) => [d.binding, d.id])),
  }),
);
try {
  for (const { binding, dir } of databases) {
    const db = await mf.getD1Database(binding);
    await db.exec(
      'CREATE TABLE IF NOT EXISTS "d1_migrations"(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL);',
    );
    const applied = new Set((await db.prepare('SELECT name FROM "d1_migrations"').all()).results.map((r) => r.name));
    const pending = readdirSync(dir)
      .filter((f) => f.endsWith(".sql") && !applied.has(f))
      .sort();
    for (const file of pending) {
      const statements = unstable_splitSqlQuery(readFileSync(join(dir, file), "utf8")).map((s) => db.prepare(s));
      // The migration and its record in one batch (one transaction): applied once, or not at all.
      await db.batch([...statements, db.prepare('INSERT INTO "d1_migrations" (name) VALUES (?)').bind(file)]);
    }
    console.log(`D1 ${binding}: ${pending.length === 0 ? "no migrations to apply" : `applied ${pending.join(", ")}`}`);
  }
} finally {
  await mf.dispose();
}
