/**
 * Offline verification by the CLI (a Node process, as users run it) of 1,000,000 entries:
 * 10 bundles of 100,000 built with the same planning code the Durable Object uses.
 */
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { it } from "vitest";
import { keyOf, writeChain } from "../test/cli/chain";
import { report } from "./report";

it("sealtrail verify, 1,000,000 entries", () => {
  const build = performance.now();
  const { dir } = writeChain(
    "bench",
    Array.from({ length: 10 }, () => 100_000),
  );
  report("build 10 seals x 100,000 entries (encode, hash, sign)", 1_000_000_000 / (performance.now() - build), "entries/s");
  const start = performance.now();
  const r = spawnSync(process.execPath, ["dist/sealtrail.mjs", "verify", dir, "--key", keyOf("bench"), "--json"], {
    encoding: "utf8",
    maxBuffer: 1 << 26,
  });
  const ms = performance.now() - start;
  const parsed = JSON.parse(r.stdout) as { ok: boolean; entries: number };
  if (r.status !== 0 || !parsed.ok) throw new Error(`verify failed: ${r.stderr}`);
  report("sealtrail verify (one process, whole run incl. startup)", (parsed.entries * 1000) / ms, "entries/s");
  rmSync(dir, { recursive: true, force: true });
});
