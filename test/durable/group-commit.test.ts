import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../src/core/entry";
import type { AppendItem, AppendResult } from "../../src/durable/log-types";
import type { Log, TenantLog } from "../../src/durable/tenant-log";
import { event, dbOf } from "../worker/helpers";
import { failingD1, withLog } from "./faults";

type Append = (items: AppendItem[]) => Promise<AppendResult>;

const appendFive = (append: Append) =>
  Promise.all(Array.from({ length: 5 }, (_, i) => append([{ event: event({ metadata: { i } }) as JsonObject }])));

const provenance = { principal_type: "test" };
/** Appends through the object's RPC method, or through the log's parts built by a test (faults.ts `withLog`). */
const viaObject =
  (log: TenantLog, tenant: string): Append =>
  (items) =>
    log.append(tenant, items, provenance);
const viaParts =
  (log: Log, tenant: string): Append =>
  (items) =>
    log.commit.enqueue(tenant, { req: { items, provenance } });

const treeSizes = (results: Awaited<ReturnType<typeof appendFive>>) =>
  results.map((r) => {
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    return { seq: r.receipts[0]!.seq, treeSize: r.receipts[0]!.tree_size };
  });

describe("group commit and the maxBatch setting", () => {
  it("concurrent appends commit together: several receipts share one tree size", async () => {
    const tenant = `group-${crypto.randomUUID()}`;
    const stub = env.TENANT_LOG.get(env.TENANT_LOG.idFromName(tenant));
    const results = await runInDurableObject(stub, (log: TenantLog) => appendFive(viaObject(log, tenant)));
    const sizes = treeSizes(results);
    expect(new Set(sizes.map((s) => s.seq)).size).toBe(5);
    expect(new Set(sizes.map((s) => s.treeSize)).size).toBeLessThan(5);
  });

  it("maxBatch = 1 commits every request on its own (one transaction, one D1 write each)", async () => {
    const tenant = `single-${crypto.randomUUID()}`;
    const stub = env.TENANT_LOG.get(env.TENANT_LOG.idFromName(tenant));
    const results = await withLog(stub, tenant, { maxBatch: 1 }, async (log) => {
      const r = await appendFive(viaParts(log, tenant));
      // Each commit is answered at once and copied before the next commits; the last copy may still run.
      await log.mirror.copy();
      return r;
    });
    const sizes = treeSizes(results).sort((a, b) => a.seq - b.seq);
    expect(sizes).toEqual([0, 1, 2, 3, 4].map((seq) => ({ seq, treeSize: seq + 1 })));
    const { results: rows } = await (await dbOf(tenant))
      .prepare("SELECT seq FROM audit_events WHERE tenant_id = ? ORDER BY seq")
      .bind(tenant)
      .all<{ seq: number }>();
    expect(rows.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4]);
  });

  it("the D1 mirror holds exactly the stored entry bytes, whether a pass copies them from memory or from storage", async () => {
    const tenant = `mirror-${crypto.randomUUID()}`;
    const stub = env.TENANT_LOG.get(env.TENANT_LOG.idFromName(tenant));
    let failing = false;
    const stored = await withLog(stub, tenant, { db: failingD1(await dbOf(tenant), "after", () => failing) }, async (log, state) => {
      const append = viaParts(log, tenant);
      for (let round = 0; round < 3; round++) await appendFive(append);
      // A failed D1 write drops the in-memory outbox; later passes read DO storage.
      failing = true;
      await appendFive(append);
      expect(await log.mirror.copy()).toBe(false);
      failing = false;
      await appendFive(append);
      expect(await log.mirror.copy()).toBe(true);
      return state.storage.sql
        .exec("SELECT seq, entry FROM entries ORDER BY seq")
        .toArray()
        .map((r) => ({ seq: Number(r.seq), entry: String(r.entry) }));
    });
    const { results } = await (await dbOf(tenant))
      .prepare("SELECT seq, entry FROM audit_events WHERE tenant_id = ? ORDER BY seq")
      .bind(tenant)
      .all<{ seq: number; entry: string }>();
    expect(stored).toHaveLength(25);
    expect(results).toEqual(stored);
  });
});
