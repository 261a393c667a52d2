// `npm run deploy:witness`: deploy Sealtrail's witness (src/witness) to your own Cloudflare account,
// through wrangler, with wrangler.witness.toml (or `--config <file>`).
//  1. refuses, before any remote call, a configuration that only works locally or not at all:
//     WITNESS_LOGS empty or not parsing, WITNESS_NAME local (*.localhost) or not a key name,
//     WITNESS_KEY_TYPE neither "ml-dsa-44" nor "ed25519";
//  2. makes the witness key if the Worker has none yet (`wrangler secret list`): a fresh
//     WITNESS_PRIVATE_KEY of that name and type, written first to .deploy-secrets-witness next to
//     the config (mode 600; back it up, Cloudflare never shows a secret again), then given to
//     `wrangler secret put` on stdin. An existing key is kept, whatever WITNESS_NAME says now;
//  3. `wrangler deploy`;
//  4. prints the witness's URL and vkey: what logs and auditors configure (SEALTRAIL_WITNESSES,
//     a tenant's `witnesses` setting).
// Running it again keeps the key and deploys again (e.g. after adding a log to WITNESS_LOGS).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { experimental_readRawConfig as readRawConfig } from "wrangler";
import { isValidKeyName, KEY_TYPES, newPrivateKey, originsOf, vkeyOf } from "./witness-core.mjs";

const { values: opts } = parseArgs({ options: { config: { type: "string", default: "wrangler.witness.toml" } } });
const configPath = resolve(opts.config);
const shown = relative(process.cwd(), configPath) || configPath;
const backupPath = join(dirname(configPath), ".deploy-secrets-witness");
const env = { ...process.env, WRANGLER_SEND_METRICS: process.env.WRANGLER_SEND_METRICS ?? "false" };

function fail(message) {
  console.error(`\nNot deploying the witness. ${message}`);
  process.exit(1);
}
const step = (text) => console.log(`\n▸ ${text}`);

let config;
try {
  config = readRawConfig({ config: configPath }).rawConfig;
} catch (e) {
  fail(`Could not read ${shown}: ${e instanceof Error ? e.message : String(e)}`);
}

// ---------------------------------------------------------------------------------------
// 1. Refusals (no remote call before they pass).

const vars = config.vars ?? {};
const problems = [];
const origins = originsOf(String(vars.WITNESS_LOGS ?? ""));
if (origins instanceof Error) problems.push(`WITNESS_LOGS: ${origins.message}`);
else if (origins.length === 0) {
  problems.push(
    "WITNESS_LOGS lists no log: a witness that trusts no log refuses every checkpoint (404). Add each log's verifier key, " +
      'one per line ("<vkey>" or "<origin> <vkey>"); a Sealtrail tenant\'s is at GET /v1/keys?tenant=<tenant id>.',
  );
}
const name = String(vars.WITNESS_NAME ?? "");
const type = String(vars.WITNESS_KEY_TYPE ?? "ml-dsa-44");
if (!isValidKeyName(name) || /(^|\.)localhost(\/|$)/i.test(name)) {
  problems.push(
    `WITNESS_NAME is ${JSON.stringify(name)}. Set the name your witness signs as: a schema-less URL you control, e.g. ` +
      `"witness.example.com/w1" (no spaces or "+"). Logs and auditors pin it with the key: choose it once.`,
  );
}
if (!(type in KEY_TYPES)) problems.push(`WITNESS_KEY_TYPE is ${JSON.stringify(type)}: use "ml-dsa-44" (recommended) or "ed25519".`);
if (problems.length > 0) fail(`Edit ${shown} and run npm run deploy:witness again:\n${problems.map((p) => `  - ${p}`).join("\n")}`);

// ---------------------------------------------------------------------------------------
// wrangler, as the deployer would run it.

function wrangler(args, { input, allowFailure = false } = {}) {
  const r = spawnSync("wrangler", [...args, "--config", configPath], { env, encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
  if (r.error) fail(`Could not run wrangler (${r.error.message}). Run this through npm run deploy:witness.`);
  if (r.status !== 0 && !allowFailure) {
    process.stderr.write(r.stdout + r.stderr);
    fail(`\`wrangler ${args.join(" ")}\` failed (see above). Logged in? \`npx wrangler login\` or set CLOUDFLARE_API_TOKEN.`);
  }
  return { ok: r.status === 0, out: r.stdout ?? "", err: r.stderr ?? "" };
}
const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, "");

// ---------------------------------------------------------------------------------------
// 2. The key: made only if the Worker has none.

step("Witness key");
let vkey;
{
  const list = wrangler(["secret", "list", "--format", "json"], { allowFailure: true });
  let existing;
  if (list.ok) {
    const text = list.out;
    try {
      existing = new Set(JSON.parse(text.slice(text.indexOf("["), text.lastIndexOf("]") + 1)).map((s) => s.name));
    } catch {
      fail(`Unexpected output from wrangler secret list:\n${text}`);
    }
  } else if (/Worker "[^"]+"(?: \(env: [^)]*\))? not found/.test(stripAnsi(list.out + list.err))) {
    existing = new Set(); // A new Worker: `wrangler secret put` creates it.
  } else {
    process.stderr.write(list.out + list.err);
    fail("`wrangler secret list` failed (see above).");
  }
  const saved = existsSync(backupPath) ? /^WITNESS_PRIVATE_KEY=(\S+)$/m.exec(readFileSync(backupPath, "utf8"))?.[1] : undefined;
  if (existing.has("WITNESS_PRIVATE_KEY")) {
    console.log("  WITNESS_PRIVATE_KEY is set (kept)");
    const v = saved ? vkeyOf(saved) : undefined;
    vkey = v instanceof Error ? undefined : v;
  } else {
    let key = saved;
    if (key) console.log(`  using the key saved in ${relative(process.cwd(), backupPath)}`);
    else {
      key = newPrivateKey(name, type);
      // Durable before it is used: a crash after `secret put` must not lose the only copy.
      writeFileSync(
        backupPath,
        `# The private key of the witness Worker "${config.name}", made by npm run deploy:witness.\n` +
          "# Back it up (password manager, offline), then delete this file. Not committed.\n" +
          `WITNESS_PRIVATE_KEY=${key}\n`,
        { mode: 0o600 },
      );
    }
    const v = vkeyOf(key);
    if (v instanceof Error) fail(`${relative(process.cwd(), backupPath)}: ${v.message}`);
    vkey = v;
    wrangler(["secret", "put", "WITNESS_PRIVATE_KEY"], { input: `${key}\n` });
    console.log(`  WITNESS_PRIVATE_KEY set (${type}, named ${key.split("+")[2]})`);
    console.log(
      `\n  !! Back up the witness key now: it is in ${relative(process.cwd(), backupPath)} (mode 600), and Cloudflare will\n` +
        "  !! never show it again. Losing it means a new witness identity; leaking it lets anyone cosign as this witness.",
    );
  }
}

// ---------------------------------------------------------------------------------------
// 3. Deploy.

step("wrangler deploy");
const deployed = wrangler(["deploy"]);
process.stdout.write(deployed.out);
const url = /https:\/\/[^\s]+/.exec(stripAnsi(deployed.out))?.[0];

// ---------------------------------------------------------------------------------------
// 4. What logs and auditors configure.

console.log(`\nDeployed the witness${url ? ` at ${url}` : ""}. It witnesses: ${origins.join(", ")}`);
if (vkey) console.log(`  vkey: ${vkey}`);
else console.log(`  vkey: GET ${url ?? "<witness URL>"}/ answers it (the key was made elsewhere).`);
if (vkey && url) console.log(`  a Sealtrail deployment's default witness: SEALTRAIL_WITNESSES=${vkey}@${url}`);
