// `npm run dev`: run Sealtrail locally on workerd with local D1, R2, KV and Durable Objects.
// 1. creates .dev.vars with fresh random secrets on first run (never committed),
// 2. applies D1 migrations to every local database (the control database DB and each tenant
//    data shard wrangler.toml lists: all of them get every migration),
// 3. builds the web console into dist/console,
// 4. starts `wrangler dev` on 127.0.0.1:$PORT (default 8787; the console at http://localhost:$PORT).
//
// The local origins follow the port: better-auth's base URL is http://127.0.0.1:$PORT and
// http://localhost:$PORT is trusted too, so signing in works on whichever port you chose, and
// checkpoints are signed as sealtrail.localhost, never as a production origin that wrangler.toml
// may name after a deploy. A value set in .dev.vars (BETTER_AUTH_URL, TRUSTED_ORIGINS,
// SEALTRAIL_ORIGIN) wins over these. `npm run dev -- --port N` works like PORT=N.
//
// SEALTRAIL_DEV_STATE=<dir> keeps the secrets (<dir>/.dev.vars) and the local storage
// (<dir>/state) there instead of in the repository: a second, separate local Sealtrail.
import { spawnSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

/** What a local run uses unless .dev.vars says otherwise (wrangler.toml may hold production values). */
const localVars = (port) => ({
  BETTER_AUTH_URL: `http://127.0.0.1:${port}`,
  TRUSTED_ORIGINS: `http://localhost:${port}`,
  SEALTRAIL_ORIGIN: "sealtrail.localhost",
  // Witness URLs may be http: and loopback here (src/durable/outbound.ts); never set in wrangler.toml.
  SEALTRAIL_LOCAL_DEV: "1",
});

const env = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  // wrangler dev records local traces by default (hundreds of MB, and half the throughput).
  X_LOCAL_OBSERVABILITY: "false",
};
// With --env-file wrangler also reads the Worker's variables from its own environment: only
// the secrets file and the flags below may set them.
for (const name of ["BETTER_AUTH_SECRET", "SEALTRAIL_SIGNING_SECRET", "SEALTRAIL_SUBJECT_KEY_SECRET", ...Object.keys(localVars(0))]) {
  delete env[name];
}

const stateDir = process.env.SEALTRAIL_DEV_STATE ? resolve(process.env.SEALTRAIL_DEV_STATE) : undefined;
if (stateDir) mkdirSync(stateDir, { recursive: true });
const devVars = stateDir ? join(stateDir, ".dev.vars") : ".dev.vars";
const stateArgs = stateDir ? ["--persist-to", join(stateDir, "state")] : [];

if (!existsSync(devVars)) {
  const secret = () => randomBytes(32).toString("base64url");
  writeFileSync(
    devVars,
    `# Local secrets, created by npm run dev. Not committed. Delete to rotate.\n` +
      `BETTER_AUTH_SECRET=${secret()}\nSEALTRAIL_SIGNING_SECRET=${secret()}\nSEALTRAIL_SUBJECT_KEY_SECRET=${secret()}\n`,
    { mode: 0o600 },
  );
  console.log(`Created ${devVars} with fresh local secrets.`);
} else if (!/^SEALTRAIL_SUBJECT_KEY_SECRET=/m.test(readFileSync(devVars, "utf8"))) {
  // Made before personal fields existed (issue #17): add their key secret, keep the others.
  appendFileSync(devVars, `SEALTRAIL_SUBJECT_KEY_SECRET=${randomBytes(32).toString("base64url")}\n`);
  console.log(`Added SEALTRAIL_SUBJECT_KEY_SECRET to ${devVars}.`);
}

const args = process.argv.slice(2);
let port = process.env.PORT ?? "8787";
const portArg = args.findIndex((a) => a === "--port" || a.startsWith("--port="));
if (portArg >= 0) {
  const inline = args[portArg].startsWith("--port=");
  port = inline ? args[portArg].slice("--port=".length) : args[portArg + 1];
  args.splice(portArg, inline ? 1 : 2);
}
if (!/^\d+$/.test(port ?? "")) {
  console.error(`PORT must be a port number, not "${port}".`);
  process.exit(1);
}

// Names .dev.vars sets (KEY=VALUE lines, as wrangler reads them): those are the user's choice.
const setInDevVars = new Set(
  readFileSync(devVars, "utf8")
    .split("\n")
    .map((line) => /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line)?.[1])
    .filter(Boolean),
);
const varArgs = Object.entries(localVars(port))
  .filter(([name]) => !setInDevVars.has(name))
  .flatMap(([name, value]) => ["--var", `${name}:${value}`]);

// Every [[d1_databases]] binding of wrangler.toml (DB, DB_S1, DB_EU_S0, …: src/durable/placement.ts), in one process.
const migrate = spawnSync("node", ["scripts/migrate-local.mjs", ...stateArgs], { stdio: "inherit", env });
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const consoleBuild = spawnSync("node", ["scripts/build-console.mjs"], { stdio: "inherit", env });
if (consoleBuild.status !== 0) process.exit(consoleBuild.status ?? 1);

console.log(`\nSealtrail: the web console will be at http://localhost:${port} (the API under /v1, docs at /docs/api).\n`);
const dev = spawn(
  "wrangler",
  ["dev", "--ip", "127.0.0.1", "--port", port, ...stateArgs, ...(stateDir ? ["--env-file", devVars] : []), ...varArgs, ...args],
  { stdio: "inherit", env },
);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => process.exit(code ?? 0));
