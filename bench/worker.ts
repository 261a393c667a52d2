/**
 * The Worker that `npm run bench` builds (bench/harness.mjs: `wrangler deploy --dry-run
 * bench/worker.ts`, with wrangler.toml's bindings): the production Worker, plus what only the
 * bench needs. None of this is in the deployed bundle (scripts/check-bundle.mjs fails if it is).
 *
 * - GET /__bench/noop: the ceiling (issue #8), a Worker → Durable Object RPC that does nothing.
 *   It bypasses the Hono app on purpose: it measures the runtime, not our middleware.
 * - SEALTRAIL_BENCH_MAX_BATCH: requests per group commit in TenantLog (default unlimited); "1"
 *   is one transaction and one D1 write per request, to measure what group commit buys.
 */
import { TenantLog as ProductionTenantLog } from "../src/durable/tenant-log";
import worker from "../src/worker/index";

export { LogAudit } from "../src/worker/index";

const BENCH_BASELINE_PATH = "/__bench/noop";
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

export default {
  async fetch(request, env, ctx) {
    if (new URL(request.url).pathname === BENCH_BASELINE_PATH) {
      const ns = env.TENANT_LOG as unknown as DurableObjectNamespace<TenantLog>;
      return Response.json({ ok: await ns.get(ns.idFromName(BASELINE_OBJECT)).ping() });
    }
    return worker.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<BenchEnv>;
