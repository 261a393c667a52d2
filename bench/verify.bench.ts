/**
 * Verification throughput through the LogAudit Durable Object (the route's engine) on a
 * 100,000-entry log: 10 seals of 10,000 entries, all in D1, R2 and the log's tree.
 */
import { env } from "cloudflare:workers";
import { it } from "vitest";
import type { TenantLog } from "../src/durable/tenant-log";
import { runInDurableObject } from "cloudflare:test";
import { report } from "./report";

const N = 100_000;

it("verification route engine, 100,000 entries", async () => {
  const tenant = `bench-${crypto.randomUUID()}`;
  const stub = env.TENANT_LOG.get(env.TENANT_LOG.idFromName(tenant));
  const event = (i: number) => ({
    action: "document.read",
    actor: { id: `user_${i % 977}`, type: "user" },
    targets: [{ id: `doc_${i}`, type: "document" }],
    outcome: "success",
    metadata: { i, note: "benchmark entry of typical size for an audit record" },
  });
  const loadStart = performance.now();
  for (let at = 0; at < N; at += 5_000) {
    await runInDurableObject(stub, (log: TenantLog) =>
      Promise.all(
        Array.from({ length: 5 }, (_, j) =>
          log.append(
            tenant,
            Array.from({ length: 1_000 }, (_, k) => ({ event: event(at + j * 1_000 + k) })),
            { principal_type: "bench" },
          ),
        ),
      ),
    );
  }
  report("load: append via DO (groups of 1,000, D1 mirror included)", (N * 1000) / (performance.now() - loadStart), "entries/s");
  const sealStart = performance.now();
  const sealed = await stub.sealNow(tenant);
  if (!sealed.ok) throw new Error(JSON.stringify(sealed.error));
  report(`seal ${sealed.value.sealed.length} bundles of 10,000 to R2`, (N * 1000) / (performance.now() - sealStart), "entries/s");

  const audit = env.LOG_AUDIT.get(env.LOG_AUDIT.idFromName(tenant));
  const start = performance.now();
  const job = await audit.start(
    tenant,
    { jobId: crypto.randomUUID(), mode: "full", seed: 1, budgetMs: 600_000 },
    { event: { action: "sealtrail.log.verified", actor: { id: "bench", type: "bench" }, targets: [], outcome: "success" }, provenance: {} },
  );
  const ms = performance.now() - start;
  if (!job.report?.ok) throw new Error(`verification failed: ${JSON.stringify(job.report?.failures[0])}`);
  report(
    `verify full log (${job.report.checked.entries} entries, ${job.report.checked.seals} seals)`,
    (job.report.checked.entries * 1000) / ms,
    "entries/s",
  );
});
