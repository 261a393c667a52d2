import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { keyOf, writeChain } from "./chain";

const cli = (...args: string[]) => spawnSync(process.execPath, ["dist/sealtrail.mjs", ...args], { encoding: "utf8" });
const verify = (dir: string, key = keyOf("acme")) => {
  const r = cli("verify", dir, "--key", key, "--json");
  return { status: r.status, report: JSON.parse(r.stdout || "{}") as { ok: boolean; entries: number; seals: number; failures: Record<string, unknown>[] } };
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
