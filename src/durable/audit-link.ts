/**
 * The TenantLog's side of scheduled audits (audit-schedule.ts): it tells its tenant's LogAudit
 * object the audit intervals from its settings, once and again after they change, from its alarm.
 * That arms LogAudit's own alarm for the tenant's next slot, so scheduled runs need no cron
 * (locally, crons never fire); the cron re-arms what was lost.
 */
import type { AlertEngine } from "./alerts";
import { AUDIT_SCHEDULE_FACT, type AuditScheduleFact } from "./alert-sources";
import type { TenantSettings } from "./log-store";
import { tenantObject, type Placement } from "./placement";

/** Tells LogAudit the intervals if it has not been told these; records that it was (alerts' facts). */
export async function ensureAuditScheduled(
  env: Env,
  placement: Placement,
  tenant: string,
  settings: TenantSettings,
  alerts: AlertEngine,
  nowMs: number,
): Promise<void> {
  const want = { incremental_ms: settings.auditIntervalMs, full_ms: settings.fullAuditIntervalMs };
  const told = alerts.fact<AuditScheduleFact>(AUDIT_SCHEDULE_FACT);
  if (told && told.incremental_ms === want.incremental_ms && told.full_ms === want.full_ms) return;
  const audit = tenantObject(env.LOG_AUDIT, placement, tenant);
  await audit.schedule(tenant, placement, { incrementalMs: want.incremental_ms, fullMs: want.full_ms });
  // Durable now (after LogAudit stored its schedule): what it was told. A crash before this tells
  // it again (the same intervals change nothing there). Overdue counts from now.
  alerts.setFact(AUDIT_SCHEDULE_FACT, { ...want, since: nowMs } satisfies AuditScheduleFact);
}
