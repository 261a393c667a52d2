// The end-to-end benchmark harness (issue #8): the Worker bundle that `wrangler deploy` would
// upload, run by Miniflare from Node with the bindings wrangler.toml declares, driven over
// loopback by a load generator in this process. Everything is bounded in count and time.
// Used by bench/run.mjs (`npm run bench`); talks only to 127.0.0.1.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions, unstable_splitSqlQuery } from "wrangler";

export const BUILD_DIR = ".bench/build";
export const CORE_BUILD_DIR = ".bench/core";
const secret = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");

/**
 * Builds the bench's Worker (bench/worker.ts: the production Worker plus the baseline route and
 * maxBatch) exactly as `wrangler deploy` would (offline: --dry-run, wrangler.toml's settings),
 * and the in-workerd core bench.
 */
export function build() {
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };
  rmSync(BUILD_DIR, { recursive: true, force: true });
  const worker = spawnSync("wrangler", ["deploy", "--dry-run", "--outdir", BUILD_DIR, "bench/worker.ts"], { env, encoding: "utf8" });
  if (worker.status !== 0) throw new Error(`wrangler deploy --dry-run failed:\n${worker.stdout}\n${worker.stderr}`);
  const core = spawnSync(
    "esbuild",
    [
      "bench/workerd/core-worker.ts",
      "--bundle",
      "--format=esm",
      "--platform=neutral",
      "--target=es2022",
      "--external:cloudflare:*",
      "--external:node:*",
      `--outfile=${CORE_BUILD_DIR}/index.js`,
      "--log-level=warning",
    ],
    { env, encoding: "utf8" },
  );
  if (core.status !== 0) throw new Error(`esbuild of the core bench failed:\n${core.stderr}`);
}

/**
 * Starts the Worker in Miniflare with wrangler.toml's bindings (vars, Durable Objects with
 * SQLite, D1, R2, KV), fresh random secrets, D1 migrations applied from migrations/ to every D1
 * binding (the control database and the tenant data shards), and a
 * fresh state folder on disk. `vars` adds bench-only variables (bench/worker.ts).
 */
export async function startServer(vars = {}, { inspectorPort } = {}) {
  const state = mkdtempSync(join(tmpdir(), "sealtrail-bench-"));
  // wrangler.toml declares the secrets as required; fresh ones for every server.
  process.env.BETTER_AUTH_SECRET = secret();
  process.env.SEALTRAIL_SIGNING_SECRET = secret();
  process.env.SEALTRAIL_SUBJECT_KEY_SECRET = secret();
  const { workerOptions } = unstable_getMiniflareWorkerOptions("wrangler.toml");
  const sealtrail = {
    ...workerOptions,
    name: "sealtrail",
    modules: true,
    scriptPath: join(BUILD_DIR, "worker.js"),
    bindings: {
      ...workerOptions.bindings,
      BETTER_AUTH_SECRET: process.env.BETTER_AUTH_SECRET,
      SEALTRAIL_SIGNING_SECRET: process.env.SEALTRAIL_SIGNING_SECRET,
      SEALTRAIL_SUBJECT_KEY_SECRET: process.env.SEALTRAIL_SUBJECT_KEY_SECRET,
      ...vars,
    },
  };
  delete sealtrail.modulesRules;
  // The web console's static assets are left out: locally Miniflare puts an assets router
  // worker in front of the Worker, one more isolate hop on the same thread for every API
  // request (measured: the no-op ceiling fell from ~2,600 to ~1,100 req/s with it). On
  // Cloudflare that routing happens before the Worker runs. The API path measured is the same.
  delete sealtrail.assets;
  const core = {
    name: "core-bench",
    modules: true,
    scriptPath: join(CORE_BUILD_DIR, "index.js"),
    compatibilityDate: workerOptions.compatibilityDate,
    compatibilityFlags: workerOptions.compatibilityFlags,
    durableObjects: { TREE: { className: "BenchTree", useSQLite: true } },
  };
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      cf: false,
      ...(inspectorPort === undefined ? {} : { inspectorPort }),
      resourcePersistencePath: state,
      workers: [sealtrail, core],
    }),
  );
  const url = await mf.ready;
  // Every database gets every migration: the control database DB and each tenant data shard.
  for (const binding of Object.keys(workerOptions.d1Databases ?? { DB: "" })) {
    const db = await mf.getD1Database(binding);
    for (const file of readdirSync("migrations")
      .filter((f) => f.endsWith(".sql"))
      .sort()) {
      const statements = unstable_splitSqlQuery(readFileSync(join("migrations", file), "utf8"));
      await db.batch(statements.map((s) => db.prepare(s)));
    }
  }
  const base = url.href.replace(/\/$/, "");
  return {
    mf,
    base,
    state,
    /** better-auth checks Origin against BETTER_AUTH_URL, whatever port Miniflare listens on. */
    origin: sealtrail.bindings.BETTER_AUTH_URL,
    core: await mf.getWorker("core-bench"),
    async stop() {
      await mf.dispose();
      rmSync(state, { recursive: true, force: true });
    },
  };
}

/** workerd processes started by this process (Miniflare's children), for memory readings. */
export function workerdPids() {
  const pids = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
      if (m?.[1].startsWith("workerd") && Number(m[2]) === process.pid) pids.push(Number(name));
    } catch {}
  }
  return pids;
}

/** Resident memory (VmRSS) and peak (VmHWM) of those processes, in MiB. */
export function workerdMemory() {
  let rss = 0;
  let hwm = 0;
  for (const pid of workerdPids()) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      rss += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
      hwm += Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
    } catch {}
  }
  return { rss: Math.round(rss), hwm: Math.round(hwm) };
}

// ---- HTTP ---------------------------------------------------------------------------------

/** One request over a keep-alive agent; resolves with status, headers and body text. */
export function request(agent, base, method, path, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        headers: body === undefined ? headers : { ...headers, "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

let ipCounter = 1;
/** A distinct client address per simulated person (better-auth limits sign-ups per IP). */
const clientIp = () => `2001:db8:${(ipCounter++).toString(16)}::1`;

async function json(agent, base, origin, method, path, headers, body) {
  const r = await request(
    agent,
    base,
    method,
    path,
    { "content-type": "application/json", origin, "cf-connecting-ip": clientIp(), ...headers },
    body === undefined ? undefined : JSON.stringify(body),
  );
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.body}`);
  return { body: JSON.parse(r.body), headers: r.headers };
}

/**
 * Tenants with an append key and a read key each, through the real API: sign-up, organization
 * create, key create (as test/worker/helpers.ts does).
 */
export async function setupTenants(base, count, origin) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const tenants = [];
  for (let i = 0; i < count; i++) {
    const email = `bench-${i}-${Date.now().toString(36)}@example.com`;
    const signed = await json(
      agent,
      base,
      origin,
      "POST",
      "/api/auth/sign-up/email",
      {},
      { email, password: "correct horse battery", name: "Bench" },
    );
    const token = signed.headers["set-auth-token"] ?? signed.body.token;
    const auth = { authorization: `Bearer ${token}` };
    const org = await json(agent, base, origin, "POST", "/api/auth/organization/create", auth, {
      name: `Bench ${i}`,
      slug: `bench-${i}-${Date.now().toString(36)}`,
    });
    const tenant = org.body.id;
    const appendKey = (
      await json(agent, base, origin, "POST", `/v1/tenants/${tenant}/keys`, auth, { name: "writer", permissions: ["append"] })
    ).body.key;
    const readKey = (
      await json(agent, base, origin, "POST", `/v1/tenants/${tenant}/keys`, auth, { name: "reader", permissions: ["read", "verify"] })
    ).body.key;
    tenants.push({ tenant, appendKey, readKey, token });
  }
  agent.destroy();
  return tenants;
}

/** The tree size the tenant's log reports (from its signed checkpoint). */
export async function treeSize(base, t) {
  const agent = new http.Agent({ keepAlive: false });
  const r = await request(agent, base, "GET", `/v1/tenants/${t.tenant}/checkpoint`, { "x-api-key": t.readKey });
  agent.destroy();
  if (r.status !== 200) throw new Error(`checkpoint: ${r.status} ${r.body}`);
  return Number(r.body.split("\n")[1]);
}

// ---- events -------------------------------------------------------------------------------

/** An event of about 800 bytes as an entry, like bench/core.bench.ts's typical audit record. */
export const sampleEvent = (i) => ({
  action: "document.permission.changed",
  actor: { id: `user_${i % 977}`, type: "user", name: "Ada Lovelace" },
  targets: [
    { id: `doc_${i}`, type: "document", name: "Quarterly report" },
    { id: "grp_42", type: "group", name: "Finance" },
  ],
  outcome: "success",
  occurred_at: new Date().toISOString(),
  context: { request_id: `req_${i}`, session_id: "sess_0123456789abcdef" },
  metadata: { from: "viewer", to: "editor", reason: "Quarter close needs edit access for the finance team", ticket: "FIN-1234" },
});

// ---- load generation ----------------------------------------------------------------------

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Closed loop: `connections` callers, each sending its next request when the last one is
 * answered, for `warmupMs` then `durationMs` (counted), and never more than `maxRequests`.
 * `next(i)` returns {method, path, headers, body, events}. Returns requests and events per
 * second in the counted window, status counts and latency percentiles (ms).
 */
export async function closedLoop({ base, connections, durationMs, warmupMs = 500, maxRequests = 1_000_000, next, onResponse }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const statuses = {};
  const latencies = [];
  let sent = 0;
  let counted = 0;
  let events = 0;
  let retryAfter = 0;
  const start = performance.now();
  const measureFrom = start + warmupMs;
  const stopAt = measureFrom + durationMs;
  let lastCounted = measureFrom;
  const caller = async () => {
    while (performance.now() < stopAt && sent < maxRequests) {
      const i = sent++;
      const r = next(i);
      const t0 = performance.now();
      let res;
      try {
        res = await request(agent, base, r.method, r.path, r.headers, r.body);
      } catch (_e) {
        statuses.error = (statuses.error ?? 0) + 1;
        continue;
      }
      const t1 = performance.now();
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      if (res.headers["retry-after"] !== undefined) retryAfter++;
      onResponse?.(res, r);
      if (t0 >= measureFrom && t1 <= stopAt) {
        lastCounted = Math.max(lastCounted, t1);
        latencies.push(t1 - t0);
        counted++;
        if (res.status === 201) events += r.events;
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, caller));
  agent.destroy();
  const seconds = Math.max(1e-3, (Math.min(stopAt, lastCounted) - measureFrom) / 1000);
  latencies.sort((a, b) => a - b);
  return {
    requests_per_s: counted / seconds,
    events_per_s: events / seconds,
    statuses,
    retry_after: retryAfter,
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
    sent,
  };
}

/**
 * Open loop: requests are started at a fixed rate whatever the answers, for `durationMs`.
 * Latency is measured from each request's scheduled start (no coordinated omission).
 */
export async function openLoop({ base, ratePerS, durationMs, maxInFlight = 512, next, onResponse }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: maxInFlight });
  const latencies = [];
  const statuses = {};
  const total = Math.floor((ratePerS * durationMs) / 1000);
  const interval = 1000 / ratePerS;
  const start = performance.now();
  const pending = [];
  let acked = 0;
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const r = next(i);
    pending.push(
      request(agent, base, r.method, r.path, r.headers, r.body).then(
        (res) => {
          latencies.push(performance.now() - due);
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          if (res.status === 201) acked += r.events;
          onResponse?.(res, r);
        },
        () => {
          statuses.error = (statuses.error ?? 0) + 1;
        },
      ),
    );
  }
  await Promise.all(pending);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    offered_per_s: ratePerS,
    achieved_per_s: (total * 1000) / (performance.now() - start),
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
    max_ms: latencies[latencies.length - 1],
    statuses,
    acked,
  };
}

export function ensureDir(dir) {
  mkdirSync(dir, { recursive: true });
}
