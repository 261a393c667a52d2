import { app } from "./app";
import { BENCH_BASELINE_PATH, benchBaseline, benchBaselineEnabled } from "./bench-baseline";

export { LogAudit } from "../durable/log-audit";
export { TenantLog } from "../durable/tenant-log";

export default {
  fetch(request, env, ctx) {
    // Bench-only ceiling route (bench-baseline.ts); without the variable it does not exist.
    if (benchBaselineEnabled(env) && new URL(request.url).pathname === BENCH_BASELINE_PATH) return benchBaseline(env);
    return app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
