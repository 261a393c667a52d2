import { describe, expect, it } from "vitest";
import type { JobView } from "../../src/durable/log-audit";
import { api, dbOf } from "../worker/helpers";
import { runVerification, sealedLog, tamperD1 } from "./log-helpers";

interface Listed {
  reports: { job_id: string; mode: string; ok: boolean; range: { from: number; to: number } | null }[];
}
interface StatsBody {
  last_full_verification: {
    job_id: string;
    ok: boolean;
    failures: number;
    finished_at: string;
    range: { from: number; to: number };
  } | null;
}

const listed = async (tenant: string, key: string) =>
  (await (await api(`/v1/tenants/${tenant}/verify`, { headers: { "x-api-key": key } })).json()) as Listed;
const stats = async (tenant: string, key: string) =>
  (await (await api(`/v1/tenants/${tenant}/stats`, { headers: { "x-api-key": key } })).json()) as StatsBody;

describe("range verifications are not full ones", () => {
  it("a range run over untampered entries of a tampered log passes as mode range, with its range, and is not the tenant's status", async () => {
    const { tenant, verifyKey, base } = await sealedLog();
    await tamperD1(
      "UPDATE audit_events SET entry = replace(entry, 'user.login', 'user.logon') WHERE tenant_id = ? AND seq = ?",
      tenant,
      base + 7,
    );

    const partial = await runVerification(tenant, verifyKey, { from: 0, to: 1 });
    expect(partial.mode).toBe("range");
    expect(partial.range).toEqual({ from: 0, to: 1 });
    expect(partial.report).toMatchObject({ ok: true, mode: "range", range: { from: 0, to: 1 } });
    expect((await listed(tenant, verifyKey)).reports[0]).toMatchObject({
      job_id: partial.job_id,
      mode: "range",
      ok: true,
      range: { from: 0, to: 1 },
    });
    const row = await (await dbOf(tenant))
      .prepare("SELECT mode, from_seq, to_seq FROM verification_reports WHERE job_id = ?")
      .bind(partial.job_id)
      .first();
    expect(row).toEqual({ mode: "range", from_seq: 0, to_seq: 1 });
    // No full run yet: the tenant has no verification status, whatever the range run said.
    expect((await stats(tenant, verifyKey)).last_full_verification).toBeNull();

    // The keys' entries, 55 entries and the range run's own entry.
    const full = await runVerification(tenant, verifyKey);
    expect(full.report).toMatchObject({ ok: false, mode: "full", range: { from: 0, to: base + 56 } });
    const status = (await stats(tenant, verifyKey)).last_full_verification;
    expect(status).toMatchObject({
      job_id: full.job_id,
      ok: false,
      failures: full.report!.failures.length,
      finished_at: full.report!.finished_at,
    });

    // A later range run that passes does not replace the failed full run as the status.
    const later = await runVerification(tenant, verifyKey, { mode: "range", from: base + 50 });
    expect(later.report).toMatchObject({ ok: true, mode: "range" });
    expect((await stats(tenant, verifyKey)).last_full_verification).toMatchObject({ job_id: full.job_id, ok: false });
    // The run's log entry says what it covered, too.
    const logged = (await (
      await api(`/v1/tenants/${tenant}/events?action=sealtrail.log.verified`, { headers: { "x-api-key": verifyKey } })
    ).json()) as {
      events: { event: { metadata: Record<string, unknown> } }[];
    };
    expect(logged.events.map((e) => e.event.metadata)).toEqual([
      expect.objectContaining({ job_id: partial.job_id, mode: "range", from: 0, to: 1, ok: true }),
      expect.objectContaining({ job_id: full.job_id, mode: "full", from: 0, to: base + 56, ok: false }),
      expect.objectContaining({ job_id: later.job_id, mode: "range", ok: true }),
    ]);
  });

  it("from/to with mode full or incremental is refused: a bounded run is a range run", async () => {
    const { tenant, verifyKey } = await sealedLog();
    for (const body of [
      { mode: "full", from: 0, to: 1 },
      { mode: "incremental", to: 10 },
      { mode: "full", from: 3 },
    ]) {
      const res = await api(`/v1/tenants/${tenant}/verify`, {
        method: "POST",
        headers: { "x-api-key": verifyKey, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: "invalid_verify_request" } });
    }
    expect((await listed(tenant, verifyKey)).reports).toEqual([]);
  });

  it("an incremental run never resumes from a range run: only full and incremental runs are its base", async () => {
    const { tenant, verifyKey, base } = await sealedLog();
    // A range run over both seals passes…
    expect((await runVerification(tenant, verifyKey, { from: 0, to: base + 50 })).report).toMatchObject({ ok: true, mode: "range" });
    // …but an incremental run after it still checks every seal, as no full run is its base.
    const inc = await runVerification(tenant, verifyKey, { mode: "incremental" });
    expect(inc.report).toMatchObject({ ok: true, mode: "incremental", checked: { seals: 2 } });
  });

  it("a verification report cannot be replaced in D1", async () => {
    const { tenant, verifyKey } = await sealedLog();
    const job: JobView = await runVerification(tenant, verifyKey);
    for (const verb of ["INSERT OR REPLACE INTO", "REPLACE INTO"]) {
      const sql = `${verb} verification_reports (tenant_id, job_id, mode, ok, failures, report, created_at) VALUES (?, ?, 'full', 0, 1, '{}', 0)`;
      await expect((await dbOf(tenant)).prepare(sql).bind(tenant, job.job_id).run(), verb).rejects.toThrow(/append-only/);
    }
    const row = await (await dbOf(tenant))
      .prepare("SELECT ok, report FROM verification_reports WHERE job_id = ?")
      .bind(job.job_id)
      .first<{ ok: number; report: string }>();
    expect(row!.ok).toBe(1);
    expect(JSON.parse(row!.report)).toEqual(job.report);
  });
});
