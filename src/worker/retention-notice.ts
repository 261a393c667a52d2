/**
 * Issue #17.4: reads say plainly when entries were pruned by retention (durable/retention.ts),
 * never showing them as missing or broken: the list's `pruned` field, the export's headers, the
 * 410 of a single read (entry-integrity.ts).
 */
import type { Context } from "hono";
import type { AppEnv } from "./app-env";
import { tenantLog } from "./tenant-log";

export interface PrunedNotice {
  /** Entries below this seq were pruned: their bodies are deleted, their leaf hashes and proofs kept. */
  below: number;
  /** The `sealtrail.retention.pruned` entry that recorded the floor. */
  recorded_by: number | null;
}

/** The tenant's pruned range, or null while nothing was pruned. */
export async function prunedNotice(c: Context<AppEnv>): Promise<PrunedNotice | null> {
  const r = await tenantLog(c).retention(c.var.access.tenantId);
  return r.floor > 0 ? { below: r.floor, recorded_by: r.entry } : null;
}

/** Export headers stating the pruned range (an export's lines stay exactly the stored entries). */
export function prunedHeaders(p: PrunedNotice | null): Record<string, string> {
  if (!p) return {};
  return {
    "Sealtrail-Retention-Floor": String(p.below),
    "Sealtrail-Pruned": `entries [0, ${p.below}) were pruned by retention${p.recorded_by === null ? "" : ` (entry ${p.recorded_by})`}`,
  };
}
