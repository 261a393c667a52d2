/**
 * Time-bounded access for members (issue #19.1 grants, #19.2 just-in-time elevation), stored in
 * the control database (`access_grant`, `elevation`: migrations/0015). Nothing ends them but the
 * clock: every request of a member reads what is in force now (`boundedAccessOf`), and
 * tenant-access.ts `usePermission` uses a grant or an elevation only when the member's role
 * lacks the permission a route needs.
 *
 * Ends are logged when first noticed after the window: by the member's next request to the
 * tenant, or by a listing of the tenant's grants or elevations (`noticeEnded`), whichever comes
 * first (a conditional write: one request logs each end). Until someone looks, an ended grant is
 * simply not used; its end entry can come later than its end (`ended_at` in it says when).
 */
import type { Context } from "hono";
import type { View } from "../core/views";
import { recordAccess } from "./access-log";
import type { AppEnv, BoundedAccess } from "./app-env";
import { PERMISSIONS, type Permission } from "./permissions";

export interface GrantRow {
  id: string;
  tenant_id: string;
  user_id: string;
  permissions: string;
  view: string;
  reason: string;
  starts_at: number;
  expires_at: number;
  created_by: string;
  created_at: number;
  revoked_at: number | null;
  revoked_by: string | null;
  ended_logged_at: number | null;
}

export interface ElevationRow {
  id: string;
  tenant_id: string;
  user_id: string;
  permission: string;
  duration_s: number;
  reason: string;
  status: "requested" | "approved" | "refused" | "cancelled";
  requested_at: number;
  decided_by: string | null;
  decided_at: number | null;
  decision_reason: string | null;
  expires_at: number | null;
  ended_logged_at: number | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const permissionsOf = (stored: string): Permission[] =>
  (JSON.parse(stored) as string[]).filter((p): p is Permission => (PERMISSIONS as readonly string[]).includes(p));

/** A grant's wire form (list, create, revoke). */
export const grantView = (g: GrantRow, nowMs: number) => ({
  id: g.id,
  user_id: g.user_id,
  permissions: permissionsOf(g.permissions),
  view: JSON.parse(g.view) as View,
  reason: g.reason,
  starts_at: iso(g.starts_at)!,
  expires_at: iso(g.expires_at)!,
  created_by: g.created_by,
  created_at: iso(g.created_at)!,
  revoked_at: iso(g.revoked_at),
  revoked_by: g.revoked_by,
  active: g.revoked_at === null && g.starts_at <= nowMs && nowMs < g.expires_at,
});

/** An elevation's wire form. */
export const elevationView = (e: ElevationRow, nowMs: number) => ({
  id: e.id,
  user_id: e.user_id,
  permission: e.permission,
  duration_seconds: e.duration_s,
  reason: e.reason,
  status: e.status,
  requested_at: iso(e.requested_at)!,
  decided_by: e.decided_by,
  decided_at: iso(e.decided_at),
  decision_reason: e.decision_reason,
  expires_at: iso(e.expires_at),
  active: e.status === "approved" && e.expires_at !== null && nowMs < e.expires_at,
});

const grantEnded = (g: GrantRow, nowMs: number) => g.revoked_at === null && g.expires_at <= nowMs && g.ended_logged_at === null;
const elevationEnded = (e: ElevationRow, nowMs: number) =>
  e.status === "approved" && e.expires_at !== null && e.expires_at <= nowMs && e.ended_logged_at === null;

/**
 * Logs the end of each grant and elevation among `grants` and `elevations` whose window is over
 * and whose end is not logged yet. Marked first (a conditional write, so concurrent requests log
 * it once), then appended; a failed append unmarks it (a later request logs it) and throws.
 */
export async function noticeEnded(c: Context<AppEnv>, grants: readonly GrantRow[], elevations: readonly ElevationRow[], nowMs: number) {
  const db = c.env.DB;
  for (const g of grants.filter((x) => grantEnded(x, nowMs))) {
    const won = await db
      .prepare("UPDATE access_grant SET ended_logged_at = ? WHERE id = ? AND ended_logged_at IS NULL")
      .bind(nowMs, g.id)
      .run();
    if (won.meta.changes === 0) continue;
    try {
      await recordAccess(
        c,
        "sealtrail.grant.ended",
        { id: g.id, type: "grant" },
        {
          user_id: g.user_id,
          ended_at: iso(g.expires_at)!,
          why: "its window ended",
          noticed: "first request after the end",
          reason: g.reason,
        },
      );
    } catch (e) {
      await db.prepare("UPDATE access_grant SET ended_logged_at = NULL WHERE id = ?").bind(g.id).run();
      throw e;
    }
  }
  for (const e of elevations.filter((x) => elevationEnded(x, nowMs))) {
    const won = await db
      .prepare("UPDATE elevation SET ended_logged_at = ? WHERE id = ? AND ended_logged_at IS NULL")
      .bind(nowMs, e.id)
      .run();
    if (won.meta.changes === 0) continue;
    try {
      await recordAccess(
        c,
        "sealtrail.elevation.ended",
        { id: e.id, type: "elevation" },
        {
          user_id: e.user_id,
          permission: e.permission,
          ended_at: iso(e.expires_at)!,
          why: "its duration ended",
          noticed: "first request after the end",
          reason: e.reason,
          approved_by: e.decided_by ?? "",
        },
      );
    } catch (err) {
      await db.prepare("UPDATE elevation SET ended_logged_at = NULL WHERE id = ?").bind(e.id).run();
      throw err;
    }
  }
}

/**
 * The grants and approved elevations `userId` holds in `tenant` at `nowMs`; ends noticed on the
 * way are logged (`noticeEnded`). Two indexed reads per request of a signed-in member.
 */
export async function boundedAccessOf(c: Context<AppEnv>, tenant: string, userId: string, nowMs: number): Promise<BoundedAccess[]> {
  const db = c.env.DB;
  const [grants, elevations] = await db.batch<GrantRow | ElevationRow>([
    db
      .prepare("SELECT * FROM access_grant WHERE tenant_id = ? AND user_id = ? AND revoked_at IS NULL AND ended_logged_at IS NULL")
      .bind(tenant, userId),
    db
      .prepare("SELECT * FROM elevation WHERE tenant_id = ? AND user_id = ? AND status = 'approved' AND ended_logged_at IS NULL")
      .bind(tenant, userId),
  ]);
  const g = (grants?.results ?? []) as GrantRow[];
  const e = (elevations?.results ?? []) as ElevationRow[];
  await noticeEnded(c, g, e, nowMs);
  const out: BoundedAccess[] = [];
  for (const x of g) {
    if (x.starts_at <= nowMs && nowMs < x.expires_at) {
      out.push({
        kind: "grant",
        id: x.id,
        permissions: permissionsOf(x.permissions),
        view: JSON.parse(x.view) as View,
        reason: x.reason,
        expiresAtMs: x.expires_at,
      });
    }
  }
  for (const x of e) {
    if (x.expires_at !== null && nowMs < x.expires_at) {
      out.push({
        kind: "elevation",
        id: x.id,
        permissions: permissionsOf(JSON.stringify([x.permission])),
        reason: x.reason,
        expiresAtMs: x.expires_at,
      });
    }
  }
  return out;
}
