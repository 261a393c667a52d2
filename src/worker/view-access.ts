/**
 * Where views are enforced (issue #19.1; docs/design.md "Views"): a request whose access carries
 * a view (a key's, a grant's, a viewer token's) reads only that slice of the log.
 * - list and export: `viewConditions` narrows their SQL (event-query.ts), so cursors and pages stay
 *   right (never a page filtered after the fact);
 * - one entry, its proofs: `refuseOutsideView` (403 outside_view) on the entry's own bytes;
 * - entry tiles and seal bundles, which hold many entries: `refuseViewScoped` (403 outside_view),
 *   since they cannot be cut to a view without changing their bytes.
 * Reads are logged as access events, and principalEvent (access-log.ts) puts the view in them.
 */
import { and, eq, gte, inArray, lt, or, type SQL } from "drizzle-orm";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import type { Context } from "hono";
import { entryTextInView, isWholeLog, type View } from "../core/views";
import { auditEvents, auditEventTargets } from "../db/audit-schema";
import type { AppEnv } from "./app-env";
import { Failure } from "./errors";
import { tenantData } from "./placement";
import { tenantLog } from "./tenant-log";

/** The view this request reads through, or undefined for the whole log. */
export function viewOf(c: Context<AppEnv>): View | undefined {
  const v = c.var.access.view;
  return v === undefined || isWholeLog(v) ? undefined : v;
}

/** The WHERE conditions that keep a query of `tenant`'s events within `view` (each served by an index). */
export function viewConditions(db: DrizzleD1Database, tenant: string, view: View | undefined): SQL[] {
  if (!view) return [];
  const where: SQL[] = [];
  if (view.received_from !== undefined) where.push(gte(auditEvents.receivedAt, Date.parse(view.received_from)));
  if (view.received_to !== undefined) where.push(lt(auditEvents.receivedAt, Date.parse(view.received_to)));
  if (view.action_prefix !== undefined) {
    // The action itself, or a range on the index for names under it: "user." <= action < "user/".
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

/** Refuses (403 outside_view) an entry, given its stored bytes, that the request's view does not hold. */
export function refuseOutsideView(c: Context<AppEnv>, entry: string, what: string): void {
  const view = viewOf(c);
  if (view && !entryTextInView(view, entry)) throw new Failure({ reason: "outside_view", what });
}

/** Refuses (403) a read of many entries at once (tiles, seal bundles) to a request scoped to a view. */
export function refuseViewScoped(c: Context<AppEnv>, what: string): void {
  if (viewOf(c)) throw new Failure({ reason: "view_scoped", what });
}

/**
 * Refuses (403 outside_view) a proof of entry `seq` when the request has a view that does not hold
 * it. The entry's bytes come from D1, else from the log (not yet mirrored). An entry found nowhere
 * (pruned by retention, or past the log's end) cannot be shown to be in the view, so it is refused
 * too: a view never learns the leaf hash of an entry it could not read.
 */
export async function requireEntryInView(c: Context<AppEnv>, seq: number): Promise<void> {
  if (!viewOf(c)) return;
  const row = await drizzle((await tenantData(c)).db)
    .select({ entry: auditEvents.entry })
    .from(auditEvents)
    .where(and(eq(auditEvents.tenantId, c.var.access.tenantId), eq(auditEvents.seq, seq)))
    .get();
  const entry = row?.entry ?? (await tenantLog(c).entry(seq))?.entry;
  if (entry === undefined) throw new Failure({ reason: "outside_view", what: `Entry ${seq}` });
  refuseOutsideView(c, entry, `Entry ${seq}`);
}
