/**
 * Filters over a tenant's events, shared by the list and export routes. Every filter is
 * served by a D1 index (docs/query-plans.md; test/worker/read-side.test.ts "every filter is
 * served by an index" checks it).
 * Order is always by sequence number, never by time (docs/design.md invariant 5).
 */
import { and, eq, gte, inArray, lt, type SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { z } from "zod";
import { auditEvents, auditEventTargets } from "../db/audit-schema";
import type { View } from "../core/views";
import { Failure } from "./errors";
import { SEARCH_LIMITS, searchCondition } from "./search";
import { viewConditions } from "./view-access";

const SeqParam = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** `action=user.login` matches exactly; `action=user.*` matches every action under `user.`. */
const ActionFilter = z
  .string()
  .max(128)
  .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?$|^\*$/, "a dotted name, optionally ending in .*");

export const EventFilter = z.strictObject({
  action: ActionFilter.optional(),
  actor: z.string().min(1).max(256).optional(),
  actor_type: z.string().min(1).max(64).optional(),
  target: z.string().min(1).max(256).optional(),
  target_type: z.string().min(1).max(64).optional(),
  outcome: z.enum(["success", "failure", "denied", "unknown"]).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  from_seq: SeqParam.optional(),
  to_seq: SeqParam.optional(),
  q: z
    .string()
    .max(SEARCH_LIMITS.chars * 4)
    .optional()
    .describe("full-text search: plain words, all required, in actor names, target names, action and metadata values"),
});
export type EventFilter = z.infer<typeof EventFilter>;

/**
 * The WHERE conditions of a filter. `to_seq` and `until` are exclusive. `view`: the request's view
 * (view-access.ts `viewOf`), ANDed in SQL so that pages and cursors stay right.
 */
export function filterConditions(db: DrizzleD1Database, tenant: string, f: EventFilter, view?: View): SQL[] {
  const where: SQL[] = [eq(auditEvents.tenantId, tenant), ...viewConditions(db, tenant, view)];
  if (f.action && f.action !== "*") {
    if (f.action.endsWith(".*")) {
      // A range on the index instead of LIKE: "user." <= action < "user/" ("/" follows ".").
      const prefix = f.action.slice(0, -1);
      where.push(gte(auditEvents.action, prefix), lt(auditEvents.action, `${prefix.slice(0, -1)}/`));
    } else {
      where.push(eq(auditEvents.action, f.action));
    }
  }
  if (f.actor) where.push(eq(auditEvents.actorId, f.actor));
  if (f.actor_type) where.push(eq(auditEvents.actorType, f.actor_type));
  if (f.outcome) where.push(eq(auditEvents.outcome, f.outcome));
  if (f.since) where.push(gte(auditEvents.receivedAt, Date.parse(f.since)));
  if (f.until) where.push(lt(auditEvents.receivedAt, Date.parse(f.until)));
  if (f.from_seq !== undefined) where.push(gte(auditEvents.seq, f.from_seq));
  if (f.to_seq !== undefined) where.push(lt(auditEvents.seq, f.to_seq));
  // Full-text search (search.ts): the FTS5 index of the tenant's range, bounded by the seq filters.
  if (f.q !== undefined) where.push(searchCondition(tenant, f.q, f.from_seq, f.to_seq));
  if (f.target || f.target_type) {
    // Driven by the targets index: the matching seqs first, then primary-key lookups.
    const t = [eq(auditEventTargets.tenantId, tenant)];
    if (f.target) t.push(eq(auditEventTargets.targetId, f.target));
    if (f.target_type) t.push(eq(auditEventTargets.targetType, f.target_type));
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

/** Opaque page cursors: the sequence number a page ends (after) or starts (before) at. */
export const Cursor = {
  after: (seq: number) => btoa(`after:${seq}`).replace(/=+$/, ""),
  before: (seq: number) => btoa(`before:${seq}`).replace(/=+$/, ""),
  decode(cursor: string): { dir: "after" | "before"; seq: number } {
    let text = "";
    try {
      text = atob(cursor);
    } catch {
      // fall through to the refusal below
    }
    const m = /^(after|before):(\d{1,16})$/.exec(text);
    if (!m) throw new Failure({ reason: "invalid_cursor" });
    return { dir: m[1] as "after" | "before", seq: Number(m[2]) };
  },
};
