/**
 * A local Sealtrail for the browser tests: `wrangler dev` on workerd with its own state folder
 * and fresh secrets (as `npm run dev` runs it for a user), on a port of its own.
 * Set E2E_BASE to drive a server you started yourself instead.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";

export interface LocalServer {
  /** Where API calls go (the Worker's own URL, BETTER_AUTH_URL). */
  base: string;
  /** What a person types into the browser: http://localhost:<port>, as README says. */
  browserBase: string;
  /** The local D1 database files: the control database and every tenant data shard (for tampering in tests). */
  d1Files(): string[];
  stop(): void;
}

const secret = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");

export async function startServer(port = Number(process.env.E2E_PORT ?? 8795)): Promise<LocalServer> {
  if (process.env.E2E_BASE && process.env.E2E_STATE) {
    const state = process.env.E2E_STATE;
    const base = process.env.E2E_BASE;
    return { base, browserBase: base.replace("127.0.0.1", "localhost"), d1Files: () => d1FilesIn(state), stop: () => {} };
  }
  const base = `http://127.0.0.1:${port}`;
  const inUse = await fetch(`${base}/healthz`).then(
    () => true,
    () => false,
  );
  if (inUse) throw new Error(`port ${port} is already in use: stop what runs there, or set E2E_PORT`);
  const state = mkdtempSync(join(tmpdir(), "sealtrail-e2e-"));
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", X_LOCAL_OBSERVABILITY: "false" };
  // Every database gets every migration (the control database DB and each tenant data shard).
  const migrate = spawnSync(process.execPath, ["scripts/migrate-local.mjs", "--persist-to", state], { env, encoding: "utf8" });
  if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stderr}`);
  const dev: ChildProcess = spawn(
    "npx",
    [
      "wrangler",
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--persist-to",
      state,
      "--var",
      `BETTER_AUTH_SECRET:${secret()}`,
      "--var",
      `SEALTRAIL_SIGNING_SECRET:${secret()}`,
      "--var",
      `SEALTRAIL_SUBJECT_KEY_SECRET:${secret()}`,
      "--var",
      `BETTER_AUTH_URL:${base}`,
      "--var",
      `TRUSTED_ORIGINS:http://localhost:${port}`,
      // Local origins whatever wrangler.toml says (after `npm run deploy` it holds production values).
      "--var",
      "SEALTRAIL_ORIGIN:sealtrail.localhost",
      // Witness URLs may be http: and loopback in local dev (src/durable/outbound.ts).
      "--var",
      "SEALTRAIL_LOCAL_DEV:1",
    ],
    { env, stdio: "ignore", detached: true },
  );
  const stop = () => {
    try {
      process.kill(-dev.pid!, "SIGTERM");
    } catch {
      // Already gone.
    }
    spawnSync("pkill", ["-f", state]);
    rmSync(state, { recursive: true, force: true });
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/healthz`)).ok && (await fetch(`${base}/`)).ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      stop();
      throw new Error("wrangler dev did not start within 90 s");
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return { base, browserBase: `http://localhost:${port}`, d1Files: () => d1FilesIn(state), stop };
}

function d1FilesIn(state: string): string[] {
  const dir = join(state, "v3", "d1", "miniflare-D1DatabaseObject");
  const files = readdirSync(dir).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");
  if (files.length === 0) throw new Error("no local D1 database file");
  return files.map((f) => join(dir, f));
}

/**
 * Runs SQL on the local D1 files with the append-only triggers lifted: a tampering insider. In
 * every database: the tenant's rows are in one of them (its shard), the others change nothing.
 */
export function tamperD1(files: string[], sql: string, ...params: (string | number)[]): void {
  for (const file of files) tamperOne(file, sql, ...params);
}

function tamperOne(file: string, sql: string, ...params: (string | number)[]): void {
  const db = new DatabaseSync(file);
  try {
    db.exec("BEGIN; DROP TRIGGER audit_events_no_update;");
    db.prepare(sql).run(...params);
    db.exec(
      "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END; COMMIT;",
    );
  } finally {
    db.close();
  }
}
