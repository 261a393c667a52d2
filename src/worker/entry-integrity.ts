/**
 * Reads serve D1 rows only when they are the log's own entries (issue #13): each row's bytes
 * must hash (RFC 6962 §2.1 leaf hash, 0x00 ‖ entry) to its `leaf_hash` column and to the leaf
 * the TenantLog's tree holds for its seq (level-0 tree nodes are never deleted). One call to
 * the Durable Object per request, for a whole page. A mismatch is 502 `integrity_error` naming
 * the first entry that differs; what differs is for operators, in the logs.
 */
import type { Context } from "hono";
import { toBase64 } from "../core/bytes";
import { entryLeafHash } from "../core/entry";
import type { AppEnv } from "./app-env";
import { Failure } from "./errors";
import { tenantLog } from "./tenant-log";

export interface ServedRow {
  seq: number;
  entry: string;
  leafHash: string;
}

export async function checkServedRows(c: Context<AppEnv>, rows: readonly ServedRow[]): Promise<void> {
  if (rows.length === 0) return;
  const leaves = await tenantLog(c).leavesAt(
    c.var.access.tenantId,
    rows.map((r) => r.seq),
  );
  for (const [i, row] of rows.entries()) {
    const recomputed = toBase64(entryLeafHash(row.entry));
    const logLeaf = leaves[i] ?? null;
    if (recomputed !== row.leafHash || recomputed !== logLeaf) {
      console.error(
        `integrity: tenant ${c.var.access.tenantId} entry ${row.seq}: bytes hash to ${recomputed}, column ${row.leafHash}, log ${logLeaf ?? "(no such entry)"}`,
      );
      throw new Failure({ reason: "integrity_error", seq: row.seq });
    }
  }
}

/** An entry the log holds (seq below its size) that no store could serve: deleted from D1. */
export async function checkMissing(c: Context<AppEnv>, seq: number): Promise<void> {
  const [leaf] = await tenantLog(c).leavesAt(c.var.access.tenantId, [seq]);
  // Below the retention floor the body was deleted on purpose (durable/retention.ts): 410, not an integrity error.
  const retention = leaf ? await tenantLog(c).retention(c.var.access.tenantId) : undefined;
  if (retention && seq < retention.floor)
    throw new Failure({ reason: "entry_pruned", seq, floor: retention.floor, prunedBy: retention.entry });
  if (leaf) {
    console.error(`integrity: tenant ${c.var.access.tenantId} entry ${seq} is in the log but in neither D1 nor the log's storage`);
    throw new Failure({ reason: "integrity_error", seq });
  }
}
