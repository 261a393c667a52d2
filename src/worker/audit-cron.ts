/**
 * The Worker's cron (wrangler.toml `[triggers] crons`, hourly): the fleet-wide safety net of
 * scheduled audits (src/durable/audit-schedule.ts). It pages through the tenants of the control
 * database, CRON_PAGE at a time, and kicks the LogAudit object of each tenant whose daily slot
 * falls in this hour: the object starts a run that is overdue and re-arms its alarm for the next
 * slot. Each LogAudit's own alarm does the rest, so each tenant is kicked once a day and its
 * runs start at its own minute, not at the cron's.
 */
import { CRON_PAGE, CRON_PERIOD_MS, inCronWindow } from "../durable/audit-schedule";
import { checkedPlacement, DEFAULT_PLACEMENT, tenantObject } from "../durable/placement";

/** LogAudit calls in flight at once. */
const CONCURRENCY = 16;

export interface CronResult {
  /** Tenants read from the control database. */
  seen: number;
  /** Tenants whose slot fell in this hour, kicked. */
  kicked: number;
  /** Kicks that failed (retried by the next day's cron; the object's own alarm usually runs anyway). */
  failed: number;
}

export async function runAuditCron(env: Env, scheduledTimeMs: number): Promise<CronResult> {
  const windowStart = Math.floor(scheduledTimeMs / CRON_PERIOD_MS) * CRON_PERIOD_MS;
  const result: CronResult = { seen: 0, kicked: 0, failed: 0 };
  let after = "";
  for (;;) {
    // Keyset paging on the primary key: each query reads at most CRON_PAGE rows.
    const { results } = await env.DB.prepare(
      `SELECT o.id AS id, p.jurisdiction AS jurisdiction, p.shard AS shard FROM organization o
       LEFT JOIN tenant_placement p ON p.tenant_id = o.id WHERE o.id > ? ORDER BY o.id LIMIT ?`,
    )
      .bind(after, CRON_PAGE)
      .all<{ id: string; jurisdiction: string | null; shard: number | null }>();
    result.seen += results.length;
    const due = results.filter((r) => inCronWindow(r.id, windowStart));
    for (let i = 0; i < due.length; i += CONCURRENCY) {
      await Promise.all(
        due.slice(i, i + CONCURRENCY).map(async (r) => {
          // A tenant with no row was created before placements were recorded: the default place.
          const placement = r.jurisdiction === null ? DEFAULT_PLACEMENT : checkedPlacement(r.jurisdiction, r.shard);
          try {
            await tenantObject(env.LOG_AUDIT, placement, r.id).schedule(r.id, placement, null);
            result.kicked += 1;
          } catch (e) {
            result.failed += 1;
            console.error(`scheduled audit: tenant ${r.id} not kicked`, e);
          }
        }),
      );
    }
    if (results.length < CRON_PAGE) break;
    after = results[results.length - 1]!.id;
  }
  return result;
}
