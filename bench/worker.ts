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
 *   seals if asked. Grows a log to 10^6 entries for the heap rows (issue #15: bench/run.mjs "heap").
 * - SEALTRAIL_BENCH_MAX_BATCH: requests per group commit in TenantLog (default unlimited); "1"
 *   is one transaction and one D1 write per request, to measure what group commit buys.
 */
import { TenantLog as ProductionTenantLog } from "../src/durable/tenant-log";
import worker from "../src/worker/index";

export { LogAudit } from "../src/worker/index";

const BENCH_BASELINE_PATH = "/__bench/noop";
const BENCH_FILL_PATH = "/__bench/fill";
const FILL_REQUEST = 1000;
/** The Durable Object name the baseline pings: never a tenant id (those are 32 alphanumerics). */
const BASELINE_OBJECT = "bench-baseline";

/** Variables only the bench sets (bench/run.mjs), in its own Miniflare; never in wrangler.toml. */
type BenchEnv = Env & { SEALTRAIL_BENCH_MAX_BATCH?: string };

export class TenantLog extends ProductionTenantLog {
  constructor(ctx: DurableObjectState, env: BenchEnv) {
    const maxBatch = Number(env.SEALTRAIL_BENCH_MAX_BATCH);
    super(ctx, env, Number.isSafeInteger(maxBatch) && maxBatch >= 1 ? { maxBatch } : {});
  }

  /** Does nothing: the Worker → Durable Object ceiling. */
  async ping(): Promise<boolean> {
    return true;
  }
}

/** A small event (entries of ~450 bytes): what grows with the log is per entry, not per byte. */
const fillEvent = (i: number) => ({ action: "bench.fill", actor: { id: `user_${i % 977}`, type: "user" }, metadata: { i } });
const FILL_PROVENANCE = { principal_type: "api_key", principal_id: "bench-fill", key_id: "bench-fill" };

async function fill(url: URL, env: BenchEnv): Promise<Response> {
  const tenant = url.searchParams.get("tenant") ?? "";
  const n = Number(url.searchParams.get("n"));
  const from = Number(url.searchParams.get("from") ?? "0");
  const ns = env.TENANT_LOG as unknown as DurableObjectNamespace<TenantLog>;
  const stub = ns.get(ns.idFromName(tenant));
  let next = 0;
  let appended = 0;
  const lane = async () => {
    while (next < n) {
      const start = next;
      const count = Math.min(FILL_REQUEST, n - start);
      next += count;
      const items = Array.from({ length: count }, (_, j) => ({ event: fillEvent(from + start + j) }));
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
    if (url.pathname === BENCH_FILL_PATH && request.method === "POST") return fill(url, env);
    if (url.pathname === BENCH_BASELINE_PATH) {
      const ns = env.TENANT_LOG as unknown as DurableObjectNamespace<TenantLog>;
      return Response.json({ ok: await ns.get(ns.idFromName(BASELINE_OBJECT)).ping() });
    }
    return worker.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<BenchEnv>;
