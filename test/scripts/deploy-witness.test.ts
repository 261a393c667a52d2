/**
 * `npm run deploy:witness` (scripts/deploy-witness.mjs) against the stand-in wrangler
 * (./fake-wrangler.mjs, as test/scripts/deploy.test.ts uses it): refusals before any remote call,
 * the key made once (saved before `secret put`, given on stdin), kept afterwards, and the vkey and
 * URL printed.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import {
  COSIGNATURE_TYPE_ED25519,
  COSIGNATURE_TYPE_ML_DSA_44,
  parseCosignerKey,
  parseCosignerPrivateKey,
} from "../../src/core/cosignature";

const ROOT = resolve(".");
const BIN = resolve("node_modules/.bin");
const TESSERA = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx";

interface Account {
  loggedIn: boolean;
  workerName: string;
  workerExists: boolean;
  secrets: Record<string, string>;
  requiredSecrets: string[];
  deploys: number;
  calls: { argv: string[]; config?: string; stdin?: string }[];
  unexpected?: number;
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** wrangler.witness.toml with its [vars] set as a deployer would (or `edit`). */
function production(toml: string): string {
  return toml
    .replace(/^WITNESS_LOGS = """\n"""$/m, `WITNESS_LOGS = """\n${TESSERA}\n"""`)
    .replace(/^WITNESS_NAME = .*$/m, 'WITNESS_NAME = "witness.example.com/w1"');
}

function setup(account: Partial<Account> = {}, edit: (toml: string) => string = production) {
  const dir = mkdtempSync(join(tmpdir(), "sealtrail-deploy-witness-"));
  dirs.push(dir);
  const config = join(dir, "wrangler.witness.toml");
  writeFileSync(config, edit(readFileSync("wrangler.witness.toml", "utf8")));
  const bin = join(dir, "bin");
  mkdirSync(bin);
  copyFileSync("test/scripts/fake-wrangler.mjs", join(bin, "wrangler"));
  chmodSync(join(bin, "wrangler"), 0o755);
  const statePath = join(dir, "account.json");
  const state: Account = {
    loggedIn: true,
    workerName: "sealtrail-witness",
    workerExists: false,
    secrets: {},
    requiredSecrets: ["WITNESS_PRIVATE_KEY"],
    deploys: 0,
    calls: [],
    ...account,
  };
  writeFileSync(statePath, JSON.stringify(state));
  const run = () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: [bin, BIN, process.env.PATH].join(delimiter), FAKE_WRANGLER_STATE: statePath };
    delete env.WITNESS_PRIVATE_KEY; // vitest.config.ts sets the test witness's key in process.env
    const r = spawnSync(process.execPath, ["scripts/deploy-witness.mjs", "--config", config], { cwd: ROOT, env, encoding: "utf8" });
    return { status: r.status, out: r.stdout, err: r.stderr };
  };
  const account_ = () => JSON.parse(readFileSync(statePath, "utf8")) as Account;
  const commands = () =>
    account_().calls.map((c) => {
      expect(c.config).toBe(config);
      const i = c.argv.indexOf("--config");
      return [...c.argv.slice(0, i), ...c.argv.slice(i + 2)].join(" ");
    });
  return { dir, config, run, account: account_, commands, backup: join(dir, ".deploy-secrets-witness") };
}

describe("npm run deploy:witness", () => {
  test("refuses the shipped configuration (no log, a local name) before any remote call", () => {
    const s = setup({}, (t) => t);
    const r = s.run();
    expect(r.status).toBe(1);
    expect(r.err).toContain("Not deploying the witness");
    expect(r.err).toContain("WITNESS_LOGS lists no log");
    expect(r.err).toContain('WITNESS_NAME is "witness.localhost"');
    expect(s.account().calls).toEqual([]);
  });

  test("refuses a log entry that does not parse, and an unknown key type", () => {
    const bad = setup({}, (t) => production(t).replace(TESSERA, `${TESSERA}\nnot-a-key`));
    expect(bad.run().err).toMatch(/WITNESS_LOGS: .*not-a-key/);
    expect(bad.account().calls).toEqual([]);
    const type = setup({}, (t) => production(t).replace('WITNESS_KEY_TYPE = "ml-dsa-44"', 'WITNESS_KEY_TYPE = "rsa"'));
    expect(type.run().err).toContain('WITNESS_KEY_TYPE is "rsa"');
    expect(type.account().calls).toEqual([]);
  });

  test("makes an ML-DSA-44 key once, saved before it is sent on stdin, deploys, and prints the vkey and URL", () => {
    const s = setup();
    const r = s.run();
    expect(r.status, r.err).toBe(0);
    expect(s.commands()).toEqual(["secret list --format json", "secret put WITNESS_PRIVATE_KEY", "deploy"]);
    const put = s.account().calls.find((c) => c.argv.includes("put"))!;
    expect(put.argv.join(" ")).not.toContain("PRIVATE+KEY"); // never on a command line
    const key = put.stdin!;
    const cosigner = parseCosignerPrivateKey(key);
    if (!cosigner.ok) throw new Error(JSON.stringify(cosigner.error));
    expect(cosigner.value.key.type).toBe(COSIGNATURE_TYPE_ML_DSA_44);
    expect(cosigner.value.key.name).toBe("witness.example.com/w1");
    expect(readFileSync(s.backup, "utf8")).toContain(`WITNESS_PRIVATE_KEY=${key}\n`);
    expect(statSync(s.backup).mode & 0o777).toBe(0o600);
    expect(r.out).toContain(`vkey: ${cosigner.value.key.vkey}`);
    expect(r.out).toContain("at https://sealtrail-witness.example.workers.dev");
    expect(r.out).toContain(`SEALTRAIL_WITNESSES=${cosigner.value.key.vkey}@https://sealtrail-witness.example.workers.dev`);
    expect(r.out).toContain("It witnesses: example.com/log/testdata");

    // Again: the key is kept (no put), the deploy repeats, the vkey still printed (from the saved file).
    const again = s.run();
    expect(again.status, again.err).toBe(0);
    expect(s.commands().slice(3)).toEqual(["secret list --format json", "deploy"]);
    expect(s.account().secrets.WITNESS_PRIVATE_KEY).toBe(key);
    expect(again.out).toContain(`vkey: ${cosigner.value.key.vkey}`);
    expect(s.account().deploys).toBe(2);
  });

  test("after a crash between saving the key and setting it, the saved key is the one set", () => {
    const s = setup();
    const first = s.run();
    expect(first.status).toBe(0);
    const key = s.account().secrets.WITNESS_PRIVATE_KEY!;
    // A second account where the secret never arrived, with the same saved file beside the config.
    const t = setup();
    writeFileSync(t.backup, readFileSync(s.backup));
    const r = t.run();
    expect(r.status, r.err).toBe(0);
    expect(r.out).toContain("using the key saved in");
    expect(t.account().secrets.WITNESS_PRIVATE_KEY).toBe(key);
  });

  test("WITNESS_KEY_TYPE = ed25519 makes an Ed25519 cosignature/v1 key (type 0x04)", () => {
    const s = setup({}, (t) => production(t).replace('WITNESS_KEY_TYPE = "ml-dsa-44"', 'WITNESS_KEY_TYPE = "ed25519"'));
    const r = s.run();
    expect(r.status, r.err).toBe(0);
    const vkey = /vkey: (\S+)/.exec(r.out)![1]!;
    const key = parseCosignerKey(vkey);
    expect(key.ok && key.value.type).toBe(COSIGNATURE_TYPE_ED25519);
  });

  test("not logged in: fails at the first wrangler call, with the way to log in", () => {
    const s = setup({ loggedIn: false });
    const r = s.run();
    expect(r.status).toBe(1);
    expect(r.err).toContain("`wrangler secret list` failed");
  });

  test("wrangler.witness.toml never deletes, renames or transfers WitnessLog (that would forget every cosigned checkpoint)", () => {
    const toml = readFileSync("wrangler.witness.toml", "utf8");
    expect(toml).toMatch(/\[\[migrations\]\]\s*\ntag = "v1"\s*\nnew_sqlite_classes = \["WitnessLog"\]/);
    expect(toml).not.toMatch(/deleted_classes|renamed_classes|transferred_classes/);
    expect(toml).toMatch(/class_name = "WitnessLog"/);
  });
});
