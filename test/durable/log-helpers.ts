/** Helpers for tests that grow a log and verify it, through the real Worker. */
import { runDurableObjectAlarm } from "cloudflare:test";
import { expect } from "vitest";
import type { JobView } from "../../src/durable/log-audit";
import { api, auditOf, event, postEvent } from "../worker/helpers";

/** Appends `n` events in batches of 100; `tag` goes into their metadata. */
export async function appendN(tenant: string, key: string, n: number, tag = "a"): Promise<void> {
  for (let at = 0; at < n; at += 100) {
    const res = await postEvent(tenant, key, {
      events: Array.from({ length: Math.min(100, n - at) }, (_, i) => event({ metadata: { i: at + i, tag } })),
    });
    expect(res.status).toBe(201);
  }
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
