/**
 * `npm run deploy` (scripts/deploy.mjs). Cloudflare is out of reach here, so:
 * - the refusals run for real, on the repository's own wrangler.toml: nothing is called;
 * - the rest runs the same script against a stand-in `wrangler` first on PATH
 *   (./fake-wrangler.mjs: an account kept in a JSON file, answering in wrangler's formats), on a
 *   copy of wrangler.toml with production settings.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { afterEach, describe, expect, test } from "vitest";

const ROOT = resolve(".");
const BIN = resolve("node_modules/.bin");
const PLACEHOLDER_D1 = "00000000-0000-0000-0000-000000000000";
const PLACEHOLDER_KV = "00000000000000000000000000000000";

interface Account {
  loggedIn: boolean;
  workerName: string;
  d1: { uuid: string; name: string; created_at: string; version: string; num_tables: number; file_size: number }[];
  kv: { id: string; title: string; supports_url_encoding: boolean }[];
  r2: { name: string; creation_date: string }[];
  workerExists: boolean;
  secrets: Record<string, string>;
  migrationsDir: string;
  migrationsApplied: string[];
  deploys: number;
  calls: { argv: string[]; config?: string; stdin?: string }[];
  unexpected?: number;
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * wrangler.toml as the repository ships it: local [vars], placeholder ids. (A deployer's copy
 * holds production values and real ids after `npm run deploy`; the tests never use those.)
 */
function shipped(): string {
  const set = (toml: string, key: string, value: string) => toml.replace(new RegExp(`^${key} = .*$`, "m"), `${key} = "${value}"`);
  let toml = readFileSync("wrangler.toml", "utf8");
  for (const [key, value] of [
    ["name", "sealtrail"],
    ["BETTER_AUTH_URL", "http://127.0.0.1:8787"],
    ["TRUSTED_ORIGINS", "http://localhost:8787"],
    ["SEALTRAIL_ORIGIN", "sealtrail.localhost"],
    ["database_name", "sealtrail"],
    ["database_id", PLACEHOLDER_D1],
    ["bucket_name", "sealtrail-snapshots"],
    ["id", PLACEHOLDER_KV],
  ]) {
    toml = set(toml, key!, value!);
  }
  return toml;
}

/** A deployer's folder: wrangler.toml (as shipped, with `edit` applied) and a fake account. */
function setup(account: Partial<Account> = {}, edit: (toml: string) => string = production) {
  const dir = mkdtempSync(join(tmpdir(), "sealtrail-deploy-"));
  dirs.push(dir);
  const config = join(dir, "wrangler.toml");
  writeFileSync(config, edit(shipped()));
  const bin = join(dir, "bin");
  spawnSync("mkdir", [bin]);
  copyFileSync("test/scripts/fake-wrangler.mjs", join(bin, "wrangler"));
  chmodSync(join(bin, "wrangler"), 0o755);
  const statePath = join(dir, "account.json");
  const state: Account = {
    loggedIn: true,
    workerName: "sealtrail",
    d1: [],
    kv: [{ id: "f".repeat(32), title: "someone-elses-kv", supports_url_encoding: true }],
    r2: [],
    workerExists: false,
    secrets: {},
    migrationsDir: resolve("migrations"),
    migrationsApplied: [],
    deploys: 0,
    calls: [],
    ...account,
  };
  writeFileSync(statePath, JSON.stringify(state));
  return {
    dir,
    config,
    account: () => JSON.parse(readFileSync(statePath, "utf8")) as Account,
    /** The calls made, without the `--config <file>` every one of them carries. */
    commands: () =>
      (JSON.parse(readFileSync(statePath, "utf8")) as Account).calls.map((c) => {
        expect(c.config).toBe(config);
        const i = c.argv.indexOf("--config");
        return [...c.argv.slice(0, i), ...c.argv.slice(i + 2)].join(" ");
      }),
    run: () => deploy(["--config", config, "--skip-build"], { bin, statePath }),
  };
}

function deploy(args: string[], fake?: { bin: string; statePath: string }) {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: [fake?.bin, BIN, process.env.PATH].filter(Boolean).join(delimiter) };
  // vitest.config.ts puts test secrets into process.env: a deployer's shell has none.
  delete env.BETTER_AUTH_SECRET;
  delete env.SEALTRAIL_SIGNING_SECRET;
  if (fake) env.FAKE_WRANGLER_STATE = fake.statePath;
  const r = spawnSync(process.execPath, ["scripts/deploy.mjs", ...args], { cwd: ROOT, env, encoding: "utf8" });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

/** The [vars] a deployer sets for production. */
function production(toml: string): string {
  return toml
    .replace(/^BETTER_AUTH_URL = .*$/m, 'BETTER_AUTH_URL = "https://audit.example.com"')
    .replace(/^TRUSTED_ORIGINS = .*$/m, 'TRUSTED_ORIGINS = ""')
    .replace(/^SEALTRAIL_ORIGIN = .*$/m, 'SEALTRAIL_ORIGIN = "audit.example.com"');
}

/** The tenant data shards and jurisdiction buckets wrangler.toml ships with (src/durable/placement.ts), beside DB and BUCKET. */
const SHARDS = [
  { binding: "DB_S1", name: "sealtrail-s1", placeholder: "00000000-0000-0000-0000-000000000001", flag: "" },
  { binding: "DB_EU_S0", name: "sealtrail-eu-s0", placeholder: "00000000-0000-0000-0000-000000000002", flag: " --jurisdiction eu" },
  {
    binding: "DB_FEDRAMP_S0",
    name: "sealtrail-fedramp-s0",
    placeholder: "00000000-0000-0000-0000-000000000003",
    flag: " --jurisdiction fedramp",
  },
];
const JURISDICTION_BUCKETS = [
  { name: "sealtrail-snapshots-eu", flag: " --jurisdiction eu" },
  { name: "sealtrail-snapshots-fedramp", flag: " --jurisdiction fedramp" },
];
const createShards = SHARDS.flatMap((d) => [`d1 create ${d.name}${d.flag}`, "d1 list --json"]);
const listJurisdictionBuckets = JURISDICTION_BUCKETS.map((b) => `r2 bucket list${b.flag}`);
const createJurisdictionBuckets = JURISDICTION_BUCKETS.flatMap((b) => [`r2 bucket list${b.flag}`, `r2 bucket create ${b.name}${b.flag}`]);
const migrateAll = ["DB", ...SHARDS.map((d) => d.binding)].map((b) => `d1 migrations apply ${b} --remote`);
const lockLists = ["r2 bucket lock list sealtrail-snapshots", ...JURISDICTION_BUCKETS.map((b) => `r2 bucket lock list ${b.name}${b.flag}`)];

const tomlValue = (toml: string, key: string) => new RegExp(`^${key} = "([^"]*)"`, "m").exec(toml)?.[1];

describe("npm run deploy refuses local settings before any remote call", () => {
  test("npm run deploy with the repository's wrangler.toml: exit 1, naming what to set, nothing changed", () => {
    // The real wrangler is first on npm's PATH here, so it gets no login at all (an empty home,
    // no token): had the script not refused, wrangler could not have reached an account.
    const home = mkdtempSync(join(tmpdir(), "sealtrail-deploy-home-"));
    dirs.push(home);
    const config = join(home, "wrangler.toml");
    writeFileSync(config, shipped());
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: join(home, ".config"),
      PATH: `${BIN}${delimiter}${process.env.PATH}`,
    };
    for (const name of ["CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL", "CLOUDFLARE_ACCOUNT_ID"]) delete env[name];
    const r = spawnSync("npm", ["run", "--silent", "deploy", "--", "--config", config], { cwd: ROOT, encoding: "utf8", env });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("Not deploying");
    expect(r.stderr).toMatch(/SEALTRAIL_ORIGIN is "sealtrail\.localhost".*audit\.example\.com/);
    expect(r.stderr).toMatch(/BETTER_AUTH_URL is "http:\/\/127\.0\.0\.1:8787"\. Set it to the https URL/);
    expect(r.stderr).toMatch(/TRUSTED_ORIGINS lists "http:\/\/localhost:8787"/);
    expect(r.stdout).not.toContain("▸");
    expect(readFileSync(config, "utf8")).toBe(shipped());
    expect(existsSync(join(home, ".deploy-secrets"))).toBe(false);
  });

  test("with a stand-in wrangler first on PATH, it is never called", () => {
    const s = setup({}, (t) => t);
    const r = s.run();
    expect(r.status).toBe(1);
    expect(r.err).toContain("SEALTRAIL_ORIGIN");
    expect(s.commands()).toEqual([]);
  });

  test("each local setting is named on its own", () => {
    const cases: [string, (t: string) => string, RegExp][] = [
      ["origin", (t) => production(t).replace(/^SEALTRAIL_ORIGIN = .*$/m, 'SEALTRAIL_ORIGIN = "sealtrail.localhost"'), /SEALTRAIL_ORIGIN/],
      ["auth url", (t) => production(t).replace(/^BETTER_AUTH_URL = .*$/m, 'BETTER_AUTH_URL = "http://localhost:8787"'), /BETTER_AUTH_URL/],
      [
        "plain http",
        (t) => production(t).replace(/^BETTER_AUTH_URL = .*$/m, 'BETTER_AUTH_URL = "http://audit.example.com"'),
        /BETTER_AUTH_URL/,
      ],
      [
        "trusted",
        (t) => production(t).replace(/^TRUSTED_ORIGINS = .*$/m, 'TRUSTED_ORIGINS = "https://a.example, http://127.0.0.1:8787"'),
        /TRUSTED_ORIGINS lists "http:\/\/127/,
      ],
      [
        "local dev",
        (t) => production(t).replace(/^SEALTRAIL_KEY_VERSION = .*$/m, 'SEALTRAIL_KEY_VERSION = "1"\nSEALTRAIL_LOCAL_DEV = "1"'),
        /SEALTRAIL_LOCAL_DEV is set/,
      ],
    ];
    for (const [name, edit, named] of cases) {
      const s = setup({}, edit);
      const r = s.run();
      expect(r.status, name).toBe(1);
      expect(r.err, name).toMatch(named);
      expect(r.err.match(/^ {2}- /gm), name).toHaveLength(1);
      expect(s.commands(), name).toEqual([]);
    }
  });

  test("a database_id that is not in the account: stops after looking, creates and deploys nothing", () => {
    const s = setup({}, (t) => production(t).replace(PLACEHOLDER_D1, "11111111-2222-3333-4444-555555555555"));
    const r = s.run();
    expect(r.status).toBe(1);
    expect(r.err).toContain('database_id "11111111-2222-3333-4444-555555555555"');
    expect(s.commands()).toEqual(["d1 list --json"]);
  });
});

describe("npm run deploy against a stand-in wrangler", () => {
  test("a new account: creates what is missing, writes the ids, migrates, sets the three secrets, deploys; again: nothing new", () => {
    const s = setup({ r2: [{ name: "sealtrail-snapshots", creation_date: "2026-11-01T10:00:00.000Z" }] });
    const original = readFileSync(s.config, "utf8");

    const first = s.run();
    expect(first.status, first.out + first.err).toBe(0);
    expect(s.commands()).toEqual([
      "d1 list --json",
      "d1 create sealtrail",
      "d1 list --json",
      ...createShards,
      "kv namespace list",
      "kv namespace create sealtrail-kv",
      "kv namespace list",
      "r2 bucket list",
      ...createJurisdictionBuckets,
      ...migrateAll,
      "secret list --format json",
      "secret put BETTER_AUTH_SECRET",
      "secret put SEALTRAIL_SIGNING_SECRET",
      "secret put SEALTRAIL_SUBJECT_KEY_SECRET",
      "deploy",
      ...lockLists,
    ]);
    const firstCalls = s.commands().length;
    const account = s.account();
    const db = account.d1.find((d) => d.name === "sealtrail")!;
    const kv = account.kv.find((k) => k.title === "sealtrail-kv")!;
    // The ids are in wrangler.toml, and nothing else in it changed (comments included).
    const written = readFileSync(s.config, "utf8");
    expect(tomlValue(written, "database_id")).toBe(db.uuid);
    expect(tomlValue(written, "id")).toBe(kv.id);
    let restored = written.replace(db.uuid, PLACEHOLDER_D1).replace(kv.id, PLACEHOLDER_KV);
    for (const shard of SHARDS) {
      const created = account.d1.find((d) => d.name === shard.name)!;
      // Each shard of a jurisdiction is created in it.
      expect((created as { jurisdiction?: string }).jurisdiction ?? "").toBe(shard.flag.replace(" --jurisdiction ", ""));
      restored = restored.replace(created.uuid, shard.placeholder);
    }
    expect(restored).toBe(original);
    expect(account.migrationsApplied.length).toBeGreaterThan(0);
    // Every database gets every migration.
    const appliedTo = (account as { migrationsAppliedTo?: Record<string, string[]> }).migrationsAppliedTo ?? {};
    for (const binding of ["DB", ...SHARDS.map((d) => d.binding)]) expect(appliedTo[binding]).toEqual(account.migrationsApplied);
    expect(account.r2.map((b) => [b.name, (b as { jurisdiction?: string }).jurisdiction])).toEqual([
      ["sealtrail-snapshots", undefined],
      ["sealtrail-snapshots-eu", "eu"],
      ["sealtrail-snapshots-fedramp", "fedramp"],
    ]);
    expect(account.deploys).toBe(1);

    // Fresh random secrets, passed on stdin; the signing secret is saved for the deployer to back up.
    const auth = account.secrets.BETTER_AUTH_SECRET!;
    const signing = account.secrets.SEALTRAIL_SIGNING_SECRET!;
    expect(auth).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(signing).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(auth).not.toBe(signing);
    expect(account.calls.flatMap((c) => c.argv).join(" ")).not.toContain(signing);
    const backup = join(s.dir, ".deploy-secrets");
    expect(readFileSync(backup, "utf8")).toContain(`SEALTRAIL_SIGNING_SECRET=${signing}\n`);
    expect(statSync(backup).mode & 0o777).toBe(0o600);
    expect(first.out).toContain("Back up SEALTRAIL_SIGNING_SECRET now");
    // The subject key secret (personal fields) is a secret of its own, saved the same way.
    const subjectKeys = account.secrets.SEALTRAIL_SUBJECT_KEY_SECRET!;
    expect(subjectKeys).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect([auth, signing]).not.toContain(subjectKeys);
    expect(readFileSync(backup, "utf8")).toContain(`SEALTRAIL_SUBJECT_KEY_SECRET=${subjectKeys}\n`);
    expect(first.out).toContain("Back up SEALTRAIL_SUBJECT_KEY_SECRET now");
    expect(first.out).toContain("npx wrangler r2 bucket lock add sealtrail-snapshots retain-seals tenants/ --retention-days 2557");

    // Again: the same resources, the same secrets, another deploy.
    const second = s.run();
    expect(second.status, second.out + second.err).toBe(0);
    expect(s.commands().slice(firstCalls)).toEqual([
      "d1 list --json",
      "kv namespace list",
      "r2 bucket list",
      ...listJurisdictionBuckets,
      ...migrateAll,
      "secret list --format json",
      "deploy",
      ...lockLists,
    ]);
    const after = s.account();
    expect(after.d1).toEqual(account.d1);
    expect(after.kv).toEqual(account.kv);
    expect(after.secrets).toEqual(account.secrets);
    expect(after.deploys).toBe(2);
    expect(readFileSync(s.config, "utf8")).toBe(written);
    expect(second.out).not.toContain("Back up SEALTRAIL_SIGNING_SECRET now");
  });

  test("an existing Worker and database: uses them, creates the bucket, sets only the missing secrets (the signing one from .deploy-secrets)", () => {
    const uuid = "6f1d2c3b-aaaa-4bbb-8ccc-0123456789ab";
    const s = setup({
      d1: [{ uuid, name: "sealtrail", created_at: "2026-01-01T00:00:00.000Z", version: "production", num_tables: 12, file_size: 90_112 }],
      kv: [{ id: "a".repeat(32), title: "sealtrail-kv", supports_url_encoding: true }],
      workerExists: true,
      secrets: { BETTER_AUTH_SECRET: "kept-as-it-is" },
    });
    // A signing secret restored from the deployer's backup is used, not replaced.
    const restored = "restored-signing-secret-restored-signing-secret";
    writeFileSync(join(s.dir, ".deploy-secrets"), `SEALTRAIL_SIGNING_SECRET=${restored}\n`, { mode: 0o600 });

    const r = s.run();
    expect(r.status, r.out + r.err).toBe(0);
    expect(s.commands()).toEqual([
      "d1 list --json",
      ...createShards,
      "kv namespace list",
      "r2 bucket list",
      "r2 bucket create sealtrail-snapshots",
      ...createJurisdictionBuckets,
      ...migrateAll,
      "secret list --format json",
      "secret put SEALTRAIL_SIGNING_SECRET",
      "secret put SEALTRAIL_SUBJECT_KEY_SECRET",
      "deploy",
      ...lockLists,
    ]);
    const account = s.account();
    const subjectKeys = account.secrets.SEALTRAIL_SUBJECT_KEY_SECRET!;
    expect(account.secrets).toEqual({
      BETTER_AUTH_SECRET: "kept-as-it-is",
      SEALTRAIL_SIGNING_SECRET: restored,
      SEALTRAIL_SUBJECT_KEY_SECRET: subjectKeys,
    });
    // Added to the backup beside the restored signing secret, which stays as it was.
    expect(readFileSync(join(s.dir, ".deploy-secrets"), "utf8")).toBe(
      `SEALTRAIL_SIGNING_SECRET=${restored}\nSEALTRAIL_SUBJECT_KEY_SECRET=${subjectKeys}\n`,
    );
    expect(account.r2.map((b) => b.name)).toEqual(["sealtrail-snapshots", ...JURISDICTION_BUCKETS.map((b) => b.name)]);
    const written = readFileSync(s.config, "utf8");
    expect(tomlValue(written, "database_id")).toBe(uuid);
    expect(tomlValue(written, "id")).toBe("a".repeat(32));
  });

  test("not logged in: wrangler's own message, and a hint", () => {
    const s = setup({ loggedIn: false });
    const r = s.run();
    expect(r.status).toBe(1);
    expect(r.err).toContain("CLOUDFLARE_API_TOKEN");
    expect(r.err).toContain("npx wrangler login");
    expect(s.commands()).toEqual(["d1 list --json"]);
  });
});
