import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { entryLeafHash } from "../../src/core/entry";
import { keyOf, writeChain, writeHead, type HeadOptions } from "./chain";

const cli = (...args: string[]) => spawnSync(process.execPath, ["dist/sealtrail.mjs", ...args], { encoding: "utf8" });
const verify = (dir: string, key = keyOf("acme")) => {
  const r = cli("verify", dir, "--key", key, "--json");
  return {
    status: r.status,
    report: JSON.parse(r.stdout || "{}") as { ok: boolean; entries: number; seals: number; failures: Record<string, unknown>[] },
  };
};

describe("sealtrail verify <dir> (offline)", () => {
  it("a genuine chain of seals verifies: exit 0", () => {
    const { dir } = writeChain("acme", [5, 1, 9, 16]);
    const r = verify(dir);
    expect(r.status).toBe(0);
    expect(r.report).toMatchObject({ ok: true, entries: 31, seals: 4, failures: [] });
    const text = cli("verify", dir, "--key", keyOf("acme"));
    expect(text.stdout).toContain("OK: 31 entries in 4 seals");
  });

  it("a changed entry in a bundle names the bundle and the first changed seq: exit 1", () => {
    const { dir } = writeChain("acme", [5, 7]);
    const file = join(dir, "000000000001.jsonl");
    const lines = readFileSync(file, "utf8").split("\n");
    lines[2] = lines[2]!.replace('"doc.read"', '"doc.wipe"');
    writeFileSync(file, lines.join("\n"));
    const r = verify(dir);
    expect(r.status).toBe(1);
    expect(r.report.failures[0]).toMatchObject({ kind: "bundle_mismatch", key: "000000000001.jsonl", detail: "sha256" });
    expect(r.report.failures).toContainEqual(expect.objectContaining({ kind: "chain_broken", seq: 8 }));
    expect(r.report.failures).toContainEqual(expect.objectContaining({ kind: "root_mismatch", seq: 12, key: "000000000001.manifest" }));
  });

  it("a bundle replaced by another valid-looking one (another tenant's) is named", () => {
    const { dir } = writeChain("acme", [4, 4]);
    const other = writeChain("evil", [4, 4]);
    copyFileSync(join(other.dir, "000000000001.jsonl"), join(dir, "000000000001.jsonl"));
    const r = verify(dir);
    expect(r.status).toBe(1);
    expect(r.report.failures[0]).toMatchObject({ kind: "bundle_mismatch", key: "000000000001.jsonl" });
  });

  it("a manifest signed by another tenant's key is named, and nothing after it is trusted", () => {
    const { dir } = writeChain("acme", [3, 3, 3]);
    const other = writeChain("evil", [3, 3, 3]);
    copyFileSync(join(other.dir, "000000000001.manifest"), join(dir, "000000000001.manifest"));
    const r = verify(dir);
    expect(r.status).toBe(1);
    expect(r.report.failures[0]).toMatchObject({ kind: "seal_invalid", key: "000000000001.manifest" });
    expect(r.report.seals).toBe(1);
  });

  it("a missing seal, a wrong key, and a checkpoint file that differs are all failures", () => {
    const a = writeChain("acme", [3, 3, 3]);
    rmSync(join(a.dir, "000000000001.manifest"));
    rmSync(join(a.dir, "000000000001.jsonl"));
    rmSync(join(a.dir, "000000000001.checkpoint"));
    expect(verify(a.dir).report.failures[0]).toMatchObject({ kind: "seal_missing", key: "000000000001.manifest" });

    const b = writeChain("acme", [3]);
    expect(verify(b.dir, keyOf("evil")).status).toBe(1);

    const c = writeChain("acme", [3, 2]);
    const other = writeChain("acme", [4]);
    copyFileSync(join(other.dir, "000000000000.checkpoint"), join(c.dir, "000000000000.checkpoint"));
    expect(verify(c.dir).report.failures[0]).toMatchObject({ kind: "seal_invalid", key: "000000000000.checkpoint" });
  });

  it("exits 2 on usage errors", () => {
    expect(cli("verify").status).toBe(2);
    expect(cli("verify", "/nonexistent-dir-for-sealtrail", "--key", keyOf("acme")).status).toBe(2);
    expect(cli("frobnicate").status).toBe(2);
  });
});

describe("sealtrail verify with worker threads", () => {
  /** The report without its timing, for comparing runs. */
  const reportOf = (dir: string, jobs: string, key = keyOf("acme")) => {
    const r = cli("verify", dir, "--key", key, "--json", "--jobs", jobs);
    const { duration_ms: _ignored, ...rest } = JSON.parse(r.stdout || "{}") as Record<string, unknown>;
    return { status: r.status, report: rest };
  };

  it("reports exactly what one thread reports, on genuine and tampered chains", () => {
    const cases: ((dir: string) => void)[] = [
      () => {},
      (dir) => {
        const file = join(dir, "000000000001.jsonl");
        const lines = readFileSync(file, "utf8").split("\n");
        lines[2] = lines[2]!.replace('"doc.read"', '"doc.wipe"');
        writeFileSync(file, lines.join("\n"));
      },
      (dir) => {
        const file = join(dir, "000000000002.jsonl");
        const lines = readFileSync(file, "utf8").split("\n");
        [lines[0], lines[1]] = [lines[1]!, lines[0]!];
        writeFileSync(file, lines.join("\n"));
      },
      (dir) => {
        const other = writeChain("evil", [5, 7, 9, 3]);
        copyFileSync(join(other.dir, "000000000001.jsonl"), join(dir, "000000000001.jsonl"));
        rmSync(other.dir, { recursive: true, force: true });
      },
      (dir) => rmSync(join(dir, "000000000002.jsonl")),
      (dir) => writeFileSync(join(dir, "000000000003.jsonl"), "not json\n"),
    ];
    for (const [i, tamper] of cases.entries()) {
      const { dir } = writeChain("acme", [5, 7, 9, 3]);
      tamper(dir);
      const one = reportOf(dir, "1");
      for (const jobs of ["2", "3"]) expect(reportOf(dir, jobs), `case ${i}, --jobs ${jobs}`).toEqual(one);
      expect(one.status).toBe(i === 0 ? 0 : 1);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a bundle the worker cannot read is an I/O error (exit 2), with one thread or several", () => {
    const { dir } = writeChain("acme", [5, 7, 9, 3]);
    rmSync(join(dir, "000000000002.jsonl"));
    mkdirSync(join(dir, "000000000002.jsonl"));
    for (const jobs of ["1", "2"]) {
      const r = cli("verify", dir, "--key", keyOf("acme"), "--json", "--jobs", jobs);
      expect(r.status, `--jobs ${jobs}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/^sealtrail: /);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("a failure earlier in the chain is reported as with one thread, even when a later bundle cannot be read", () => {
    const { dir } = writeChain("acme", [5, 7, 9, 3]);
    // A manifest signed by another key: nothing after it is trusted, so one thread stops there.
    const other = writeChain("evil", [5, 7, 9, 3]);
    copyFileSync(join(other.dir, "000000000001.manifest"), join(dir, "000000000001.manifest"));
    rmSync(other.dir, { recursive: true, force: true });
    rmSync(join(dir, "000000000003.jsonl"));
    mkdirSync(join(dir, "000000000003.jsonl"));
    const one = reportOf(dir, "1");
    expect(one.status).toBe(1);
    expect(reportOf(dir, "2")).toEqual(one);
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a --jobs that is not a whole number >= 1", () => {
    const { dir } = writeChain("acme", [2]);
    expect(cli("verify", dir, "--key", keyOf("acme"), "--jobs", "0").status).toBe(2);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("sealtrail verify: keys from the server under test", () => {
  const textOf = (r: { stdout: string; stderr: string }) => `${r.stdout}\n${r.stderr}`;

  it("warns on stderr when it checks with the keys fetch saved from the server (no --key, or --key @<dir>/verifier-keys.txt)", () => {
    const { dir } = writeChain("acme", [4, 3]);
    writeFileSync(join(dir, "verifier-keys.txt"), `${keyOf("acme")}\n`);
    const viaDotDot = join(dir, "..", dir.split("/").at(-1)!, "verifier-keys.txt");
    for (const args of [
      [dir],
      [dir, "--key", `@${join(dir, "verifier-keys.txt")}`],
      [dir, "--key", `@${viaDotDot}`],
      [dir, "--jobs", "1"],
    ]) {
      const r = cli("verify", ...args);
      expect(r.status, textOf(r)).toBe(0);
      expect(r.stderr).toMatch(
        /^WARNING: the verifier keys come from .*verifier-keys\.txt, which `sealtrail fetch` downloaded from the server/,
      );
      expect(r.stderr).toContain("--key");
      expect(r.stdout).toContain("not pinned");
    }
    const j = cli("verify", dir, "--json");
    expect(j.stderr).toContain("WARNING");
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: true, keys_from_server: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it("a key pinned out of band (given, or a file of the auditor's, here or elsewhere) gives no warning", () => {
    const { dir } = writeChain("acme", [4, 3]);
    writeFileSync(join(dir, "verifier-keys.txt"), `${keyOf("acme")}\n`);
    const pinnedFile = join(dir, "..", `${dir.split("/").at(-1)}-pinned.txt`);
    writeFileSync(pinnedFile, `${keyOf("acme")}\n`);
    writeFileSync(join(dir, "pinned-key.txt"), `${keyOf("acme")}\n`);
    for (const key of [keyOf("acme"), `@${pinnedFile}`, `@${join(dir, "pinned-key.txt")}`]) {
      const r = cli("verify", dir, "--key", key);
      expect(r.status, textOf(r)).toBe(0);
      expect(r.stderr).toBe("");
      expect(r.stdout).not.toContain("not pinned");
    }
    expect(JSON.parse(cli("verify", dir, "--key", keyOf("acme"), "--json").stdout)).toMatchObject({ ok: true, keys_from_server: false });
    rmSync(pinnedFile);
    rmSync(dir, { recursive: true, force: true });
  });

  it("without --key and without saved keys it is a usage error", () => {
    const { dir } = writeChain("acme", [2]);
    const r = cli("verify", dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("--key is required");
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("sealtrail verify: entries past the last seal", () => {
  const run = (dir: string, ...more: string[]) => cli("verify", dir, "--key", keyOf("acme"), ...more);
  const jsonOf = (dir: string) => {
    const r = run(dir, "--json");
    return {
      status: r.status,
      report: JSON.parse(r.stdout || "{}") as { ok: boolean; head: unknown; failures: Record<string, unknown>[] },
    };
  };

  it("says how many entries the signed head holds beyond the last seal, not covered", () => {
    const { dir } = writeChain("acme", [5, 7]);
    writeHead(dir, "acme", 12, { unsealed: 5 });
    for (const jobs of ["1", "2"]) {
      const r = run(dir, "--jobs", jobs);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain("OK: 12 entries in 2 seals");
      expect(r.stdout).toContain(
        "Not covered: 5 entries past the last seal (seq 12 to 16; the log's signed checkpoint said 17 when fetched, proven to extend the last seal)",
      );
    }
    expect(jsonOf(dir).report).toMatchObject({ ok: true, head: { size: 17, unsealed: 5, consistent: true } });
    rmSync(dir, { recursive: true, force: true });
  });

  it("a head equal to the last seal: everything was covered", () => {
    const { dir } = writeChain("acme", [5, 7]);
    writeHead(dir, "acme", 12, { unsealed: 0 });
    const r = run(dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("Covered: the whole log as fetched (12 entries).");
    rmSync(dir, { recursive: true, force: true });
  });

  it("without a head checkpoint it says the tail is unknown", () => {
    const { dir } = writeChain("acme", [5, 7]);
    const r = run(dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("Not covered: any entry after seq 11: the log's size when fetched is unknown (no head.checkpoint in");
    expect(jsonOf(dir).report).toMatchObject({ ok: true, head: null });
    rmSync(dir, { recursive: true, force: true });
  });

  it("a head not signed by the key, smaller than the last seal, or forked from the sealed history fails (exit 1)", () => {
    const cases: [HeadOptions & { sealed?: number }, string, string][] = [
      [
        { unsealed: 3, secret: new TextEncoder().encode("another-secret-another-secret-0123456789") },
        "head.checkpoint",
        "no_verified_signature",
      ],
      [{ unsealed: 0, sealed: 5 }, "head.checkpoint", "smaller than its last seal"],
      [{ unsealed: 3, fork: true }, "head.consistency.json", "extends the last seal"],
      [{ unsealed: 0, fork: true }, "head.checkpoint", "another root"],
    ];
    for (const [o, key, detail] of cases) {
      const { dir } = writeChain("acme", [5, 7]);
      writeHead(dir, "acme", o.sealed ?? 12, o);
      const { status, report } = jsonOf(dir);
      expect(status, `${key} ${detail}`).toBe(1);
      expect(report.failures[0]).toMatchObject({ kind: "seal_invalid", key });
      expect(String(report.failures[0]!.detail)).toContain(detail);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("sealtrail verify: ranges pruned by retention (issue #17.1)", () => {
  /**
   * Seals [0, 5), [5, 12), [12, 16); entry 13 is the log's `sealtrail.retention.pruned` entry for
   * [0, 5) under the checkpoint of size 5; seal 0's bundle is gone and its leaf hashes are there
   * instead, as `sealtrail fetch` saves them.
   */
  function prunedChain() {
    const first = writeChain("acme", [5]);
    const root = readFileSync(join(first.dir, "000000000000.checkpoint"), "utf8").split("\n")[2]!;
    const pruned = {
      action: "sealtrail.retention.pruned",
      actor: { id: "schedule", type: "system" },
      targets: [{ id: "acme", type: "tenant" }],
      metadata: { from: 0, to: 5, cutoff: "2026-11-01T00:00:00.000Z", checkpoint: { size: 5, root }, by: "schedule" },
    };
    const chain = writeChain("acme", [5, 7, 4], { 13: pruned });
    rmSync(join(chain.dir, "000000000000.jsonl"));
    const leaves = chain.entries.slice(0, 5).map((e) => Buffer.from(entryLeafHash(e)).toString("base64"));
    writeFileSync(join(chain.dir, "000000000000.leaves"), `${leaves.join("\n")}\n`);
    return { ...chain, root };
  }

  it("a bundle pruned below the floor the log records passes, and is reported as pruned under its entry and checkpoint", () => {
    const { dir, root } = prunedChain();
    for (const jobs of ["1", "3"]) {
      const r = cli("verify", dir, "--key", keyOf("acme"), "--json", "--jobs", jobs);
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({
        ok: true,
        seals: 3,
        entries: 11,
        pruned: { from: 0, to: 5, under: 13, checkpoint: { size: 5, root } },
        failures: [],
      });
    }
    expect(cli("verify", dir, "--key", keyOf("acme")).stdout).toContain(
      `Pruned: pruned [0, 5) under entry 13 (checkpoint size 5, root ${root})`,
    );
  });

  it("a bundle missing ABOVE the floor is still a failure, and so are leaves that are not the log's", () => {
    const above = prunedChain();
    rmSync(join(above.dir, "000000000001.jsonl"));
    writeFileSync(join(above.dir, "000000000001.leaves"), "");
    expect(verify(above.dir).report.failures[0]).toMatchObject({ kind: "seal_missing", key: "000000000001.jsonl" });

    const forged = prunedChain();
    const file = join(forged.dir, "000000000000.leaves");
    const lines = readFileSync(file, "utf8").split("\n");
    lines[2] = lines[3]!;
    writeFileSync(file, lines.join("\n"));
    const r = verify(forged.dir);
    expect(r.status).toBe(1);
    expect(r.report.failures).toContainEqual(expect.objectContaining({ kind: "root_mismatch", key: "000000000000.manifest" }));
  });

  it("without the log's pruned entry a missing bundle is a failure, whatever files stand in for it", () => {
    const { dir, entries } = writeChain("acme", [5, 7]);
    rmSync(join(dir, "000000000000.jsonl"));
    const leaves = entries.slice(0, 5).map((e) => Buffer.from(entryLeafHash(e)).toString("base64"));
    writeFileSync(join(dir, "000000000000.leaves"), `${leaves.join("\n")}\n`);
    const r = verify(dir);
    expect(r.status).toBe(1);
    expect(r.report.failures[0]).toMatchObject({ kind: "seal_missing", key: "000000000000.jsonl" });
  });
});
