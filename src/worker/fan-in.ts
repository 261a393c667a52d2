/**
 * Where an append goes (docs/design.md "Fan-in"). With SEALTRAIL_FANIN_BATCHERS = k > 0, a
 * single-event append goes to one of the tenant's k Batcher objects (src/durable/batcher.ts),
 * which forwards it with others to the tenant's TenantLog; otherwise, and for batches, straight
 * to the TenantLog. Either way the answer is the TenantLog's, after its commit, and a call that
 * fails is 503 log_unavailable (failClosed).
 */
import type { Context } from "hono";
import type { JsonObject } from "../core/entry";
import type { AppendItem, AppendResult, Durability } from "../durable/log-types";
import type { AppEnv } from "./app-env";
import { namespaceIn } from "../durable/placement";
import { placedTenantLog, placementOf } from "./placement";
import { failClosed, tenantLog } from "./tenant-log";

/** The most batchers per tenant (and colo) a deployment may ask for. */
export const MAX_FANIN_BATCHERS = 64;

/** k from SEALTRAIL_FANIN_BATCHERS: a whole number 1..MAX_FANIN_BATCHERS, else 0 (off). */
export function fanInBatchers(env: { SEALTRAIL_FANIN_BATCHERS?: string }): number {
  const k = Number(env.SEALTRAIL_FANIN_BATCHERS ?? "0");
  return Number.isSafeInteger(k) && k >= 1 && k <= MAX_FANIN_BATCHERS ? k : 0;
}

/**
 * The name of batcher `n` of a tenant, for requests arriving at `colo`. Naming by colo keeps
 * one colo's requests on batchers that Cloudflare placed near it (a Durable Object starts near
 * its first caller); `n`, chosen at random per request, spreads a hot colo over k of them.
 */
export const batcherName = (tenant: string, colo: string | undefined, n: number): string =>
  colo === undefined ? `${tenant}:${n}` : `${tenant}:${colo}:${n}`;

/** The Cloudflare location the request arrived at (`request.cf.colo`), if the runtime says. */
export function coloOf(request: Request): string | undefined {
  const cf = request.cf as { colo?: unknown } | undefined;
  return typeof cf?.colo === "string" ? cf.colo : undefined;
}

/** Appends one request's items for the calling tenant (the tenant comes from the principal). */
export function appendEvents(
  c: Context<AppEnv>,
  items: AppendItem[],
  provenance: JsonObject,
  durability?: Durability,
): Promise<AppendResult> {
  const tenant = c.var.access.tenantId;
  const k = fanInBatchers(c.env);
  // `Prefer: durability=mirrored` waits for D1 in the TenantLog: such requests skip the batchers.
  if (k === 0 || items.length !== 1 || durability === "mirrored") return tenantLog(c).append(tenant, items, provenance, durability);
  const name = batcherName(tenant, coloOf(c.req.raw), Math.floor(Math.random() * k));
  // Batchers live in the tenant's jurisdiction, as its TenantLog does, and the TenantLog has been
  // told its placement (once per isolate) before a batcher forwards to it (placement.ts).
  const batcher = async () => {
    await placedTenantLog(c.env, tenant);
    const placement = await placementOf(c.env, tenant);
    const ns = namespaceIn(c.env.BATCHER, placement.jurisdiction);
    return { append: (t: string, i: AppendItem[], p: JsonObject) => ns.get(ns.idFromName(name)).append(t, i, p, placement) };
  };
  return failClosed("Batcher", batcher).append(tenant, items, provenance);
}
