/** Helpers for tests that grow a log and verify it, through the real Worker. */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import type { JobView } from "../../src/durable/log-audit";
import { api, auditOf, bearer, createKey, event, logSize, postEvent, tenantWithKeys, mirrored } from "../worker/helpers";
import { PLACEMENT_BINDINGS } from "../../src/durable/placement";

/**
 * Appends `n` events in batches of 100; `tag` goes into their metadata. Returns once D1 holds
 * them too, unless `awaitMirror` is false (D1 failing on purpose).
 */
export async function appendN(tenant: string, key: string, n: number, tag = "a", awaitMirror = true): Promise<void> {
  for (let at = 0; at < n; at += 100) {
    const res = await postEvent(tenant, key, {
      events: Array.from({ length: Math.min(100, n - at) }, (_, i) => event({ metadata: { i: at + i, tag } })),
    });
    expect(res.status).toBe(201);
  }
  if (awaitMirror) await mirrored(tenant);
}

/** Runs a verification to the end through the API, driving the LogAudit alarm while it goes on. */
export async function runVerification(tenant: string, key: string, body?: unknown): Promise<JobView> {
  const res = await api(`/v1/tenants/${tenant}/verify`, {
    method: "POST",
    headers: { "x-api-key": key, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  expect([200, 202]).toContain(res.status);
  let job = (await res.json()) as JobView;
  for (let i = 0; job.status !== "done" && i < 200; i++) {
    await runDurableObjectAlarm(auditOf(tenant));
    job = (await (await api(`/v1/tenants/${tenant}/verify/${job.job_id}`, { headers: { "x-api-key": key } })).json()) as JobView;
  }
  expect(job.status).toBe("done");
  return job;
}

/**
 * A log of base + 55 entries: the keys' creation (seq 0..base-1), then 55 events; seal 0 =
 * [0, base + 30), seal 1 = [base + 30, base + 50), and 5 unsealed entries.
 */
export async function sealedLog() {
  const t = await tenantWithKeys();
  const verifyKey = await createKey(t.owner, t.tenant, ["verify", "read"]);
  const base = await logSize(t.owner, t.tenant);
  const seal = async () =>
    expect((await api(`/v1/tenants/${t.tenant}/seal`, { method: "POST", headers: bearer(t.owner) })).status).toBe(200);
  await appendN(t.tenant, t.appendKey, 30);
  await seal();
  await appendN(t.tenant, t.appendKey, 20);
  await seal();
  await appendN(t.tenant, t.appendKey, 5);
  return { ...t, verifyKey, base };
}

/** Runs `sql` against D1 with the append-only triggers lifted, as an insider with console access would. */
export async function tamperD1(sql: string, ...params: unknown[]) {
  // In every database: the tenant's rows are in one of them (its shard), the others change nothing.
  for (const { shards } of Object.values(PLACEMENT_BINDINGS)) {
    for (const binding of shards) {
      const db = env[binding];
      // The triggers are put back exactly as the migrations left them (0009 narrowed the DELETE one to the retention floor).
      const { results } = await db
        .prepare(
          "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN ('audit_events_no_update', 'audit_events_no_delete')",
        )
        .all<{ name: string; sql: string }>();
      await db.batch([
        ...results.map((t) => db.prepare(`DROP TRIGGER ${t.name}`)),
        db.prepare(sql).bind(...params),
        ...results.map((t) => db.prepare(t.sql)),
      ]);
    }
  }
}
