#!/usr/bin/env node
// A stand-in for `wrangler` in test/scripts/deploy.test.ts: a Cloudflare account we cannot reach
// from here, kept in the JSON file $FAKE_WRANGLER_STATE. It records every call (argv, and stdin
// for `secret put`) and answers the commands scripts/deploy.mjs uses, printing what wrangler
// 4.156.2 prints (its messages, taken from node_modules/wrangler/wrangler-dist/cli.js: the
// banner, `d1 list --json`, the TOML snippets after a create, `r2 bucket list`'s labelled
// values, `secret list`'s JSON and its "not found" error). Anything else fails loudly.
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";

const statePath = process.env.FAKE_WRANGLER_STATE;
if (!statePath) {
  console.error("FAKE_WRANGLER_STATE is not set");
  process.exit(2);
}
const state = JSON.parse(readFileSync(statePath, "utf8"));
const argv = process.argv.slice(2);
const configAt = argv.indexOf("--config");
const config = configAt >= 0 ? argv[configAt + 1] : undefined;
const args = configAt >= 0 ? [...argv.slice(0, configAt), ...argv.slice(configAt + 2)] : argv;
// `--jurisdiction <j>` (D1 and R2 create, R2 list and lock list): taken out of the command, kept.
const jAt = args.indexOf("--jurisdiction");
const jurisdiction = jAt >= 0 ? args[jAt + 1] : undefined;
if (jAt >= 0) args.splice(jAt, 2);
const command = args.join(" ");
const call = { argv, config };
state.calls.push(call);

const save = () => writeFileSync(statePath, JSON.stringify(state, null, 2));
const out = (s) => process.stdout.write(`${s}\n`);
const banner = () => {
  const text = " \u26C5\uFE0F wrangler 4.156.2";
  out(`\n${text}\n${"\u2500".repeat(text.length)}`);
};
const error = (message) => {
  process.stderr.write(`\n\u2718 [ERROR] ${message}\n\n`);
  save();
  process.exit(1);
};
const readStdin = () => {
  try {
    return readFileSync(0, "utf8");
  } catch {
    return "";
  }
};
const hex = (n) => Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join("");
/** formatLabelledValues: labels left-aligned, values two spaces after the longest label. */
const labelled = (view) => {
  const width = Math.max(...Object.keys(view).map((k) => k.length + 1));
  return Object.entries(view)
    .map(([k, v]) => `${k}:${" ".repeat(width + 2 - (k.length + 1))}${v}`)
    .join("\n");
};
const workerName = state.workerName ?? "sealtrail";
const notFound = () =>
  error(
    `Worker "${workerName}" not found.\n\nIf this is a new Worker, run \`wrangler deploy\` first to create it.\n` +
      `Otherwise, check that the Worker name is correct and you're logged into the right account.`,
  );

if (!state.loggedIn) {
  error("In a non-interactive environment, it's necessary to set a CLOUDFLARE_API_TOKEN environment variable for wrangler to work.");
}

switch (true) {
  case command === "d1 list --json":
    out(JSON.stringify(state.d1, null, 2));
    break;
  case /^d1 create \S+$/.test(command): {
    banner();
    const name = args[2];
    if (state.d1.some((d) => d.name === name)) error(`A database with that name already exists [code: 7502]`);
    if (jurisdiction !== undefined && !["eu", "fedramp", "us"].includes(jurisdiction)) error(`Invalid jurisdiction ${jurisdiction}`);
    const db = { uuid: randomUUID(), name, created_at: new Date().toISOString(), version: "production", num_tables: 0, file_size: 12288 };
    if (jurisdiction) db.jurisdiction = jurisdiction;
    state.d1.push(db);
    out(`\u2705 Successfully created DB '${name}' in region WEUR`);
    out("Created your new D1 database.\n");
    out("To access your new D1 Database in your Worker, add the following snippet to your configuration file:");
    out(`[[d1_databases]]\nbinding = "${name}"\ndatabase_name = "${name}"\ndatabase_id = "${db.uuid}"\n`);
    break;
  }
  case command === "kv namespace list":
    out(JSON.stringify(state.kv, null, "  "));
    break;
  case /^kv namespace create \S+$/.test(command): {
    banner();
    const title = args[3];
    out("Resource location: remote \n");
    out(`\u{1F300} Creating namespace with title "${title}"`);
    if (state.kv.some((n) => n.title === title)) error(`A KV namespace with the title "${title}" already exists.`);
    const ns = { id: hex(32), title, supports_url_encoding: true };
    state.kv.push(ns);
    out("\u2728 Success!");
    out("To access your new KV Namespace in your Worker, add the following snippet to your configuration file:");
    out(`[[kv_namespaces]]\nbinding = "${title.replace(/[\s-]/g, "_")}"\nid = "${ns.id}"\n`);
    break;
  }
  case command === "r2 bucket list":
    banner();
    out("Listing buckets...");
    out(
      state.r2
        .filter((b) => b.jurisdiction === jurisdiction)
        .map((b) => labelled({ name: b.name, creation_date: b.creation_date }))
        .join("\n\n"),
    );
    break;
  case /^r2 bucket create \S+$/.test(command): {
    banner();
    const name = args[3];
    out(`Creating bucket '${name}'...`);
    if (state.r2.some((b) => b.name === name && b.jurisdiction === jurisdiction))
      error(`The bucket you tried to create already exists, and you own it. [code: 10004]`);
    state.r2.push({ name, creation_date: new Date().toISOString(), ...(jurisdiction ? { jurisdiction } : {}) });
    out(`\u2705 Created bucket '${name}' with default storage class of Standard.`);
    out("To access your new R2 Bucket in your Worker, add the following snippet to your configuration file:");
    out(`[[r2_buckets]]\nbucket_name = "${name}"\nbinding = "${name.replace(/[\s-]/g, "_")}"\n`);
    break;
  }
  case /^r2 bucket lock list \S+$/.test(command):
    banner();
    out(`Listing lock rules for bucket '${args[4]}'...`);
    out(`There are no lock rules for bucket '${args[4]}'.`);
    break;
  case /^d1 migrations apply \S+ --remote$/.test(command): {
    banner();
    out("Resource location: remote \n");
    // Per binding: `migrationsApplied` holds DB's (as before shards), `migrationsAppliedTo` every binding's.
    const binding = args[3];
    state.migrationsAppliedTo ??= {};
    const applied = binding === "DB" ? state.migrationsApplied : (state.migrationsAppliedTo[binding] ?? []);
    const all = readdirSync(state.migrationsDir)
      .filter((f) => f.endsWith(".sql"))
      .sort();
    const pending = all.filter((m) => !applied.includes(m));
    if (pending.length === 0) out("\u2705 No migrations to apply!");
    else {
      out("Migrations to be applied:");
      for (const m of pending) out(`\u2502 ${m} \u2502`);
      applied.push(...pending);
    }
    state.migrationsAppliedTo[binding] = applied;
    break;
  }
  case command === "secret list --format json":
    if (!state.workerExists) notFound();
    out(
      JSON.stringify(
        Object.keys(state.secrets).map((name) => ({ name, type: "secret_text" })),
        null,
        "  ",
      ),
    );
    break;
  case /^secret put \S+$/.test(command): {
    banner();
    const name = args[2];
    const value = readStdin().replace(/\s+$/, "");
    call.stdin = value;
    if (!state.workerExists) {
      out(`\u{1F300} Creating new Worker "${workerName}"...`);
      state.workerExists = true;
    }
    out(`\u{1F300} Creating the secret for the Worker "${workerName}" `);
    state.secrets[name] = value;
    out(`\u2728 Success! Uploaded secret ${name}`);
    break;
  }
  case command === "deploy": {
    banner();
    const required = state.requiredSecrets ?? ["BETTER_AUTH_SECRET", "SEALTRAIL_SIGNING_SECRET", "SEALTRAIL_SUBJECT_KEY_SECRET"];
    const missing = required.filter((s) => !(s in state.secrets));
    if (missing.length > 0) error(`The following required secrets have not been set: ${missing.join(", ")}`);
    state.workerExists = true;
    state.deploys += 1;
    out("Total Upload: 3249.81 KiB / gzip: 567.98 KiB");
    out(`Uploaded ${workerName} (4.20 sec)`);
    out(`Deployed ${workerName} triggers (0.42 sec)`);
    out(`  https://${workerName}.example.workers.dev`);
    out(`Current Version ID: ${randomUUID()}`);
    break;
  }
  default:
    process.stderr.write(`fake wrangler: unexpected command: wrangler ${argv.join(" ")}\n`);
    state.unexpected = (state.unexpected ?? 0) + 1;
    save();
    process.exit(2);
}
save();
