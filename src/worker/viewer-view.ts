/**
 * VIEWER's stand-in for KEYS' Worker-side view enforcement (issue #19.5), until both merge: a
 * view (src/core/views.ts) as SQL conditions that list and export AND with their filters (so
 * paging stays correct). At merge the lead swaps this for KEYS' equivalent; every call site is
 * marked "view (VIEWER stand-in)" (routes/events.ts, routes/export.ts, routes/proofs.ts,
 * viewer-access.ts).
 */
import { and, eq, gte, inArray, lt, or, type SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { View } from "../core/views";
import { auditEvents, auditEventTargets } from "../db/audit-schema";

export { checkView, entryTextInView, narrows, type View } from "../core/views";

/**
 * The view as WHERE conditions on audit_events. The action prefix `p` (a dotted name) covers
 * `p` itself and `p.…`: `action = p OR (p + "." <= action < p + "/")` ("/" follows "."), both on
 * the action index (src/core/views.ts `actionUnder`).
 */
export function viewConditions(db: DrizzleD1Database, tenant: string, view: View): SQL[] {
  const where: SQL[] = [];
  if (view.received_from !== undefined) where.push(gte(auditEvents.receivedAt, Date.parse(view.received_from)));
  if (view.received_to !== undefined) where.push(lt(auditEvents.receivedAt, Date.parse(view.received_to)));
  if (view.action_prefix !== undefined) {
    const p = view.action_prefix;
    where.push(or(eq(auditEvents.action, p), and(gte(auditEvents.action, `${p}.`), lt(auditEvents.action, `${p}/`)))!);
  }
  if (view.actor !== undefined) where.push(eq(auditEvents.actorId, view.actor));
  if (view.target !== undefined) {
    const t = [eq(auditEventTargets.tenantId, tenant), eq(auditEventTargets.targetId, view.target.id)];
    if (view.target.type !== undefined) t.push(eq(auditEventTargets.targetType, view.target.type));
    where.push(
      inArray(
        auditEvents.seq,
        db
          .select({ seq: auditEventTargets.seq })
          .from(auditEventTargets)
          .where(and(...t)),
      ),
    );
  }
  return where;
}
