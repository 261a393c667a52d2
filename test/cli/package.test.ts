import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toBase64 } from "../../src/core/bytes";
import { entryLeafHash } from "../../src/core/entry";
import { signedLog } from "./chain";

// `npm pack` as a user would run it (after `npm run build`, which `npm test` does first), then
// the tarball installed into a fresh project with no registry (--offline): the CLI and the SDK
// must work from there, with their types, and nothing from this repository around them.
const repo = resolve(".");
const run = (cmd: string, args: string[], cwd: string) =>
  spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });

/** One genuine receipt, entry and proof, made with the core the Durable Object uses. */
function receiptFixture() {
  const secret = new TextEncoder().encode("package-test-secret-package-test-secret-0123");
  const log = signedLog("packaged", "sealtrail.test/packaged", secret, 3);
  return {
    receipt: { seq: 1, leaf_hash: toBase64(entryLeafHash(log.entries[1]!)), received_at: "", tree_size: 3 },
    entry: log.entries[1]!,
    proof: log.proofOf(1),
    key: log.key,
  };
}

describe("the npm package (npm pack, installed elsewhere)", () => {
  const work = mkdtempSync(join(tmpdir(), "sealtrail-pack-"));
  const app = join(work, "app");
  let packed: { filename: string; files: { path: string }[] };

  beforeAll(() => {
    // --ignore-scripts: `prepare` would rebuild dist/, which is already built.
    const pack = run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], repo);
    expect(pack.status, pack.stderr).toBe(0);
    packed = (JSON.parse(pack.stdout) as (typeof packed)[])[0]!;
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module" }));
    const install = run("npm", ["install", "--offline", "--ignore-scripts", "--no-audit", "--no-fund", join(work, packed.filename)], app);
    expect(install.status, install.stderr).toBe(0);
  }, 120_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("holds the CLI, the SDK and its types, and nothing else: no sources, no dependencies to install", () => {
    expect(packed.files.map((f) => f.path).sort()).toEqual([
      "README.md",
      "dist/client.d.ts",
      "dist/client.mjs",
      "dist/sealtrail.mjs",
      "package.json",
    ]);
    const manifest = JSON.parse(readFileSync(join(app, "node_modules/sealtrail/package.json"), "utf8")) as Record<string, unknown>;
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(readdirSync(join(app, "node_modules")).filter((d) => !d.startsWith("."))).toEqual(["sealtrail"]);
  });

  it("the sealtrail bin runs from the installed package", () => {
    for (const r of [
      run(process.execPath, ["node_modules/sealtrail/dist/sealtrail.mjs", "--help"], app),
      run(join(app, "node_modules/.bin/sealtrail"), ["--help"], app),
    ]) {
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain("sealtrail verify <dir>");
    }
  });

  it("an ESM script imports sealtrail/client and verifies a real receipt with it", () => {
    const f = receiptFixture();
    writeFileSync(join(app, "fixture.json"), JSON.stringify(f));
    writeFileSync(
      join(app, "check.mjs"),
      `import { readFileSync } from "node:fs";
import { SealtrailClient, verifyReceipt } from "sealtrail/client";
const f = JSON.parse(readFileSync("fixture.json", "utf8"));
const client = new SealtrailClient({ baseUrl: "http://sealtrail.invalid", tenant: "packaged", key: "st_x" });
console.log(JSON.stringify({
  client: typeof client.log,
  genuine: verifyReceipt(f.receipt, f.entry, f.proof, [f.key]),
  tampered: verifyReceipt(f.receipt, f.entry.replace('"n":1', '"n":2'), f.proof, [f.key]),
}));
`,
    );
    const r = run(process.execPath, ["check.mjs"], app);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      client: "function",
      genuine: { ok: true, seq: 1, treeSize: 3 },
      tampered: { ok: false, error: { reason: "receipt_mismatch", detail: "the entry does not hash to the receipt's leaf" } },
    });
  });

  it("a TypeScript project type-checks against the packed types (nodenext, declaration files checked too)", () => {
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          lib: ["es2022", "dom"],
          types: [],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
        },
        files: ["consumer.ts"],
      }),
    );
    writeFileSync(
      join(app, "consumer.ts"),
      `import { SealtrailClient, verifyReceipt, type AuditEvent, type Receipt, type ReceiptCheck } from "sealtrail/client";
const audit = new SealtrailClient({ baseUrl: "https://audit.example.com", tenant: "t", key: "st_x" });
const event: AuditEvent = { action: "user.login", actor: { id: "u_42", type: "user" }, outcome: "success", context: { request_id: "r-1" } };
export async function send(): Promise<number> {
  const receipt: Receipt = await audit.log(event);
  const check: ReceiptCheck = verifyReceipt(receipt, "{}", "proof", ["key"]);
  return check.ok ? check.treeSize : check.error.reason.length;
}
// @ts-expect-error outcome is one of four words: the types are real, not any
export const wrong: AuditEvent = { action: "a.b", actor: { id: "u", type: "user" }, outcome: "maybe" };
`,
    );
    const tsc = run(process.execPath, [join(repo, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], app);
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
  });
});
