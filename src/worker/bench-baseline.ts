/**
 * The benchmark's ceiling (issue #8): a Worker → Durable Object RPC that does nothing, served
 * only when the bench-only variable SEALTRAIL_BENCH_BASELINE is "1". `npm run bench` sets it in
 * its own Miniflare; wrangler.toml never does, so deployments answer 404 here like any unknown
 * path. It bypasses the Hono app on purpose: it measures the runtime, not our middleware.
 */
export const BENCH_BASELINE_PATH = "/__bench/noop";

/** The Durable Object name the baseline pings: never a tenant id (those are 32 alphanumerics). */
const BASELINE_OBJECT = "bench-baseline";

export function benchBaselineEnabled(env: Env): boolean {
  return env.SEALTRAIL_BENCH_BASELINE === "1";
}

export async function benchBaseline(env: Env): Promise<Response> {
  const size = await env.TENANT_LOG.get(env.TENANT_LOG.idFromName(BASELINE_OBJECT)).ping();
  return Response.json({ ok: true, size });
}
