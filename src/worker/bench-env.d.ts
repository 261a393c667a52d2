// Bench-only variables: set by `npm run bench` (bench/harness.mjs) in its own Miniflare, never in
// wrangler.toml, so they are absent (undefined) in deployments and in `npm test`.
declare namespace Cloudflare {
  interface Env {
    /** "1" serves the Worker → Durable Object no-op route (src/worker/bench-baseline.ts). */
    SEALTRAIL_BENCH_BASELINE?: string;
    /** Requests per group commit in TenantLog (default unlimited); "1" = one transaction and one D1 write per request. */
    SEALTRAIL_BENCH_MAX_BATCH?: string;
  }
}
