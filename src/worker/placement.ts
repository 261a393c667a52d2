/**
 * Tenant placement on the Worker's side (docs/design.md "Shards and jurisdictions"): chosen
 * when a tenant is created, read (and cached in the isolate) for every request about it, and
 * used for each of the tenant's D1 and R2 uses and its Durable Objects. The map from a placement
 * to bindings is src/durable/placement.ts, shared with the objects.
 */
import type { Context } from "hono";
import type { LogAudit } from "../durable/log-audit";
import {
  DEFAULT_PLACEMENT,
  PLACEMENT_BINDINGS,
  checkedPlacement,
  isJurisdiction,
  tenantObject,
  tenantStores,
  type Jurisdiction,
  type Placement,
} from "../durable/placement";
import type { TenantLog } from "../durable/tenant-log";
import type { AppEnv } from "./app-env";
import { Failure } from "./errors";

/** Placements read in this isolate. Never stale: a placement is written once, before its tenant exists. */
const cache = new Map<string, Placement>();
/** Bound on the cache (tenants seen by one isolate); past it, it starts again. */
const CACHE_LIMIT = 10_000;

/**
 * The tenant's placement, from the control database (cached). No row: a tenant created before
 * shards existed (or between migration 0008 and the Worker that writes rows), whose rows are in
 * the default shard 0. Callers ask only about tenants that exist (after tenant-access.ts, or in
 * a membership hook), so a missing row is final too.
 */
export async function placementOf(env: Env, tenant: string): Promise<Placement> {
  const cached = cache.get(tenant);
  if (cached) return cached;
  const row = await env.DB.prepare("SELECT jurisdiction, shard FROM tenant_placement WHERE tenant_id = ?")
    .bind(tenant)
    .first<{ jurisdiction: string; shard: number }>();
  const placement = row ? checkedPlacement(row.jurisdiction, row.shard) : DEFAULT_PLACEMENT;
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(tenant, placement);
  return placement;
}

/** The calling tenant's D1 shard and R2 bucket (c.var.access, set by tenant-access.ts). */
export async function tenantData(c: Context<AppEnv>): Promise<{ db: D1Database; bucket: R2Bucket; placement: Placement }> {
  const placement = await placementOf(c.env, c.var.access.tenantId);
  return { ...tenantStores(c.env, placement), placement };
}

const isDefault = (p: Placement) => p.jurisdiction === DEFAULT_PLACEMENT.jurisdiction && p.shard === DEFAULT_PLACEMENT.shard;

/** Objects this isolate has told their placement (`place`), as "<class> <tenant>"; bounded like the cache. */
const placed = new Set<string>();

async function placedObject<T extends TenantLog | LogAudit>(
  env: Env,
  name: string,
  namespace: DurableObjectNamespace<T>,
  tenant: string,
): Promise<DurableObjectStub<T>> {
  const placement = await placementOf(env, tenant);
  const stub = tenantObject(namespace, placement, tenant);
  // An object with no placement stored uses the default one: only others need telling, once.
  const key = `${name} ${tenant}`;
  if (!isDefault(placement) && !placed.has(key)) {
    await (stub as unknown as { place(t: string, p: Placement): Promise<void> }).place(tenant, placement);
    if (placed.size >= CACHE_LIMIT) placed.clear();
    placed.add(key);
  }
  return stub;
}

/** The tenant's TenantLog, in its jurisdiction and told its placement. */
export const placedTenantLog = (env: Env, tenant: string) => placedObject(env, "TenantLog", env.TENANT_LOG, tenant);
/** The tenant's LogAudit, in its jurisdiction and told its placement. */
export const placedLogAudit = (env: Env, tenant: string) => placedObject(env, "LogAudit", env.LOG_AUDIT, tenant);

/**
 * The shard a new tenant of `jurisdiction` goes to: the one with the fewest tenants recorded
 * (the first on a tie), so tenants spread evenly and a newly added shard fills first. Two
 * creations at once may choose the same shard: an imbalance of one, harmless.
 */
async function chooseShard(db: D1Database, jurisdiction: Placement["jurisdiction"]): Promise<number> {
  const { results } = await db
    .prepare("SELECT shard, COUNT(*) AS n FROM tenant_placement WHERE jurisdiction = ? GROUP BY shard")
    .bind(jurisdiction)
    .all<{ shard: number; n: number }>();
  const counts = PLACEMENT_BINDINGS[jurisdiction].shards.map((_, i) => results.find((r) => r.shard === i)?.n ?? 0);
  return counts.indexOf(Math.min(...counts));
}

/**
 * Places a tenant being created (better-auth's beforeCreateOrganization, membership-log.ts):
 * `requested` is the create request's `jurisdiction` (absent: the default one). Records it in
 * the control database before the organization exists, INSERT only (a second placement of the
 * same id is refused by its primary key; migration 0008's triggers refuse UPDATE and DELETE).
 * A crash after the insert leaves a row naming no tenant, never a tenant without its row.
 */
export async function placeNewTenant(env: Env, tenant: string, requested: unknown): Promise<Placement> {
  if (requested !== undefined && requested !== null && !(isJurisdiction(requested) && requested !== "default")) {
    throw new Failure({ reason: "invalid_jurisdiction", got: JSON.stringify(requested).slice(0, 40) });
  }
  const jurisdiction: Jurisdiction = isJurisdiction(requested) ? requested : "default";
  const placement: Placement = { jurisdiction, shard: await chooseShard(env.DB, jurisdiction) };
  await env.DB.prepare("INSERT INTO tenant_placement (tenant_id, jurisdiction, shard, created_at) VALUES (?, ?, ?, ?)")
    .bind(tenant, placement.jurisdiction, placement.shard, Date.now())
    .run();
  cache.set(tenant, placement);
  return placement;
}
