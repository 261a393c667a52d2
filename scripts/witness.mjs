// `npm run witness`: run Sealtrail's witness (src/witness, wrangler.witness.toml) locally on workerd.
// 1. creates .dev.vars.witness with a fresh witness key on first run (never committed; delete it
//    to get a new key): WITNESS_PRIVATE_KEY=PRIVATE+KEY+<name>+<id>+<base64>, of type ML-DSA-44
//    unless `--type ed25519`, named `--name` (default witness.localhost);
// 2. trusts the logs given by `--log <entry>` (repeatable) and WITNESS_LOGS (entries as in
//    wrangler.witness.toml: "<vkey>" or "<origin> <vkey>", comma or newline separated), unless
//    .dev.vars.witness sets WITNESS_LOGS itself; `--tenant <id>` (repeatable) adds that tenant's
//    published keys, fetched once at start from a Sealtrail at `--sealtrail <URL>` (default
//    http://127.0.0.1:8787, `npm run dev`) GET /v1/keys?tenant=<id>: trust on first use, for local
//    runs (a deployed witness lists the keys in wrangler.witness.toml, checked by its operator);
// 3. prints its URL, its vkey and the SEALTRAIL_WITNESSES entry for a local Sealtrail, then starts
//    `wrangler dev` on 127.0.0.1:$PORT (default 8788; `--port N` too).
// WITNESS_DEV_STATE=<dir> keeps the key (<dir>/.dev.vars.witness) and the storage (<dir>/state) there.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { isValidKeyName, newPrivateKey, originsOf, vkeyOf } from "./witness-core.mjs";

const { values: opts, positionals } = parseArgs({
  options: {
    port: { type: "string", default: process.env.PORT ?? "8788" },
    log: { type: "string", multiple: true, default: [] },
    type: { type: "string", default: "ml-dsa-44" },
    name: { type: "string", default: "witness.localhost" },
    tenant: { type: "string", multiple: true, default: [] },
    sealtrail: { type: "string", default: "http://127.0.0.1:8787" },
  },
  allowPositionals: true,
});
const fail = (message) => {
  console.error(message);
  process.exit(1);
};
if (!/^\d+$/.test(opts.port)) fail(`PORT must be a port number, not "${opts.port}".`);

const stateDir = resolve(process.env.WITNESS_DEV_STATE ?? ".wrangler/witness");
mkdirSync(stateDir, { recursive: true });
const varsFile = process.env.WITNESS_DEV_STATE ? join(stateDir, ".dev.vars.witness") : ".dev.vars.witness";

if (!existsSync(varsFile)) {
  if (!isValidKeyName(opts.name)) fail(`--name ${JSON.stringify(opts.name)} is not a valid key name (no spaces, no "+").`);
  let key;
  try {
    key = newPrivateKey(opts.name, opts.type);
  } catch (e) {
    fail(`--type: ${e.message}`);
  }
  writeFileSync(
    varsFile,
    `# The local witness's private key, made by npm run witness. Not committed. Delete to get a new key.\nWITNESS_PRIVATE_KEY=${key}\n`,
    {
      mode: 0o600,
    },
  );
  console.log(`Created ${varsFile} with a new ${opts.type} witness key named ${opts.name}.`);
}
const vars = readFileSync(varsFile, "utf8");
const keyText = /^\s*WITNESS_PRIVATE_KEY\s*=\s*(\S+)\s*$/m.exec(vars)?.[1];
const vkey = keyText ? vkeyOf(keyText) : new Error("WITNESS_PRIVATE_KEY is missing");
if (vkey instanceof Error) fail(`${varsFile}: ${vkey.message}. Delete the file to make a new key.`);

const logsInFile = /^\s*WITNESS_LOGS\s*=/m.test(vars);
/** A Sealtrail tenant's published verifier keys (every key version), as "<origin> <vkey>" entries. */
async function tenantKeys(tenant) {
  const url = `${opts.sealtrail.replace(/\/$/, "")}/v1/keys?tenant=${encodeURIComponent(tenant)}`;
  const res = await fetch(url).catch((e) => fail(`--tenant ${tenant}: could not fetch ${url} (${e.message}). Is npm run dev running?`));
  if (!res.ok) fail(`--tenant ${tenant}: ${url} answered ${res.status}.`);
  const { keys } = await res.json();
  console.log(`Trusting the keys ${url} publishes now (trust on first use): ${keys.map((k) => k.origin).join(", ")}`);
  return keys.map((k) => `${k.origin} ${k.verifier_key}`);
}
const fetched = (await Promise.all(opts.tenant.map(tenantKeys))).flat();
const logs = [...(process.env.WITNESS_LOGS ?? "").split(/[\n,]/), ...opts.log, ...fetched]
  .map((s) => s.trim())
  .filter(Boolean)
  .join(",");
const origins = originsOf(logs);
if (origins instanceof Error) fail(origins.message);
if (logsInFile && logs) console.log(`WITNESS_LOGS is set in ${varsFile}: it is used, --log and the WITNESS_LOGS variable are not.`);

const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", X_LOCAL_OBSERVABILITY: "false" };
// wrangler reads the Worker's variables from its environment too (with --env-file): only the file and --var set them.
for (const name of ["WITNESS_PRIVATE_KEY", "WITNESS_LOGS"]) delete env[name];

const url = `http://127.0.0.1:${opts.port}`;
console.log(`\nSealtrail witness at ${url} (submission and monitoring prefix; add-checkpoint at ${url}/add-checkpoint)`);
console.log(`  vkey: ${vkey}`);
if (!logsInFile) {
  if (origins.length === 0) console.log("  It trusts no log yet: add them with --log '<vkey>' (a tenant's key: GET /v1/keys?tenant=<id>).");
  for (const o of origins) console.log(`  witnesses: ${o}`);
}
console.log(`  for a local Sealtrail: SEALTRAIL_WITNESSES=${vkey}@${url}\n`);

const args = ["dev", "--config", "wrangler.witness.toml", "--ip", "127.0.0.1", "--port", opts.port];
args.push("--persist-to", join(stateDir, "state"), "--env-file", varsFile);
if (!logsInFile) args.push("--var", `WITNESS_LOGS:${logs}`);
const dev = spawn("wrangler", [...args, ...positionals], { stdio: "inherit", env });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => process.exit(code ?? 0));
