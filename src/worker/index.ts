import { app } from "./app";
import { runAuditCron } from "./audit-cron";
import { useNativeSha256 } from "../runtime/native-sha256";

// Every hash in this isolate (the Worker, TenantLog, LogAudit) uses the runtime's SHA-256.
useNativeSha256();

export { Batcher } from "../durable/batcher";
export { LogAudit } from "../durable/log-audit";
export { LogStreams } from "../durable/log-streams";
export { TenantLog } from "../durable/tenant-log";

export default {
  fetch: app.fetch,
  // Scheduled audits' safety net (audit-cron.ts; wrangler.toml `[triggers]`).
  scheduled(controller, env, ctx) {
    ctx.waitUntil(
      runAuditCron(env, controller.scheduledTime).then((r) => console.log(`scheduled audits: ${r.kicked} of ${r.seen} tenants kicked`)),
    );
  },
} satisfies ExportedHandler<Env>;
