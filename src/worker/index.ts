import { app } from "./app";
import { BENCH_BASELINE_PATH, benchBaseline, benchBaselineEnabled } from "./bench-baseline";
import { useNativeSha256 } from "../runtime/native-sha256";

// Every hash in this isolate (the Worker, TenantLog, LogAudit) uses the runtime's SHA-256.
useNativeSha256();

export { LogAudit } from "../durable/log-audit";
export { TenantLog } from "../durable/tenant-log";

export default {
  fetch(request, env, ctx) {
    // Bench-only ceiling route (bench-baseline.ts); without the variable it does not exist.
    if (benchBaselineEnabled(env) && new URL(request.url).pathname === BENCH_BASELINE_PATH) return benchBaseline(env);
    return app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
