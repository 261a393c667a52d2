// `npm run check:bundle` (and `npm test`, before vitest): builds the Worker exactly as
// `wrangler deploy` would (offline: --dry-run), measures the modules it would upload (raw, and
// gzipped as wrangler reports them; source maps are not uploaded) and fails above the budget.
//
// Budget: 1 MiB gzipped, 5 MiB raw. Cloudflare's limit is 3 MB gzipped on the Workers Free plan
// and 10 MB on Paid; the budget keeps us well below both and says when a dependency or a
// bench-only path makes the Worker grow (startup time grows with it). Raise it only on purpose,
// here and in README.md / CLAUDE.md. `-- --max-gzip-kib N --max-raw-kib N` try other budgets.
//
// It also fails if the bundle holds bench-only code (issue #14): the no-op baseline route, the
// Durable Object's `ping` and the SEALTRAIL_BENCH_* variables live in bench/worker.ts, the entry
// that `npm run bench` builds. `-- --entry <file>` checks another entry (the bench's, in tests).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";

const BUDGET_GZIP_KIB = 1024;
const BUDGET_RAW_KIB = 5 * 1024;

const { values } = parseArgs({
  options: { "max-gzip-kib": { type: "string" }, "max-raw-kib": { type: "string" }, entry: { type: "string" } },
});
const maxGzipKib = Number(values["max-gzip-kib"] ?? BUDGET_GZIP_KIB);
const maxRawKib = Number(values["max-raw-kib"] ?? BUDGET_RAW_KIB);

/** What bench-only code looks like in a bundle (code, strings, or the module comments esbuild keeps). */
const BENCH_MARKERS = {
  "the /__bench/ route": /\/__bench\//,
  "SEALTRAIL_BENCH_*": /SEALTRAIL_BENCH/,
  "bench-baseline": /bench-baseline/,
  "TenantLog.ping": /\bping\s*\(/,
};

const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };
// wrangler checks that the assets folder exists; an unchanged console is left as it is.
const consoleBuild = spawnSync("node", ["scripts/build-console.mjs"], { stdio: "inherit", env });
if (consoleBuild.status !== 0) process.exit(consoleBuild.status ?? 1);

const outdir = mkdtempSync(join(tmpdir(), "sealtrail-bundle-"));
try {
  process.exitCode = check(outdir);
} finally {
  rmSync(outdir, { recursive: true, force: true });
}

/** Builds into `outdir`, measures, and returns the exit code. */
function check(outdir) {
  const entry = values.entry === undefined ? [] : [values.entry];
  const build = spawnSync("wrangler", ["deploy", "--dry-run", "--outdir", outdir, ...entry], { env, encoding: "utf8" });
  if (build.status !== 0) {
    process.stderr.write(build.stdout + build.stderr);
    console.error("check:bundle: wrangler deploy --dry-run failed");
    return 1;
  }
  // The modules wrangler uploads: everything it wrote but source maps and its README.
  const modules = readdirSync(outdir, { recursive: true, withFileTypes: true })
    .filter((f) => f.isFile() && !f.name.endsWith(".map") && f.name !== "README.md")
    .map((f) => readFileSync(join(f.parentPath, f.name)));
  if (modules.length === 0) {
    console.error(`check:bundle: wrangler wrote no modules into ${outdir}`);
    return 1;
  }
  const all = Buffer.concat(modules);
  const rawKib = all.length / 1024;
  const gzipKib = gzipSync(all).length / 1024;
  const line = (what, kib, max) => `${what} ${kib.toFixed(2)} KiB (budget ${max} KiB, ${((kib / max) * 100).toFixed(0)}%)`;
  console.log(`Worker bundle: ${modules.length} module(s), ${line("raw", rawKib, maxRawKib)}, ${line("gzip", gzipKib, maxGzipKib)}`);
  const text = all.toString("utf8");
  const bench = Object.entries(BENCH_MARKERS)
    .filter(([, re]) => re.test(text))
    .map(([name]) => name);
  if (bench.length > 0) {
    console.error(`check:bundle: the Worker bundle holds bench-only code (${bench.join(", ")}): it belongs in bench/worker.ts.`);
  }
  const over = [];
  if (gzipKib > maxGzipKib) over.push(`gzipped ${gzipKib.toFixed(2)} KiB > ${maxGzipKib} KiB`);
  if (rawKib > maxRawKib) over.push(`raw ${rawKib.toFixed(2)} KiB > ${maxRawKib} KiB`);
  if (over.length === 0) return bench.length === 0 ? 0 : 1;
  console.error(
    `check:bundle: the Worker bundle is over its budget (${over.join("; ")}). Find what grew ` +
      "(wrangler deploy --dry-run --outdir <dir> --metafile), or raise the budget on purpose in " +
      "scripts/check-bundle.mjs, README.md and CLAUDE.md.",
  );
  return 1;
}
