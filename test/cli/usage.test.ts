import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

// Runs the bundled CLI (npm test builds dist/ first) the way a user would.
const cli = (...args: string[]) => spawnSync(process.execPath, ["dist/sealtrail.mjs", ...args], { encoding: "utf8" });

describe("sealtrail usage", () => {
  it("--help, -h and help print the usage on stdout and exit 0, for the CLI and for each command", () => {
    const asked = [
      ["--help"],
      ["-h"],
      ["help"],
      ["help", "verify"],
      ["verify", "--help"],
      ["verify-proof", "-h"],
      ["fetch", "--help"],
      ["verify", "somedir", "--help"],
    ];
    for (const args of asked) {
      const r = cli(...args);
      expect(r.status, `sealtrail ${args.join(" ")}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/^usage:\n {2}sealtrail verify <dir>/);
      expect(r.stdout).toContain("sealtrail verify-proof");
      expect(r.stderr).toBe("");
    }
  });

  it("a usage error still exits 2, with the usage on stderr and nothing on stdout", () => {
    for (const args of [[], ["frobnicate"], ["verify"], ["verify-proof", "x.tlog-proof"], ["verify", "--nope"]]) {
      const r = cli(...args);
      expect(r.status, `sealtrail ${args.join(" ")}`).toBe(2);
      expect(r.stderr).toContain("usage:\n  sealtrail verify <dir>");
      expect(r.stdout).toBe("");
    }
  });
});
