/**
 * Inclusion and consistency proofs inside the TenantLog Durable Object's SQLite storage at
 * 10^4, 10^5 and 10^6 entries (workerd only). The tree is grown with the same LogStore and
 * CompactRange the append path uses, with synthetic leaf hashes, in transactions of 10^4.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { it } from "vitest";
import { leafHash } from "../src/core/hash";
import { CompactRange, consistencyProof, inclusionProof, type NodeReader } from "../src/core/merkle";
import { LogStore } from "../src/durable/log-store";
import type { TenantLog } from "../src/durable/tenant-log";
import { report } from "./report";

it("proofs from DO storage at 10^4, 10^5, 10^6 entries", async () => {
  const stub = env.TENANT_LOG.get(env.TENANT_LOG.newUniqueId());
  await runInDurableObject(stub, (_log: TenantLog, state) => {
    const store = new LogStore(state.storage.sql);
    const range = new CompactRange();
    let reads = 0;
    const read: NodeReader = (l, i) => {
      reads++;
      return store.node(l, i);
    };
    const grow = (to: number) => {
      const start = performance.now();
      const from = range.size;
      while (range.size < to) {
        const end = Math.min(to, range.size + 10_000);
        state.storage.transactionSync(() => {
          while (range.size < end) {
            const i = range.size;
            store.insertNodes(range.append(leafHash(Uint8Array.of(i & 255, (i >> 8) & 255, (i >> 16) & 255, i >> 24))));
          }
        });
      }
      return ((to - from) * 1000) / (performance.now() - start);
    };
    for (const n of [10_000, 100_000, 1_000_000]) {
      const rate = grow(n);
      report(`tree append into DO SQLite (up to ${n.toLocaleString("en-US")})`, rate, "leaves/s");
      const samples = 200;
      reads = 0;
      let start = performance.now();
      for (let j = 0; j < samples; j++) inclusionProof(Math.floor(((j + 0.5) * n) / samples), n, read);
      const inclusionMs = (performance.now() - start) / samples;
      report(`inclusion proof at ${n.toLocaleString("en-US")} entries (${reads / samples} node reads)`, inclusionMs, "ms");
      reads = 0;
      start = performance.now();
      for (let j = 0; j < samples; j++) consistencyProof(Math.max(1, Math.floor(((j + 0.5) * n) / samples)), n, read);
      report(
        `consistency proof to ${n.toLocaleString("en-US")} entries (${(reads / samples).toFixed(1)} node reads)`,
        (performance.now() - start) / samples,
        "ms",
      );
    }
    const bytes = state.storage.sql.databaseSize;
    report("DO SQLite bytes per entry (tree nodes only)", bytes / 1_000_000, "bytes");
  });
});
