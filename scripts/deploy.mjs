// `npm run deploy`: deploy Sealtrail to Cloudflare in one command, through wrangler.
//  1. refuses, before any remote call, while wrangler.toml [vars] still holds local settings
//     (checkpoint origin sealtrail.localhost, a localhost BETTER_AUTH_URL or trusted origin),
//  2. finds or creates every D1 database (the control database DB and the tenant data shards),
//     the KV namespace and every R2 bucket wrangler.toml names, each shard and bucket of a
//     jurisdiction in it (`--jurisdiction`), and writes the D1 and KV ids into wrangler.toml
//     (the deployer's copy; local runs ignore them),
//  3. applies the D1 migrations to every remote database (each gets all of them),
//  4. sets the secrets that are not set yet to fresh random values (on wrangler's stdin, never
//     on a command line); the signing secret is first written to .deploy-secrets next to the
//     config, to be backed up: Cloudflare never shows a secret again,
//  5. builds the CLI, SDK and web console (`npm run build`), then `wrangler deploy`,
//  6. says whether the R2 bucket has a lock rule.
// Running it again creates nothing that exists, keeps every secret and deploys again.
// `--config <file>` uses another wrangler config; `--skip-build` when dist/ is already built.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { experimental_readRawConfig as readRawConfig } from "wrangler";

const { values: opts } = parseArgs({
  options: { config: { type: "string", default: "wrangler.toml" }, "skip-build": { type: "boolean", default: false } },
});
const configPath = resolve(opts.config);
const shown = relative(process.cwd(), configPath) || configPath;
const backupPath = join(dirname(configPath), ".deploy-secrets");

/** The ids wrangler.toml ships with so that local runs need no account (one per database: locally an id names one). */
const PLACEHOLDER_D1_ID = "00000000-0000-0000-0000-000000000000";
const isPlaceholderD1 = (id) => !id || /^00000000-0000-0000-0000-0000000000[0-9a-f]{2}$/.test(id);
const PLACEHOLDER_KV_ID = "00000000000000000000000000000000";
/** Secrets this script knows how to make: 32 random bytes each (the signing and subject key secrets need >= 32). */
const GENERATED_SECRETS = ["BETTER_AUTH_SECRET", "SEALTRAIL_SIGNING_SECRET", "SEALTRAIL_SUBJECT_KEY_SECRET"];
/** Secrets saved to .deploy-secrets before `secret put`: losing one loses data, not just sessions. */
const BACKED_UP = {
  SEALTRAIL_SIGNING_SECRET:
    "Every tenant's checkpoint keys are derived from it: losing it\n  !! means new keys, leaking it lets anyone sign checkpoints.",
  SEALTRAIL_SUBJECT_KEY_SECRET:
    "It wraps every subject's key for personal fields: losing it\n  !! makes every personal field unreadable, as if every subject were erased.",
};

const env = { ...process.env, WRANGLER_SEND_METRICS: process.env.WRANGLER_SEND_METRICS ?? "false" };

function fail(message) {
  console.error(`\nNot deploying. ${message}`);
  process.exit(1);
}

const step = (text) => console.log(`\n▸ ${text}`);

function readConfig() {
  try {
    return readRawConfig({ config: configPath }).rawConfig;
  } catch (e) {
    return fail(`Could not read ${shown}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

// ---------------------------------------------------------------------------------------
// 1. Local settings that must not reach production (no remote call before this passes).

const isLocalHost = (host) => /^(localhost|.*\.localhost|127(\.\d+){3}|0\.0\.0\.0|\[::1?\]|::1?)$/i.test(host.replace(/\.$/, ""));

function problemsOf(config) {
  const vars = config.vars ?? {};
  const problems = [];
  const origin = String(vars.SEALTRAIL_ORIGIN ?? "");
  if (!origin || isLocalHost(origin.split("/")[0] ?? "")) {
    problems.push(
      `SEALTRAIL_ORIGIN is ${JSON.stringify(origin)}, the local checkpoint origin. Set it to a name you control, without ` +
        `a scheme, e.g. SEALTRAIL_ORIGIN = "audit.example.com". Every checkpoint names it and verifiers pin keys by it: ` +
        `choose it once, it cannot change later.`,
    );
  } else if (/[\s+]|:\/\//.test(origin)) {
    problems.push(
      `SEALTRAIL_ORIGIN ${JSON.stringify(origin)} must be a plain name such as "audit.example.com" (no scheme, spaces or "+").`,
    );
  }
  const authUrl = String(vars.BETTER_AUTH_URL ?? "");
  let url = null;
  try {
    url = new URL(authUrl);
  } catch {
    // Reported below.
  }
  if (url?.protocol !== "https:" || isLocalHost(url.hostname)) {
    problems.push(
      `BETTER_AUTH_URL is ${JSON.stringify(authUrl)}. Set it to the https URL the Worker is served at, where people ` +
        `open the console: https://${config.name ?? "sealtrail"}.<your-subdomain>.workers.dev or your own domain.`,
    );
  }
  for (const o of String(vars.TRUSTED_ORIGINS ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    let parsed = null;
    try {
      parsed = new URL(o);
    } catch {
      // Reported below.
    }
    if (parsed?.protocol !== "https:" || isLocalHost(parsed.hostname) || parsed.origin !== o) {
      problems.push(
        `TRUSTED_ORIGINS lists ${JSON.stringify(o)}: pages there could use a signed-in person's session. List only https ` +
          `origins of your own (comma separated), or set TRUSTED_ORIGINS = "".`,
      );
    }
  }
  // Local dev lets witness URLs be http: and loopback (src/durable/outbound.ts): never in production.
  if (vars.SEALTRAIL_LOCAL_DEV !== undefined) {
    problems.push("SEALTRAIL_LOCAL_DEV is set: it lets tenants point witness calls at http: and loopback URLs. Remove it.");
  }
  const version = Number(vars.SEALTRAIL_KEY_VERSION ?? "1");
  if (!Number.isSafeInteger(version) || version < 1) {
    problems.push(`SEALTRAIL_KEY_VERSION is ${JSON.stringify(vars.SEALTRAIL_KEY_VERSION)}: it must be a whole number >= 1.`);
  }
  return problems;
}

const d1Of = (config) => (config.d1_databases ?? []).find((d) => d.binding === "DB");
/**
 * The jurisdiction a D1 database is created in, from its binding's name: DB_<JURISDICTION>_S<n>
 * (DB_EU_S0 in eu, DB_FEDRAMP_S0 in fedramp; src/durable/placement.ts maps tenants to them).
 * D1 has no jurisdiction setting in wrangler.toml: it is chosen once, at `d1 create`.
 */
const D1_JURISDICTIONS = { EU: "eu", FEDRAMP: "fedramp" };
const d1JurisdictionOf = (binding) => D1_JURISDICTIONS[/^DB_([A-Z]+)_S\d+$/.exec(binding)?.[1] ?? ""];
const jurisdictionArgs = (j) => (j ? ["--jurisdiction", j] : []);
const kvOf = (config) => (config.kv_namespaces ?? []).find((k) => k.binding === "KV");
const r2Of = (config) => (config.r2_buckets ?? []).find((b) => b.binding === "BUCKET");

let config = readConfig();
const problems = problemsOf(config);
if (!d1Of(config)?.database_name) problems.push(`${shown} has no [[d1_databases]] with binding = "DB" and a database_name.`);
if (!kvOf(config)) problems.push(`${shown} has no [[kv_namespaces]] with binding = "KV".`);
if (!r2Of(config)?.bucket_name) problems.push(`${shown} has no [[r2_buckets]] with binding = "BUCKET" and a bucket_name.`);
const unknownSecrets = (config.secrets?.required ?? []).filter((s) => !GENERATED_SECRETS.includes(s));
if (problems.length > 0) {
  fail(
    `${shown} still has settings that only work locally. Edit its [vars] and run npm run deploy again:\n` +
      problems.map((p) => `  - ${p}`).join("\n"),
  );
}

// ---------------------------------------------------------------------------------------
// wrangler, as the deployer would run it.

function wrangler(args, { input, allowFailure = false } = {}) {
  const r = spawnSync("wrangler", [...args, "--config", configPath], {
    env,
    encoding: "utf8",
    input,
    stdio: ["pipe", "pipe", "pipe"],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) fail(`Could not run wrangler (${r.error.message}). Run this through npm run deploy.`);
  if (r.status !== 0 && !allowFailure) {
    process.stderr.write(r.stdout + r.stderr);
    fail(`\`wrangler ${args.join(" ")}\` failed (see above). Logged in? \`npx wrangler login\` or set CLOUDFLARE_API_TOKEN.`);
  }
  return { ok: r.status === 0, out: r.stdout ?? "", err: r.stderr ?? "" };
}

/** Runs wrangler with the terminal attached: the deployer sees its progress and answers its prompts. */
function wranglerLive(args) {
  const r = spawnSync("wrangler", [...args, "--config", configPath], { env, stdio: "inherit" });
  if (r.status !== 0) fail(`\`wrangler ${args.join(" ")}\` failed (see above).`);
}

/** The JSON array in a command's output (wrangler may print a line or two around it). */
function jsonArray(text, what) {
  const start = text.indexOf("[");
  const end = text.lastIndexOf("]");
  try {
    const parsed = JSON.parse(text.slice(start, end + 1));
    if (Array.isArray(parsed)) return parsed;
  } catch {
    // Below.
  }
  return fail(`Unexpected output from ${what}:\n${text}`);
}

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, "");

// ---------------------------------------------------------------------------------------
// Writing ids into wrangler.toml, keeping its comments and layout.

/** Sets `key = "value"` in the [[table]] entry whose binding is `binding`. */
function setInToml(text, table, binding, key, value) {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== `[[${table}]]`) continue;
    let end = i + 1;
    while (end < lines.length && !/^\s*\[/.test(lines[end])) end++;
    const block = lines.slice(i + 1, end);
    const bindingAt = block.findIndex((l) => new RegExp(`^\\s*binding\\s*=\\s*"${binding}"\\s*(#.*)?$`).test(l));
    if (bindingAt < 0) continue;
    const keyRe = new RegExp(`^(\\s*${key}\\s*=\\s*)"[^"]*"(.*)$`);
    const keyAt = block.findIndex((l) => keyRe.test(l));
    if (keyAt >= 0) lines[i + 1 + keyAt] = lines[i + 1 + keyAt].replace(keyRe, `$1"${value}"$2`);
    else lines.splice(i + 1 + bindingAt + 1, 0, `${key} = "${value}"`);
    return lines.join("\n");
  }
  return fail(`${shown} has no [[${table}]] with binding = "${binding}".`);
}

function writeId(table, binding, key, value) {
  const before = readFileSync(configPath, "utf8");
  const after = setInToml(before, table, binding, key, value);
  if (after === before) return;
  // Written whole, then renamed: a crash leaves the old file or the new one, never half of one.
  const tmp = `${configPath}.tmp-${process.pid}`;
  writeFileSync(tmp, after);
  renameSync(tmp, configPath);
  console.log(`  wrote ${key} = "${value}" into ${shown}`);
}

// ---------------------------------------------------------------------------------------
// 2. Resources: find what exists, create what is missing, write the ids.

step("D1 databases");
{
  const listed = () => jsonArray(wrangler(["d1", "list", "--json"]).out, "wrangler d1 list --json");
  let dbs = listed();
  for (const d1 of config.d1_databases ?? []) {
    const jurisdiction = d1JurisdictionOf(d1.binding);
    const where = jurisdiction ? ` (jurisdiction ${jurisdiction})` : "";
    if (!d1.database_name) fail(`${shown}: the [[d1_databases]] with binding = "${d1.binding}" has no database_name.`);
    const configured = isPlaceholderD1(d1.database_id) ? null : d1.database_id;
    if (configured) {
      const found = dbs.find((d) => d.uuid === configured);
      if (!found) {
        fail(
          `database_id "${configured}" in ${shown} is not a D1 database of this account. Log in to the account that ` +
            `holds it, or set database_id = "${PLACEHOLDER_D1_ID}" to use or create "${d1.database_name}".`,
        );
      }
      console.log(`  ${d1.binding}: ${found.name} (${found.uuid}) exists`);
      continue;
    }
    let found = dbs.find((d) => d.name === d1.database_name);
    if (found) console.log(`  ${d1.binding}: ${found.name} (${found.uuid}) exists`);
    else {
      wrangler(["d1", "create", d1.database_name, ...jurisdictionArgs(jurisdiction)]);
      dbs = listed();
      found = dbs.find((d) => d.name === d1.database_name);
      if (!found) fail(`wrangler d1 create ${d1.database_name} succeeded, but the database is not listed.`);
      console.log(`  ${d1.binding}: created ${found.name} (${found.uuid})${where}`);
    }
    writeId("d1_databases", d1.binding, "database_id", found.uuid);
  }
}

step("KV namespace");
{
  const kv = kvOf(config);
  const title = `${config.name ?? "sealtrail"}-kv`;
  const listed = () => jsonArray(wrangler(["kv", "namespace", "list"]).out, "wrangler kv namespace list");
  let namespaces = listed();
  const configured = kv.id && kv.id !== PLACEHOLDER_KV_ID ? kv.id : null;
  if (configured) {
    const found = namespaces.find((n) => n.id === configured);
    if (!found) {
      fail(
        `The KV id "${configured}" in ${shown} is not a namespace of this account. Log in to the account that holds ` +
          `it, or set id = "${PLACEHOLDER_KV_ID}" to use or create "${title}".`,
      );
    }
    console.log(`  ${found.title} (${found.id}) exists`);
  } else {
    let found = namespaces.find((n) => n.title === title);
    if (found) console.log(`  ${found.title} (${found.id}) exists`);
    else {
      wrangler(["kv", "namespace", "create", title]);
      namespaces = listed();
      found = namespaces.find((n) => n.title === title);
      if (!found) fail(`wrangler kv namespace create ${title} succeeded, but the namespace is not listed.`);
      console.log(`  created ${found.title} (${found.id})`);
    }
    writeId("kv_namespaces", "KV", "id", found.id);
  }
}

const buckets = (config.r2_buckets ?? []).map((b) => ({ name: b.bucket_name, jurisdiction: b.jurisdiction }));
step("R2 buckets");
{
  // `wrangler r2 bucket list` prints "name: <bucket>" and "creation_date: …" per bucket, one jurisdiction at a time.
  const names = (out) => [...stripAnsi(out).matchAll(/^name:\s+(\S+)\s*$/gm)].map((m) => m[1]);
  for (const { name, jurisdiction } of buckets) {
    const where = jurisdiction ? ` (jurisdiction ${jurisdiction})` : "";
    if (names(wrangler(["r2", "bucket", "list", ...jurisdictionArgs(jurisdiction)]).out).includes(name))
      console.log(`  ${name} exists${where}`);
    else {
      wrangler(["r2", "bucket", "create", name, ...jurisdictionArgs(jurisdiction)]);
      console.log(`  created ${name}${where}`);
    }
  }
}

config = readConfig();
if (
  (config.d1_databases ?? []).some((d) => isPlaceholderD1(d.database_id)) ||
  (kvOf(config).id ?? PLACEHOLDER_KV_ID) === PLACEHOLDER_KV_ID
) {
  fail(`${shown} still holds a placeholder database_id or KV id: set the real ids (wrangler d1 list, wrangler kv namespace list).`);
}

// ---------------------------------------------------------------------------------------
// 3. Migrations.

step("D1 migrations (remote)");
// Every database gets every migration: the control tables are empty in the shards, the audit
// tables hold the default shard 0's tenants in the control database.
for (const d1 of config.d1_databases ?? []) wranglerLive(["d1", "migrations", "apply", d1.binding, "--remote"]);

// ---------------------------------------------------------------------------------------
// 4. Secrets: only those not set yet. Values go to wrangler on stdin.

step("Secrets");
{
  const required = config.secrets?.required ?? GENERATED_SECRETS;
  const list = wrangler(["secret", "list", "--format", "json"], { allowFailure: true });
  let existing;
  if (list.ok) existing = new Set(jsonArray(list.out, "wrangler secret list").map((s) => s.name));
  else if (/Worker "[^"]+"(?: \(env: [^)]*\))? not found/.test(stripAnsi(list.out + list.err))) {
    existing = new Set(); // A new Worker: `wrangler secret put` creates it, with no code yet.
  } else {
    process.stderr.write(list.out + list.err);
    fail("`wrangler secret list` failed (see above).");
  }
  const missing = required.filter((s) => !existing.has(s));
  const unknown = missing.filter((s) => unknownSecrets.includes(s));
  if (unknown.length > 0)
    fail(`Set ${unknown.join(", ")} first: \`npx wrangler secret put <NAME>\` (this script only makes Sealtrail's own secrets).`);
  for (const name of required.filter((s) => existing.has(s))) console.log(`  ${name} is set (kept)`);
  for (const name of missing) {
    let value = randomBytes(32).toString("base64url");
    if (name in BACKED_UP) {
      // Durable before it is used: a crash after `secret put` must not lose the only copy.
      const saved = existsSync(backupPath) ? new RegExp(`^${name}=(\\S+)$`, "m").exec(readFileSync(backupPath, "utf8"))?.[1] : undefined;
      if (saved) {
        value = saved;
        console.log(`  using the ${name} saved in ${relative(process.cwd(), backupPath)}`);
      } else if (existsSync(backupPath)) {
        appendFileSync(backupPath, `${name}=${value}\n`);
      } else {
        writeFileSync(
          backupPath,
          `# Sealtrail's own secrets for the Worker "${config.name}", made by npm run deploy.\n` +
            `# Back them up (password manager, offline), then delete this file. Not committed.\n` +
            `${name}=${value}\n`,
          { mode: 0o600 },
        );
      }
    }
    wrangler(["secret", "put", name], { input: `${value}\n` });
    console.log(`  ${name} set`);
    if (name in BACKED_UP) {
      console.log(
        `\n  !! Back up ${name} now: it is in ${relative(process.cwd(), backupPath)} (mode 600), and\n` +
          `  !! Cloudflare will never show it again. ${BACKED_UP[name]} Keep it somewhere safe, then delete the file.`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------
// 5. Build and deploy.

if (!opts["skip-build"]) {
  step("Build (CLI, SDK, web console)");
  const build = spawnSync("npm", ["run", "build"], { env, stdio: "inherit" });
  if (build.status !== 0) fail("npm run build failed (see above).");
}
step("wrangler deploy");
wranglerLive(["deploy"]);

// ---------------------------------------------------------------------------------------
// 6. The bucket lock: advice only (a lock is a retention decision for the deployer).

for (const { name: bucket, jurisdiction } of buckets) {
  const locks = wrangler(["r2", "bucket", "lock", "list", bucket, ...jurisdictionArgs(jurisdiction)], { allowFailure: true });
  if (locks.ok && /There are no lock rules/.test(locks.out)) {
    console.log(
      `\nThe R2 bucket ${bucket} has no lock rule: whoever holds the account can still delete or overwrite snapshots.\n` +
        `Lock them for your longest retention (README, "Deploy to Cloudflare"), e.g. 7 years:\n` +
        `  npx wrangler r2 bucket lock add ${bucket} retain-seals tenants/ --retention-days 2557${jurisdiction ? ` --jurisdiction ${jurisdiction}` : ""}`,
    );
  }
}
console.log(`\nDeployed. The console is at ${config.vars.BETTER_AUTH_URL}`);
