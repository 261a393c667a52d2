/**
 * `npm run check:bundle` (scripts/check-bundle.mjs, run by `npm test` before vitest): the Worker
 * bundle that `wrangler deploy` would upload is measured and held to the budget documented in
 * README.md and CLAUDE.md (1 MiB gzipped, 5 MiB raw); over it, the check fails and says so.
 * It also fails if the bundle holds bench-only code (issue #14): that lives in bench/worker.ts.
 */
import { spawnSync } from "node:child_process";
import { delimiter, resolve } from "node:path";
import { expect, test } from "vitest";

const env = { ...process.env, PATH: `${resolve("node_modules/.bin")}${delimiter}${process.env.PATH}` };
const check = (...args: string[]) => spawnSync("npm", ["run", "--silent", "check:bundle", "--", ...args], { env, encoding: "utf8" });
const SIZES = /Worker bundle: \d+ module\(s\), raw ([\d.]+) KiB \(budget (\d+) KiB, \d+%\), gzip ([\d.]+) KiB \(budget (\d+) KiB, \d+%\)/;

test("the Worker bundle is within its documented budget, and the sizes are printed", () => {
  const r = check();
  expect(r.status, r.stdout + r.stderr).toBe(0);
  const [, raw = 0, rawBudget, gzip = 0, gzipBudget] = SIZES.exec(r.stdout)!.map(Number);
  expect([rawBudget, gzipBudget]).toEqual([5 * 1024, 1024]);
  // A real Worker (hono, better-auth, drizzle, zod, the core) and gzip actually measured.
  expect(raw).toBeGreaterThan(500);
  expect(gzip).toBeGreaterThan(50);
  expect(gzip).toBeLessThan(raw / 2);
});

test("above the budget the check fails, naming the size and the budget", () => {
  const r = check("--max-gzip-kib", "100", "--max-raw-kib", "1000");
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/over its budget \(gzipped [\d.]+ KiB > 100 KiB; raw [\d.]+ KiB > 1000 KiB\)/);
});

test("the deployed Worker holds no bench-only code; the bench's own entry is refused by the same check", () => {
  const production = check();
  expect(production.status, production.stdout + production.stderr).toBe(0);
  expect(production.stderr).not.toMatch(/bench-only/);
  const bench = check("--entry", "bench/worker.ts");
  expect(bench.status).toBe(1);
  expect(bench.stderr).toMatch(/holds bench-only code \(the \/__bench\/ route, SEALTRAIL_BENCH_\*, .*TenantLog\.ping\)/);
});
