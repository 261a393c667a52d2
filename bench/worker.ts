/**
 * The Worker that `npm run bench` builds (bench/harness.mjs: `wrangler deploy --dry-run
 * bench/worker.ts`, with wrangler.toml's bindings): the production Worker, plus what only the
 * bench needs. None of this is in the deployed bundle (scripts/check-bundle.mjs fails if it is).
 *
 * - GET /__bench/noop: the ceiling (issue #8), a Worker → Durable Object RPC that does nothing.
 *   It bypasses the Hono app on purpose: it measures the runtime, not our middleware.
 * - POST /__bench/fill?tenant=&n=&from=&seal=1: appends n small events to the tenant's log
 *   straight through TenantLog.append (the Durable Object's path: group commit, D1 mirror,
 *   seals; not the Worker's auth and validation), in requests of 1,000, 4 at a time, then
 *   seals if asked. Grows a log to 10^6 entries for the heap rows (issue #15: bench/run.mjs "heap");
 *   `shape=search`: events with names and words to search for (issue #19.4: bench/run.mjs "search").
 * - SEALTRAIL_BENCH_MAX_BATCH: requests per group commit in TenantLog (default unlimited); "1"
 *   is one transaction and one D1 write per request, to measure what group commit buys.
 * - GET /__bench/batchers?tenant=&k=: the forwards a tenant's k fan-in batchers made (summed
 *   Batcher.stats(), named with this request's colo, as the appends before it were).
 * - POST /__bench/d1?tenant=<id>&fail=1|0 (issue #15, the "D1 failing for 30 s" row): makes the
 *   D1 mirror's writes fail, or work again, in the Durable Objects' isolate (every tenant's).
 */
import { PLACEMENT_BINDINGS } from "../src/durable/placement";
import { TenantLog as ProductionTenantLog } from "../src/durable/tenant-log";
import { batcherName, coloOf } from "../src/worker/fan-in";
import worker from "../src/worker/index";

export { Batcher, LogAudit, LogStreams } from "../src/worker/index";

const BENCH_BASELINE_PATH = "/__bench/noop";
const BENCH_BATCHERS_PATH = "/__bench/batchers";
const BENCH_FILL_PATH = "/__bench/fill";
const FILL_REQUEST = 1000;
/** The Durable Object name the baseline pings: never a tenant id (those are 32 alphanumerics). */
const BASELINE_OBJECT = "bench-baseline";

/** Variables only the bench sets (bench/run.mjs), in its own Miniflare; never in wrangler.toml. */
type BenchEnv = Env & { SEALTRAIL_BENCH_MAX_BATCH?: string };

const BENCH_D1_PATH = "/__bench/d1";
/** While true, D1's batch() (the mirror's writes) fails in this isolate, as during a D1 outage. */
let benchD1Failing = false;

/** A D1 binding whose batch() fails while benchD1Failing; everything else is the real binding. */
function benchD1(real: D1Database): D1Database {
  return new Proxy(real, {
    get(target, prop) {
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          if (benchD1Failing) throw new Error("bench: D1 made to fail");
          return target.batch(statements);
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export class TenantLog extends ProductionTenantLog {
  constructor(ctx: DurableObjectState, env: BenchEnv) {
    const maxBatch = Number(env.SEALTRAIL_BENCH_MAX_BATCH);
    // Every D1 shard a tenant can be placed on (placement.ts) is wrapped, so the outage switch
    // reaches each tenant's own shard.
    const shards = Object.values(PLACEMENT_BINDINGS).flatMap((j) => j.shards);
    const wrapped = { ...env, ...Object.fromEntries(shards.map((name) => [name, benchD1(env[name])])) } as BenchEnv;
    super(ctx, wrapped, Number.isSafeInteger(maxBatch) && maxBatch >= 1 ? { maxBatch } : {});
  }

  /** The D1 outage switch (see BENCH_D1_PATH). */
  async benchFailD1(on: boolean): Promise<boolean> {
    benchD1Failing = on;
    return benchD1Failing;
  }

  /** Does nothing: the Worker → Durable Object ceiling. */
  async ping(): Promise<boolean> {
    return true;
  }
}

/** A small event (entries of ~450 bytes): what grows with the log is per entry, not per byte. */
const fillEvent = (i: number) => ({ action: "bench.fill", actor: { id: `user_${i % 977}`, type: "user" }, metadata: { i } });
/** `shape=search` (issue #19.4's rows): a name shared by 1% of the entries, a word unique to each. */
const searchFillEvent = (i: number) => ({
  action: "bench.fill",
  actor: { id: `user_${i % 977}`, type: "user", name: `Grace Hopper${i % 100}` },
  targets: [{ id: `doc_${i}`, type: "document", name: "Quarterly report" }],
  metadata: { i, word: `w${i}x`, note: "routine permission review" },
});
const FILL_PROVENANCE = { principal_type: "api_key", principal_id: "bench-fill", key_id: "bench-fill" };

async function fill(url: URL, env: BenchEnv): Promise<Response> {
  const tenant = url.searchParams.get("tenant") ?? "";
  const n = Number(url.searchParams.get("n"));
  const from = Number(url.searchParams.get("from") ?? "0");
  const shape = url.searchParams.get("shape") === "search" ? searchFillEvent : fillEvent;
  const ns = env.TENANT_LOG as unknown as DurableObjectNamespace<TenantLog>;
  const stub = ns.get(ns.idFromName(tenant));
  let next = 0;
  let appended = 0;
  const lane = async () => {
    while (next < n) {
      const start = next;
      const count = Math.min(FILL_REQUEST, n - start);
      next += count;
      const items = Array.from({ length: count }, (_, j) => ({ event: shape(from + start + j) }));
      const r = await stub.append(tenant, items, FILL_PROVENANCE);
      if (!r.ok) throw new Error(`append refused: ${JSON.stringify(r.error)}`);
      appended += count;
    }
  };
  await Promise.all([lane(), lane(), lane(), lane()]);
  const sealed = url.searchParams.get("seal") === "1" ? await stub.sealNow(tenant) : undefined;
  return Response.json({ appended, sealed });
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === BENCH_BATCHERS_PATH) {
      const tenant = url.searchParams.get("tenant") ?? "";
      const sum = { forwards: 0, forwarded: 0 };
      for (let n = 0; n < Number(url.searchParams.get("k")); n++) {
        const s = await env.BATCHER.get(env.BATCHER.idFromName(batcherName(tenant, coloOf(request), n))).stats();
        sum.forwards += s.forwards;
        sum.forwarded += s.forwarded;
      }
      return Response.json(sum);
    }
    if (url.pathname === BENCH_D1_PATH) {
      const ns = env.TENANT_LOG as unknown as DurableObjectNamespace<TenantLog>;
      const stub = ns.get(ns.idFromName(url.searchParams.get("tenant") ?? BASELINE_OBJECT));
      return Response.json({ failing: await stub.benchFailD1(url.searchParams.get("fail") === "1") });
    }
    if (url.pathname === BENCH_FILL_PATH && request.method === "POST") return fill(url, env);
    if (url.pathname === BENCH_BASELINE_PATH) {
      const ns = env.TENANT_LOG as unknown as DurableObjectNamespace<TenantLog>;
      return Response.json({ ok: await ns.get(ns.idFromName(BASELINE_OBJECT)).ping() });
    }
    return worker.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<BenchEnv>;
