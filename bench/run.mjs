// `npm run bench` (issue #8): every figure of the performance table, each over repeated runs
// (min / median / max), measured end to end through the Worker bundle in Miniflare from Node;
// prints a table and writes bench/results.json. Bounded: every load phase stops by itself
// after its time or request budget. Never assert times in tests: this is the only place.
// Options: --runs N (default 3), --seconds S per load run (default 5), --only a,b (row ids),
// --profile (CPU profile of workerd during the single-event row, via the inspector).
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { build, closedLoop, openLoop, sampleEvent, setupTenants, startServer, treeSize, workerdMemory } from "./harness.mjs";

const { values: opts } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    seconds: { type: "string", default: "5" },
    only: { type: "string" },
    profile: { type: "boolean", default: false },
    "cli-entries": { type: "string", default: "1000000" },
  },
});
const RUNS = Number(opts.runs);
const RUN_MS = Number(opts.seconds) * 1000;
const only = opts.only ? new Set(opts.only.split(",")) : undefined;
const wanted = (id) => !only || only.has(id);
const started = performance.now();
const log = (...a) => console.error(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s]`, ...a);

// ---- results ------------------------------------------------------------------------------

const rows = new Map();
/** Declares a row of the table: `better` is "higher" or "lower". */
function row(id, measure, unit, target, better, extra = {}) {
  rows.set(id, { id, measure, unit, target, better, runs: [], details: [], ...extra });
}
row("baseline", "Worker → DO no-op RPC, 64 connections (the ceiling)", "req/s", null, "higher");
row("single", "single-event POSTs, 64 connections, one tenant", "events/s", ">= 70% of baseline", "higher");
row("latency_p99", "p99 latency at 500 appends/s offered (open loop), every ack durable", "ms", 20, "lower");
row("latency_p50", "p50 latency at 500 appends/s offered (open loop)", "ms", null, "lower");
row("latency_p99_100", "p99 latency at 100 appends/s offered (open loop; what bounds the 500/s row)", "ms", null, "lower");
row("latency_p99_250", "p99 latency at 250 appends/s offered (open loop)", "ms", null, "lower");
row("batched", "batched POSTs (100 events each), 8 connections, one tenant", "events/s", 30_000, "higher");
row("tenants16", "16 tenants at once, single-event POSTs, 64 connections", "events/s", ">= single", "higher");
row("maxbatch1", "maxBatch = 1 (one transaction + one D1 write per event), 64 connections", "events/s", "single >= 3×", "higher");
row("encode", "entry encoding + leaf hash inside workerd (~920-byte entries)", "entries/s", 150_000, "higher");
row("tree_grow", "tree append into DO SQLite up to 10^6 leaves (setup for the proof row)", "leaves/s", null, "higher");
row("proof", "inclusion proof at 10^6 entries, in the Durable Object", "ms", 5, "lower");
row("cli_verify", "offline verification (CLI, --jobs = all cores) of a 10^6-entry bundle chain", "entries/s", 300_000, "higher");
row(
  "tile_verify",
  "verification from c2sp.org/tlog-tiles alone (CLI verify-tiles --entries, loopback HTTP) of a 10^5-entry log",
  "entries/s",
  null,
  "higher",
);
row(
  "overload_503",
  "overload: batched POSTs at 256 connections, share answered 503 + Retry-After",
  "%",
  "> 0, all with Retry-After",
  "higher",
);
row("overload_rss", "overload: peak workerd RSS (all workerd processes of the run)", "MiB", "bounded", "lower");

const record = (id, value, detail) => {
  const r = rows.get(id);
  r.runs.push(value);
  if (detail !== undefined) r.details.push(detail);
};

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? undefined : { min: s[0], median: s[Math.floor((s.length - 1) / 2)], max: s[s.length - 1] };
};

// ---- request shapes -----------------------------------------------------------------------

const single = (t) => (i) => ({
  method: "POST",
  path: `/v1/tenants/${t.tenant}/events`,
  headers: { "content-type": "application/json", "x-api-key": t.appendKey, "user-agent": "sealtrail-bench/1" },
  body: JSON.stringify(sampleEvent(i)),
  events: 1,
});
const batch100 = (t) => (i) => ({
  method: "POST",
  path: `/v1/tenants/${t.tenant}/events`,
  headers: { "content-type": "application/json", "x-api-key": t.appendKey, "user-agent": "sealtrail-bench/1" },
  body: JSON.stringify({ events: Array.from({ length: 100 }, (_, j) => sampleEvent(i * 100 + j)) }),
  events: 100,
});
// The ceiling: bench/worker.ts answers this path with a Durable Object RPC that does nothing.
const noop = () => ({ method: "GET", path: "/__bench/noop", headers: {}, events: 1 });

// ---- phases -------------------------------------------------------------------------------

async function serverPhase() {
  const server = await startServer({}, opts.profile ? { inspectorPort: 9329 } : {});
  const { base } = server;
  log(`Miniflare at ${base}; workerd memory ${JSON.stringify(workerdMemory())} MiB`);
  const [one, lat, bat, over, ...many] = await setupTenants(base, 4 + 16, server.origin);
  log("tenants and keys created through the API");
  const closed = (connections, next, extra = {}) => closedLoop({ base, connections, durationMs: RUN_MS, next, ...extra });

  // Warm up both paths once (isolates, DO start, reconcile with R2).
  await closed(8, noop, { durationMs: 500, warmupMs: 0 });
  await closed(8, single(one), { durationMs: 500, warmupMs: 0 });

  for (let run = 0; run < RUNS; run++) {
    // Interleaved, so each ratio compares figures taken side by side in this run.
    if (wanted("baseline") || wanted("single")) {
      const b = await closed(64, noop);
      record("baseline", b.requests_per_s, b);
      let profile;
      if (opts.profile && run === 0) profile = await startProfile(server);
      const s = await closed(64, single(one));
      if (profile) await profile.stop("bench/profile-single.cpuprofile");
      record("single", s.events_per_s, s);
      log(
        `baseline ${b.requests_per_s.toFixed(0)} req/s; single ${s.events_per_s.toFixed(0)} events/s ${JSON.stringify(s.statuses)} p50 ${s.p50_ms.toFixed(1)} p99 ${s.p99_ms.toFixed(1)} ms`,
      );
    }
    if (wanted("latency")) {
      const seqs = new Set();
      const before = await treeSize(base, lat);
      const profile = opts.profile && run === 0 ? await startProfile(server) : undefined;
      const o = await openLoop({
        base,
        ratePerS: 500,
        durationMs: RUN_MS,
        next: single(lat),
        onResponse: (res) => {
          if (res.status === 201) seqs.add(JSON.parse(res.body).seq);
        },
      });
      if (profile) await profile.stop("bench/profile-latency.cpuprofile");
      const after = await treeSize(base, lat);
      // Every 201 named a distinct seq that the log's signed checkpoint now covers.
      const durable = seqs.size === o.acked && [...seqs].every((s) => s >= before && s < after);
      record("latency_p99", o.p99_ms, { ...o, durable, tree_before: before, tree_after: after });
      record("latency_p50", o.p50_ms);
      log(
        `open loop 500/s: p50 ${o.p50_ms.toFixed(1)} p99 ${o.p99_ms.toFixed(1)} max ${o.max_ms.toFixed(1)} ms ${JSON.stringify(o.statuses)} durable=${durable}`,
      );
      for (const rate of [100, 250]) {
        const lower = await openLoop({ base, ratePerS: rate, durationMs: RUN_MS, next: single(lat) });
        record(`latency_p99_${rate}`, lower.p99_ms, lower);
        log(`open loop ${rate}/s: p50 ${lower.p50_ms.toFixed(1)} p99 ${lower.p99_ms.toFixed(1)} ms ${JSON.stringify(lower.statuses)}`);
      }
    }
    if (wanted("batched")) {
      const profile = opts.profile && run === 0 ? await startProfile(server) : undefined;
      const r = await closed(8, batch100(bat));
      if (profile) await profile.stop("bench/profile-batched.cpuprofile");
      record("batched", r.events_per_s, r);
      log(`batched ${r.events_per_s.toFixed(0)} events/s ${JSON.stringify(r.statuses)} p99 ${r.p99_ms.toFixed(1)} ms`);
    }
    if (wanted("tenants16")) {
      const shapes = many.map(single);
      const profile = opts.profile && run === 0 ? await startProfile(server) : undefined;
      const r = await closed(64, (i) => shapes[i % shapes.length](i));
      if (profile) await profile.stop("bench/profile-tenants16.cpuprofile");
      record("tenants16", r.events_per_s, r);
      log(`16 tenants ${r.events_per_s.toFixed(0)} events/s ${JSON.stringify(r.statuses)}`);
    }
  }

  if (wanted("overload")) {
    // Past the queue limit (MAX_QUEUED_EVENTS = 10,000 events per Durable Object): 256
    // connections × 100 events. Repeated runs show whether memory keeps growing (unbounded)
    // or levels off (bounded): each run records its own peak.
    const idle = workerdMemory();
    for (let run = 0; run < RUNS; run++) {
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, workerdMemory().rss)), 100);
      const r = await closedLoop({ base, connections: 256, durationMs: RUN_MS, warmupMs: 0, next: batch100(over) });
      clearInterval(sampler);
      peak = Math.max(peak, workerdMemory().rss);
      const total = Object.values(r.statuses).reduce((a, b) => a + b, 0);
      const refused = r.statuses[503] ?? 0;
      record("overload_503", (100 * refused) / Math.max(1, total), { ...r, retry_after_on_503: r.retry_after });
      record("overload_rss", peak, { idle_rss: idle.rss, peak_rss: peak, after_rss: workerdMemory().rss });
      log(
        `overload run ${run + 1}: ${JSON.stringify(r.statuses)}, Retry-After on ${r.retry_after}; workerd RSS idle ${idle.rss}, peak ${peak} MiB`,
      );
    }
  }

  if (wanted("encode")) {
    await server.core.fetch("http://core/encode?n=2000");
    for (let run = 0; run < RUNS; run++) {
      const n = 50_000;
      const t0 = performance.now();
      const res = await (await server.core.fetch(`http://core/encode?n=${n}`)).json();
      const perS = (n * 1000) / (performance.now() - t0);
      record("encode", perS, res);
      log(`encode + leaf hash in workerd: ${perS.toFixed(0)} entries/s (${res.bytes} bytes each)`);
    }
  }

  if (wanted("proof")) {
    const t0 = performance.now();
    for (let to = 100_000; to <= 1_000_000; to += 100_000) await server.core.fetch(`http://core/tree?to=${to}`);
    const grow = (1_000_000 * 1000) / (performance.now() - t0);
    record("tree_grow", grow);
    log(`tree grown to 10^6 in DO SQLite: ${grow.toFixed(0)} leaves/s`);
    await server.core.fetch("http://core/proof?samples=10");
    for (let run = 0; run < RUNS; run++) {
      const samples = 1000;
      const t1 = performance.now();
      const res = await (await server.core.fetch(`http://core/proof?samples=${samples}`)).json();
      const ms = (performance.now() - t1) / samples;
      record("proof", ms, res);
      log(`inclusion proof at ${res.size}: ${ms.toFixed(3)} ms (${res.hashes} hashes)`);
    }
  }
  await server.stop();
}

async function maxBatchPhase() {
  const server = await startServer({ SEALTRAIL_BENCH_MAX_BATCH: "1" });
  const [t] = await setupTenants(server.base, 1, server.origin);
  await closedLoop({ base: server.base, connections: 8, durationMs: 500, warmupMs: 0, next: single(t) });
  for (let run = 0; run < RUNS; run++) {
    const r = await closedLoop({ base: server.base, connections: 64, durationMs: RUN_MS, next: single(t) });
    record("maxbatch1", r.events_per_s, r);
    log(`maxBatch=1: ${r.events_per_s.toFixed(0)} events/s ${JSON.stringify(r.statuses)} p99 ${r.p99_ms.toFixed(1)} ms`);
  }
  await server.stop();
}

function cliPhase() {
  const entries = Number(opts["cli-entries"]);
  const bundled = spawnSync(
    "esbuild",
    ["bench/cli-chain.ts", "--bundle", "--platform=node", "--format=esm", "--outfile=.bench/cli-chain.mjs", "--log-level=warning"],
    { encoding: "utf8" },
  );
  if (bundled.status !== 0) throw new Error(bundled.stderr);
  const made = spawnSync(process.execPath, [".bench/cli-chain.mjs", "10", String(entries / 10)], { encoding: "utf8", maxBuffer: 1 << 24 });
  if (made.status !== 0) throw new Error(made.stderr);
  const chain = JSON.parse(made.stdout);
  log(`chain of ${entries} entries built in ${(chain.ms / 1000).toFixed(1)} s`);
  for (let run = 0; run < RUNS; run++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, ["dist/sealtrail.mjs", "verify", chain.dir, "--key", chain.key, "--json"], {
      encoding: "utf8",
      maxBuffer: 1 << 26,
    });
    const ms = performance.now() - t0;
    const report = JSON.parse(r.stdout);
    if (r.status !== 0 || !report.ok) throw new Error(`verify failed: ${r.stderr}`);
    const perS = (report.entries * 1000) / ms;
    record("cli_verify", perS, { entries: report.entries, ms });
    log(`sealtrail verify: ${perS.toFixed(0)} entries/s (${report.entries} entries, startup included)`);
  }
  rmSync(chain.dir, { recursive: true, force: true });
}

/** tile_verify: `sealtrail verify-tiles --entries` against a 10^5-entry log served as tiles (bench/tile-verify.ts). */
function tilePhase() {
  const bundled = spawnSync(
    "esbuild",
    ["bench/tile-verify.ts", "--bundle", "--platform=node", "--format=esm", "--outfile=.bench/tile-verify.mjs", "--log-level=warning"],
    { encoding: "utf8" },
  );
  if (bundled.status !== 0) throw new Error(bundled.stderr);
  for (let run = 0; run < RUNS; run++) {
    const r = spawnSync(process.execPath, [".bench/tile-verify.mjs", "100000"], { encoding: "utf8", maxBuffer: 1 << 24 });
    const out = JSON.parse(r.stdout);
    if (r.status !== 0 || !out.ok) throw new Error(`verify-tiles failed: ${r.stderr}`);
    const perS = (out.entries * 1000) / out.ms;
    record("tile_verify", perS, { entries: out.entries, ms: out.ms });
    log(`sealtrail verify-tiles: ${perS.toFixed(0)} entries/s (${out.entries} entries, startup included)`);
  }
}

// ---- profiling (optional) -----------------------------------------------------------------

/** Isolates profiled with --profile: the Worker (and its Durable Objects), D1, R2 and Miniflare's entry. */
const PROFILED = ["core:user:sealtrail", "d1:db", "d1:db:entry", "r2:bucket", "core:entry"];

/**
 * CPU profiles of workerd's isolates over the inspector (Chrome DevTools protocol). Writes
 * bench/profile-<phase>.cpuprofile (the Worker's) and prints each isolate's busy share (samples
 * that are not "(idle)") and the Worker's top self time.
 */
async function startProfile(server) {
  const inspector = await server.mf.getInspectorURL().catch(() => undefined);
  if (!inspector) {
    log("no inspector: start Miniflare with an inspectorPort to profile");
    return undefined;
  }
  const sessions = [];
  for (const target of PROFILED) {
    const ws = new WebSocket(new URL(`/${target}`, inspector).href.replace(/^http/, "ws"));
    const ok = await new Promise((r) => {
      ws.onopen = () => r(true);
      ws.onerror = () => r(false);
    });
    if (!ok) continue;
    let id = 0;
    const waiting = new Map();
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.id !== undefined) waiting.get(msg.id)?.(msg.result);
    };
    const send = (method, params = {}) =>
      new Promise((r) => {
        waiting.set(++id, r);
        ws.send(JSON.stringify({ id, method, params }));
      });
    await send("Profiler.enable");
    await send("Profiler.setSamplingInterval", { interval: 200 });
    sessions.push({ target, ws, send });
  }
  for (const s of sessions) await s.send("Profiler.start");
  return {
    async stop(file) {
      const shares = [];
      for (const s of sessions) {
        const { profile } = await s.send("Profiler.stop");
        s.ws.close();
        const idle = profile.nodes.find((n) => n.callFrame.functionName === "(idle)")?.id;
        const busy = profile.samples.filter((x) => x !== idle).length / Math.max(1, profile.samples.length);
        shares.push(`${s.target} ${(100 * busy).toFixed(0)}%`);
        if (s.target !== "core:user:sealtrail")
          writeFileSync(file.replace(".cpuprofile", `.${s.target.replaceAll(":", "-")}.cpuprofile`), JSON.stringify(profile));
        else {
          writeFileSync(file, JSON.stringify(profile));
          log(`profile written to ${file}; top self time:\n${summarizeProfile(profile)}`);
        }
      }
      log(`busy share of each isolate's samples: ${shares.join(", ")}`);
    },
  };
}

function summarizeProfile(profile) {
  const self = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  for (const s of profile.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  let total = 0;
  for (const [nodeId, c] of counts) {
    const n = byId.get(nodeId);
    const f = n.callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + c);
    total += c;
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 25)
    .map(([k, c]) => `  ${((100 * c) / total).toFixed(1).padStart(5)}%  ${k}`)
    .join("\n");
}

// ---- report -------------------------------------------------------------------------------

function machine() {
  const c = cpus();
  const workerdVersion = spawnSync("workerd", ["--version"], { encoding: "utf8" }).stdout.trim();
  const pkg = (name) => JSON.parse(readFileSync(`node_modules/${name}/package.json`, "utf8")).version;
  return {
    cores: c.length,
    cpu_model: c[0]?.model ?? "unknown",
    node: process.version,
    workerd: workerdVersion || pkg("workerd"),
    miniflare: pkg("miniflare"),
    wrangler: pkg("wrangler"),
    note: "shared machine; the load generator runs in the same Node process that hosts Miniflare",
  };
}

const fmt = (v, unit) => {
  if (v === undefined || Number.isNaN(v)) return "—";
  if (unit === "ms") return v.toFixed(v < 1 ? 3 : 1);
  if (unit === "%") return v.toFixed(1);
  return Math.round(v).toLocaleString("en-US");
};

function verdicts() {
  const med = (id) => stats(rows.get(id).runs)?.median;
  const ratio = (a, b) => (med(a) !== undefined && med(b) !== undefined ? med(a) / med(b) : undefined);
  const ratios = [
    { id: "single_vs_baseline", what: "single-event POSTs / Worker→DO no-op ceiling", value: ratio("single", "baseline"), target: 0.7 },
    { id: "tenants16_vs_single", what: "16 tenants aggregate / one tenant", value: ratio("tenants16", "single"), target: 1.0 },
    { id: "group_vs_maxbatch1", what: "group commit / maxBatch = 1, 64 connections", value: ratio("single", "maxbatch1"), target: 3.0 },
  ];
  for (const r of ratios) r.met = r.value === undefined ? null : r.value >= r.target;
  const met = {
    single: ratios[0].met,
    latency_p99:
      med("latency_p99") === undefined ? null : med("latency_p99") <= 20 && rows.get("latency_p99").details.every((d) => d.durable),
    batched: med("batched") === undefined ? null : med("batched") >= 30_000,
    tenants16: ratios[1].met,
    maxbatch1: ratios[2].met,
    encode: med("encode") === undefined ? null : med("encode") >= 150_000,
    proof: med("proof") === undefined ? null : med("proof") <= 5,
    cli_verify: med("cli_verify") === undefined ? null : med("cli_verify") >= 300_000,
    overload_503:
      med("overload_503") === undefined
        ? null
        : med("overload_503") > 0 && rows.get("overload_503").details.every((d) => d.retry_after_on_503 >= (d.statuses[503] ?? 0)),
  };
  return { ratios, met };
}

function printTable({ ratios, met }) {
  const lines = [];
  lines.push(
    `${"measure".padEnd(82)} ${"min".padStart(9)} ${"median".padStart(9)} ${"max".padStart(9)}  unit       target              met`,
  );
  for (const r of rows.values()) {
    const s = stats(r.runs);
    const m = met[r.id];
    lines.push(
      `${r.measure.padEnd(82)} ${fmt(s?.min, r.unit).padStart(9)} ${fmt(s?.median, r.unit).padStart(9)} ${fmt(s?.max, r.unit).padStart(9)}  ${r.unit.padEnd(10)} ${String(r.target ?? "").padEnd(19)} ${m === undefined ? "" : m === null ? "not run" : m ? "yes" : "NO"}`,
    );
  }
  lines.push("");
  for (const r of ratios)
    lines.push(
      `ratio ${r.what.padEnd(50)} ${r.value === undefined ? "—" : r.value.toFixed(2).padStart(6)}  target >= ${r.target}  ${r.met === null ? "not run" : r.met ? "met" : "NOT met"}`,
    );
  console.log(lines.join("\n"));
}

build();
log("bench Worker built (wrangler deploy --dry-run bench/worker.ts) and the in-workerd core bench (esbuild)");
if (["baseline", "single", "latency", "batched", "tenants16", "overload", "encode", "proof"].some(wanted)) await serverPhase();
if (wanted("maxbatch1")) await maxBatchPhase();
if (wanted("cli_verify")) cliPhase();
if (wanted("tile_verify")) tilePhase();
const v = verdicts();
printTable(v);
const results = {
  generated_at: new Date().toISOString(),
  duration_s: Math.round((performance.now() - started) / 1000),
  machine: machine(),
  settings: { runs: RUNS, seconds_per_load_run: RUN_MS / 1000 },
  rows: [...rows.values()].map((r) => ({ ...r, ...stats(r.runs), met: v.met[r.id] })),
  ratios: v.ratios,
};
writeFileSync("bench/results.json", `${JSON.stringify(results, null, 2)}\n`);
log(`bench/results.json written (${results.duration_s} s)`);
