import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sealKeys } from "../../src/core/seal";
import { kvLatestKey } from "../../src/durable/seal-objects";
import type { TenantLog } from "../../src/durable/tenant-log";
import { api, auditOf, bearer, createKey, event, logOf, logSize, postEvent, tenantWithKeys, dbOf, bucketOf } from "../worker/helpers";
import { d1RefusesRowsOf } from "./faults";
import { appendN, runVerification, sealedLog, tamperD1 } from "./log-helpers";

const verify = runVerification;

describe("verification of a clean log", () => {
  it("a sealed log with an unsealed tail verifies ok; the report is stored INSERT-only and the run is logged", async () => {
    const { tenant, verifyKey, readKey, base } = await sealedLog();
    const job = await verify(tenant, verifyKey);
    expect(job.report).toMatchObject({
      ok: true,
      mode: "full",
      failures: [],
      checked: { entries: base + 55, seals: 2, bundle_entries: base + 50 },
    });
    const listed = (await (await api(`/v1/tenants/${tenant}/verify`, { headers: { "x-api-key": verifyKey } })).json()) as {
      reports: unknown[];
    };
    expect(listed.reports).toEqual([expect.objectContaining({ job_id: job.job_id, ok: true, failures: 0 })]);
    await expect(
      (await dbOf(tenant)).prepare("UPDATE verification_reports SET ok = 0 WHERE job_id = ?").bind(job.job_id).run(),
    ).rejects.toThrow(/append-only/);
    await expect((await dbOf(tenant)).prepare("DELETE FROM verification_reports WHERE job_id = ?").bind(job.job_id).run()).rejects.toThrow(
      /append-only/,
    );
    const last = (await (await api(`/v1/tenants/${tenant}/events/${base + 55}`, { headers: { "x-api-key": readKey } })).json()) as {
      event: unknown;
    };
    expect(last.event).toMatchObject({
      action: "sealtrail.log.verified",
      outcome: "success",
      metadata: { job_id: job.job_id, ok: true, entries: base + 55 },
    });
    expect((await api(`/v1/tenants/${tenant}/verify`, { method: "POST", headers: { "x-api-key": readKey } })).status).toBe(403);
  });

  it("a clean log of 10,000 entries verifies ok", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const verifyKey = await createKey(owner, tenant, ["verify"]);
    // 10,000 entries, sealed: the keys' creation entries and the events.
    const base = await logSize(owner, tenant);
    await appendN(tenant, appendKey, 10_000 - base);
    expect((await api(`/v1/tenants/${tenant}/seal`, { method: "POST", headers: bearer(owner) })).status).toBe(200);
    await appendN(tenant, appendKey, 7);
    const job = await verify(tenant, verifyKey);
    // Acks no longer wait for D1, so the alarm gets its turn while events arrive and seals each
    // 1,000 waiting entries (SEAL_AFTER_ENTRIES); the manual seal takes what is left.
    expect(job.report).toMatchObject({ ok: true, checked: { entries: 10_007 } });
    expect(job.report!.checked.seals).toBeGreaterThanOrEqual(1);
  });

  it("a run goes step by step from the alarm, survives eviction, and runs one at a time", async () => {
    const { tenant, base } = await sealedLog();
    const stub = auditOf(tenant);
    const requestedBy = {
      event: { action: "sealtrail.log.verified", actor: { id: "t", type: "test" }, targets: [], outcome: "success" },
      provenance: {},
    };
    const started = await stub.start(tenant, { jobId: crypto.randomUUID(), mode: "full", seed: 1, budgetMs: 0 }, requestedBy);
    expect(started.status).toBe("running");
    const again = await stub.start(tenant, { jobId: crypto.randomUUID(), mode: "full", seed: 2 }, requestedBy);
    expect(again.job_id).toBe(started.job_id);
    const phases = new Set<string>([started.progress.phase]);
    let steps = 1;
    let job = started;
    while (job.status === "running" && steps < 50) {
      if (steps === 2) await evictDurableObject(stub);
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      job = (await stub.job(started.job_id))!;
      phases.add(job.progress.phase);
      steps++;
    }
    expect(job.report).toMatchObject({ ok: true, checked: { entries: base + 55, seals: 2 } });
    expect(steps).toBeGreaterThanOrEqual(4);
    expect([...phases]).toEqual(expect.arrayContaining(["seals", "tail", "done"]));
  });

  it("incremental mode re-checks new seals and the tail, plus a sample of older entries", async () => {
    const { owner, tenant, appendKey, verifyKey, base } = await sealedLog();
    expect((await verify(tenant, verifyKey)).report?.ok).toBe(true);
    await appendN(tenant, appendKey, 10, "b");
    expect((await api(`/v1/tenants/${tenant}/seal`, { method: "POST", headers: bearer(owner) })).status).toBe(200);
    const inc = await verify(tenant, verifyKey, { mode: "incremental" });
    expect(inc.report).toMatchObject({ ok: true, mode: "incremental", checked: { seals: 1, sampled: base + 50 } });
    expect(inc.report!.checked.entries).toBe(16); // the new seal (5 + 1 logged run + 10) only
    // An old entry changed out of band is caught by the sample (here every older entry).
    await tamperD1(
      "UPDATE audit_events SET entry = replace(entry, 'user.login', 'user.logon') WHERE tenant_id = ? AND seq = ?",
      tenant,
      base + 2,
    );
    const caught = await verify(tenant, verifyKey, { mode: "incremental" });
    expect(caught.report?.ok).toBe(false);
    expect(caught.report?.failures[0]).toMatchObject({ seq: base + 2 });
  });
});

describe("verification while D1 lags", () => {
  it("entries not yet mirrored to D1 are left out of the range, not reported as missing", async () => {
    const { tenant, appendKey, verifyKey, base } = await sealedLog();
    await d1RefusesRowsOf(await dbOf(tenant), tenant);
    await appendN(tenant, appendKey, 3, "a", false);
    const job = await verify(tenant, verifyKey);
    expect(job.report).toMatchObject({ ok: true, range: { from: 0, to: base + 55 }, checked: { entries: base + 55 } });
    // base + 55, + 3 waiting for D1, + the entry that records this verification run.
    expect((await logOf(tenant).stats()).size).toBe(base + 59);
  });
});

describe("verification of a log that refuses writes", () => {
  it("still finishes and names the R2 object the log never made", async () => {
    const { tenant, appendKey, verifyKey } = await sealedLog();
    await (await bucketOf(tenant)).put(sealKeys(tenant, 2).manifest, "not this log's manifest\n");
    await evictDurableObject(logOf(tenant));
    expect((await postEvent(tenant, appendKey, event())).status).toBe(503);
    const job = await verify(tenant, verifyKey);
    expect(job.report?.ok).toBe(false);
    expect(job.report?.failures).toContainEqual(expect.objectContaining({ kind: "seal_invalid", key: sealKeys(tenant, 2).manifest }));
  });
});

describe("tampering is detected and named", () => {
  const first = async (tenant: string, key: string) => {
    const job = await verify(tenant, key);
    expect(job.report?.ok).toBe(false);
    return job.report!.failures[0]!;
  };

  it("an entry's bytes changed in D1", async () => {
    const { tenant, verifyKey } = await sealedLog();
    await tamperD1("UPDATE audit_events SET entry = replace(entry, 'user.login', 'user.logon') WHERE tenant_id = ? AND seq = 7", tenant);
    expect(await first(tenant, verifyKey)).toMatchObject({ kind: "leaf_hash_mismatch", seq: 7 });
  });

  it("an entry's bytes and leaf hash column both changed in D1", async () => {
    const { tenant, verifyKey } = await sealedLog();
    const row = await (await dbOf(tenant))
      .prepare("SELECT entry FROM audit_events WHERE tenant_id = ? AND seq = 40")
      .bind(tenant)
      .first<{ entry: string }>();
    const forged = row!.entry.replace('"success"', '"failure"');
    const input = new Uint8Array([0, ...new TextEncoder().encode(forged)]);
    const leaf = btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", input))));
    await tamperD1("UPDATE audit_events SET entry = ?, leaf_hash = ? WHERE tenant_id = ? AND seq = 40", forged, leaf, tenant);
    expect(await first(tenant, verifyKey)).toMatchObject({ kind: "entry_changed", seq: 40, found: leaf });
  });

  it("an entry deleted from D1", async () => {
    const { tenant, verifyKey } = await sealedLog();
    await tamperD1("DELETE FROM audit_events WHERE tenant_id = ? AND seq = 12", tenant);
    expect(await first(tenant, verifyKey)).toMatchObject({ kind: "entry_missing", seq: 12 });
  });

  it("two entries swapped in D1", async () => {
    const { tenant, verifyKey } = await sealedLog();
    await tamperD1(
      `UPDATE audit_events SET entry = CASE seq WHEN 3 THEN (SELECT entry FROM audit_events WHERE tenant_id = ?1 AND seq = 4)
         ELSE (SELECT entry FROM audit_events WHERE tenant_id = ?1 AND seq = 3) END WHERE tenant_id = ?1 AND seq IN (3, 4)`,
      tenant,
    );
    expect(await first(tenant, verifyKey)).toMatchObject({ kind: "entry_seq_mismatch", seq: 3, expected: 3, found: "4" });
  });

  it("a leaf hash column altered alone", async () => {
    const { tenant, verifyKey } = await sealedLog();
    await tamperD1(
      "UPDATE audit_events SET leaf_hash = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' WHERE tenant_id = ? AND seq = 9",
      tenant,
    );
    expect(await first(tenant, verifyKey)).toMatchObject({
      kind: "leaf_hash_mismatch",
      seq: 9,
      found: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    });
  });

  it("a forged entry appended at the tail of D1", async () => {
    const { tenant, verifyKey } = await sealedLog();
    const size = (await logOf(tenant).stats()).size;
    const last = await (await dbOf(tenant))
      .prepare("SELECT * FROM audit_events WHERE tenant_id = ? AND seq = ?")
      .bind(tenant, size - 1)
      .first<Record<string, unknown>>();
    await (await dbOf(tenant))
      .prepare(
        "INSERT INTO audit_events (tenant_id, seq, entry, leaf_hash, received_at, action, actor_id, actor_type, outcome) VALUES (?, ?, ?, ?, ?, 'x.y', 'a', 'user', 'success')",
      )
      .bind(
        tenant,
        size,
        String(last!.entry).replace(`"seq":${size - 1}`, `"seq":${size}`),
        String(last!.leaf_hash),
        Number(last!.received_at),
      )
      .run();
    expect(await first(tenant, verifyKey)).toMatchObject({ kind: "entry_unexpected", seq: size });
  });

  it("an R2 bundle replaced by another valid-looking one", async () => {
    const { tenant, verifyKey } = await sealedLog();
    const key = sealKeys(tenant, 0).bundle;
    const other = await (await (await bucketOf(tenant)).get(sealKeys(tenant, 1).bundle))!.text();
    await (await bucketOf(tenant)).delete(key);
    await (await bucketOf(tenant)).put(key, other);
    expect(await first(tenant, verifyKey)).toMatchObject({ kind: "bundle_mismatch", key, detail: "sha256" });
  });

  it("an R2 manifest replaced by one signed with another tenant's key", async () => {
    const victim = await sealedLog();
    const other = await sealedLog();
    const key = sealKeys(victim.tenant, 1).manifest;
    await (await bucketOf(victim.tenant)).delete(key);
    await (await bucketOf(victim.tenant)).put(
      key,
      await (await (await bucketOf(other.tenant)).get(sealKeys(other.tenant, 1).manifest))!.text(),
    );
    expect(await first(victim.tenant, victim.verifyKey)).toMatchObject({ kind: "seal_invalid", key });
  });

  it("the KV index pointed at an older snapshot", async () => {
    const { tenant, verifyKey } = await sealedLog();
    const older = await env.KV.get(`tenants/${tenant}/seals/000000000000`);
    await env.KV.put(kvLatestKey(tenant), older!);
    expect(await first(tenant, verifyKey)).toMatchObject({ kind: "index_mismatch", key: kvLatestKey(tenant) });
  });

  it("the Durable Object rolled back to an earlier size and appended again (a fork)", async () => {
    const { tenant, appendKey, verifyKey } = await sealedLog();
    const stub = logOf(tenant);
    // Restore the object's storage to its state at size 52, as a bad backup restore would.
    await runInDurableObject(stub, (_log: TenantLog, state) => {
      const sql = state.storage.sql;
      sql.exec("DELETE FROM tree_nodes WHERE (idx + 1) * (1 << level) > 52");
      sql.exec("DELETE FROM entries WHERE seq >= 52");
      const leaf = sql.exec("SELECT hash FROM tree_nodes WHERE level = 0 AND idx = 51").one().hash;
      sql.exec("UPDATE log_head SET size = 52, last_leaf = ?, mirrored_to = min(mirrored_to, 52)", leaf);
    });
    await evictDurableObject(stub);
    const res = await postEvent(tenant, appendKey, event({ action: "fork.append" }));
    expect(((await res.json()) as { seq: number }).seq).toBe(52);
    expect(await first(tenant, verifyKey)).toMatchObject({ kind: "entry_changed", seq: 52 });
  });
});
