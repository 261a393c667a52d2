import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../src/core/entry";
import type { TenantLog } from "../../src/durable/tenant-log";
import { event, logOf } from "../worker/helpers";
import { failingD1 } from "./faults";

const appendFive = (log: TenantLog, tenant: string) =>
  Promise.all(Array.from({ length: 5 }, (_, i) => log.append(tenant, [{ event: event({ metadata: { i } }) as JsonObject }], { principal_type: "test" })));

const treeSizes = (results: Awaited<ReturnType<typeof appendFive>>) =>
  results.map((r) => {
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    return { seq: r.receipts[0]!.seq, treeSize: r.receipts[0]!.tree_size };
  });

describe("group commit and the maxBatch setting", () => {
  it("concurrent appends commit together: several receipts share one tree size", async () => {
    const tenant = `group-${crypto.randomUUID()}`;
    const results = await runInDurableObject(logOf(tenant), (log: TenantLog) => appendFive(log, tenant));
    const sizes = treeSizes(results);
    expect(new Set(sizes.map((s) => s.seq)).size).toBe(5);
    expect(new Set(sizes.map((s) => s.treeSize)).size).toBeLessThan(5);
  });

  it("maxBatch = 1 commits every request on its own (one transaction, one D1 write each)", async () => {
    const tenant = `single-${crypto.randomUUID()}`;
    const results = await runInDurableObject(logOf(tenant), (log: TenantLog) => {
      log.maxBatch = 1;
      return appendFive(log, tenant);
    });
    const sizes = treeSizes(results).sort((a, b) => a.seq - b.seq);
    expect(sizes).toEqual([0, 1, 2, 3, 4].map((seq) => ({ seq, treeSize: seq + 1 })));
    const { results: rows } = await env.DB.prepare("SELECT seq FROM audit_events WHERE tenant_id = ? ORDER BY seq").bind(tenant).all<{ seq: number }>();
    expect(rows.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4]);
  });

  it("maxBatch defaults to unlimited when SEALTRAIL_BENCH_MAX_BATCH is not set", async () => {
    const tenant = `default-${crypto.randomUUID()}`;
    const max = await runInDurableObject(logOf(tenant), (log: TenantLog) => log.maxBatch);
    expect(max).toBe(Infinity);
  });

  it("the D1 mirror holds exactly the stored entry bytes, whether a pass copies them from memory or from storage", async () => {
    const tenant = `mirror-${crypto.randomUUID()}`;
    const stub = logOf(tenant);
    const stored = await runInDurableObject(stub, async (log: TenantLog, state) => {
      for (let round = 0; round < 3; round++) await appendFive(log, tenant);
      // A failed D1 write drops the in-memory outbox; later passes read DO storage.
      const real = log.mirrorDb;
      log.mirrorDb = failingD1(real, "after");
      await appendFive(log, tenant);
      log.mirrorDb = real;
      await appendFive(log, tenant);
      expect(await log.drainMirror()).toBe(true);
      return state.storage.sql.exec("SELECT seq, entry FROM entries ORDER BY seq").toArray().map((r) => ({ seq: Number(r.seq), entry: String(r.entry) }));
    });
    const { results } = await env.DB.prepare("SELECT seq, entry FROM audit_events WHERE tenant_id = ? ORDER BY seq").bind(tenant).all<{ seq: number; entry: string }>();
    expect(stored).toHaveLength(25);
    expect(results).toEqual(stored);
  });
});
