// `npm run dev`: run Sealtrail locally on workerd with local D1, R2, KV and Durable Objects.
// 1. creates .dev.vars with fresh random secrets on first run (never committed),
// 2. applies D1 migrations to the local database,
// 3. builds the web console into dist/console,
// 4. starts `wrangler dev` on 127.0.0.1:8787 (the console at http://localhost:8787).
import { spawnSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";

const env = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  // wrangler dev records local traces by default (hundreds of MB, and half the throughput).
  X_LOCAL_OBSERVABILITY: "false",
};

if (!existsSync(".dev.vars")) {
  const secret = () => randomBytes(32).toString("base64url");
  writeFileSync(
    ".dev.vars",
    `# Local secrets, created by npm run dev. Not committed. Delete to rotate.\n` +
      `BETTER_AUTH_SECRET=${secret()}\nSEALTRAIL_SIGNING_SECRET=${secret()}\n`,
    { mode: 0o600 },
  );
  console.log("Created .dev.vars with fresh local secrets.");
}

const migrate = spawnSync("wrangler", ["d1", "migrations", "apply", "DB", "--local"], { stdio: "inherit", env });
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const consoleBuild = spawnSync("node", ["scripts/build-console.mjs"], { stdio: "inherit", env });
if (consoleBuild.status !== 0) process.exit(consoleBuild.status ?? 1);

const port = process.env.PORT ?? "8787";
console.log(`\nSealtrail: the web console will be at http://localhost:${port} (the API under /v1, docs at /docs/api).\n`);
const dev = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", port, ...process.argv.slice(2)], {
  stdio: "inherit",
  env,
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => process.exit(code ?? 0));
