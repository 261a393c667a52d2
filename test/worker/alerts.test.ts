/**
 * Issues #18.2 and #18.3 through the real Worker and objects: a witness that disagrees and then
 * agrees again (a real witness on loopback), scheduled audits (the cron, the slots, LogAudit's
 * alarm starting runs that land in the verification history with no request), and a failed
 * verification raising `verification_failed`.
 */
import {
  createExecutionContext,
  createScheduledController,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it, vi } from "vitest";
import { utf8 } from "../../src/core/bytes";
import { formatCheckpoint } from "../../src/core/checkpoint";
import { sha256 } from "../../src/core/hash";
import { checkpointSigner } from "../../src/core/keys";
import { signNote } from "../../src/core/note";
import { formatAddCheckpoint } from "../../src/core/tlog-witness";
import { CLEAR_HOLD_MS } from "../../src/durable/alerts";
import { AuditSchedule, DAY_MS, HOUR_MS, inCronWindow, MINUTE_MS, nextSlot, slotOffset } from "../../src/durable/audit-schedule";
import type { LogAudit } from "../../src/durable/log-audit";
import type { Log, LogOptions } from "../../src/durable/tenant-log";
import worker from "../../src/worker/index";
import { withLog } from "../durable/faults";
import { sealedLog, tamperD1 } from "../durable/log-helpers";
import { witnessCosigner } from "../witness/keys";
import { api, auditOf, bearer, dbOf, entriesOf, event, logOf, postEvent, type Session, tenantWithKeys } from "./helpers";

const json = { "content-type": "application/json" };

interface Stats {
  size: number;
  witnesses: { url: string; cosigned_size: number; failures: number }[];
  open_alerts: { kind: string; key: string; since: string }[];
  recent_incidents: { kind: string; key: string; started_at: string; ended_at: string | null }[];
}
const statsOf = async (who: Session | { key: string }, tenant: string) =>
  (await (await api(`/v1/tenants/${tenant}/stats`, { headers: "key" in who ? { "x-api-key": who.key } : bearer(who) })).json()) as Stats;

/** The LogAudit object's schedule row. */
const scheduleOf = (tenant: string) =>
  runInDurableObject(auditOf(tenant), (_o: LogAudit, state) => ({
    row: new AuditSchedule(state.storage.sql).get(),
    alarm: state.storage.getAlarm(),
  })).then(async (r) => ({ row: r.row, alarm: await r.alarm }));

/** Makes the tenant's next scheduled run of `mode` due now (as if its slot had come). */
const dueNow = (tenant: string, mode: "incremental" | "full" = "incremental") =>
  runInDurableObject(auditOf(tenant), (_o: LogAudit, state) => {
    state.storage.sql.exec(`UPDATE audit_schedule SET next_${mode}_at = ?`, Date.now() - 1);
  });

/** Runs LogAudit's alarm until it has no job running (the runs it starts go to the end). */
async function driveAudit(tenant: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    await runDurableObjectAlarm(auditOf(tenant));
    const running = await runInDurableObject(auditOf(tenant), (_o: LogAudit, state) =>
      state.storage.sql.exec("SELECT count(*) AS n FROM jobs WHERE report IS NULL").one(),
    );
    if (Number(running.n) === 0) return;
  }
  throw new Error("the verification did not finish");
}

const reports = async (tenant: string) =>
  (
    await (
      await dbOf(tenant)
    )
      .prepare("SELECT job_id, mode, ok FROM verification_reports WHERE tenant_id = ? ORDER BY created_at")
      .bind(tenant)
      .all<{ job_id: string; mode: string; ok: number }>()
  ).results;

describe("scheduled audits: slots", () => {
  it("spread ten thousand tenants over the day: no minute holds more than a few times its share", () => {
    const ids = Array.from({ length: 10_000 }, () => crypto.randomUUID().replaceAll("-", ""));
    const perMinute = new Map<number, number>();
    for (const id of ids) {
      const offset = slotOffset(id, DAY_MS);
      expect(offset % MINUTE_MS).toBe(0);
      expect(offset).toBeGreaterThanOrEqual(0);
      expect(offset).toBeLessThan(DAY_MS);
      perMinute.set(offset, (perMinute.get(offset) ?? 0) + 1);
    }
    const mean = ids.length / 1440;
    expect(Math.max(...perMinute.values())).toBeLessThan(4 * mean);
    expect(perMinute.size).toBeGreaterThan(1300);
    // Each hour of the day gets about 1/24 of the tenants.
    const perHour = new Array<number>(24).fill(0);
    for (const [offset, n] of perMinute) perHour[Math.floor(offset / HOUR_MS)]! += n;
    for (const n of perHour) expect(n).toBeGreaterThan((ids.length / 24) * 0.75);
  });

  it("a tenant's slot comes once per interval, after the time given, and falls in exactly one cron hour a day", () => {
    const tenant = "acme0000000000000000000000000001";
    const now = Date.now();
    const next = nextSlot(tenant, DAY_MS, now);
    expect(next).toBeGreaterThan(now);
    expect(next - now).toBeLessThanOrEqual(DAY_MS);
    expect(nextSlot(tenant, DAY_MS, next)).toBe(next + DAY_MS);
    expect(next % DAY_MS).toBe(slotOffset(tenant, DAY_MS));
    const dayStart = Math.floor(now / DAY_MS) * DAY_MS;
    const hours = Array.from({ length: 24 }, (_, h) => dayStart + h * HOUR_MS).filter((at) => inCronWindow(tenant, at));
    expect(hours).toEqual([dayStart + Math.floor(slotOffset(tenant, DAY_MS) / HOUR_MS) * HOUR_MS]);
  });
});

describe("scheduled audits: runs", () => {
  it("the cron kicks the tenants whose slot falls in its hour: their LogAudit arms its alarm at the slot", async () => {
    const a = await tenantWithKeys();
    const b = await tenantWithKeys();
    const hour = Math.floor(nextSlot(a.tenant, DAY_MS, Date.now()) / HOUR_MS) * HOUR_MS;
    const controller = createScheduledController({ scheduledTime: new Date(hour), cron: "0 * * * *" });
    const ctx = createExecutionContext();
    await worker.scheduled(controller, env, ctx);
    await waitOnExecutionContext(ctx);

    const { row, alarm } = await scheduleOf(a.tenant);
    expect(row).toMatchObject({ tenant: a.tenant, incrementalMs: DAY_MS, fullMs: 7 * DAY_MS });
    expect(row!.nextIncrementalAt % DAY_MS).toBe(slotOffset(a.tenant, DAY_MS));
    expect(alarm).toBe(Math.min(row!.nextIncrementalAt, row!.nextFullAt));
    // The other tenant is kicked only if its slot falls in the same hour.
    expect((await scheduleOf(b.tenant)).row !== undefined).toBe(inCronWindow(b.tenant, hour));
  });

  it("the tenant's log tells LogAudit its intervals (settings), so runs are scheduled with no cron at all", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const put = await api(`/v1/tenants/${tenant}/settings`, {
      method: "PUT",
      headers: { ...json, ...bearer(owner) },
      body: JSON.stringify({ audit_interval_hours: 6, full_audit_interval_days: 30 }),
    });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ settings: { audit_interval_hours: 6, full_audit_interval_days: 30 } });
    expect((await postEvent(tenant, appendKey, event())).status).toBe(201);
    await vi.waitFor(
      async () => {
        await runDurableObjectAlarm(logOf(tenant));
        const { row, alarm } = await scheduleOf(tenant);
        expect(row).toMatchObject({ incrementalMs: 6 * HOUR_MS, fullMs: 30 * DAY_MS });
        expect(row!.nextIncrementalAt % (6 * HOUR_MS)).toBe(slotOffset(tenant, 6 * HOUR_MS));
        expect(alarm).toBe(row!.nextIncrementalAt);
      },
      { timeout: 10_000, interval: 100 },
    );
    const bad = await api(`/v1/tenants/${tenant}/settings`, {
      method: "PUT",
      headers: { ...json, ...bearer(owner) },
      body: JSON.stringify({ audit_interval_hours: 0 }),
    });
    expect(bad.status).toBe(400);
  });

  it("a run due at the tenant's slot lands in the verification history, and the next is scheduled", async () => {
    const { owner, tenant, readKey } = await tenantWithKeys();
    const hour = Math.floor(nextSlot(tenant, DAY_MS, Date.now()) / HOUR_MS) * HOUR_MS;
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: new Date(hour), cron: "0 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    await dueNow(tenant);
    await driveAudit(tenant);

    const history = await reports(tenant);
    expect(history.map((r) => [r.mode, r.ok])).toEqual([["incremental", 1]]);
    const listed = await api(`/v1/tenants/${tenant}/verify`, { headers: bearer(owner) });
    expect(((await listed.json()) as { reports: { job_id: string }[] }).reports.map((r) => r.job_id)).toEqual([history[0]!.job_id]);
    const logged = await entriesOf({ key: readKey }, tenant, "sealtrail.log.verified");
    expect(logged.at(-1)!.event).toMatchObject({ actor: { id: "schedule", type: "system" }, outcome: "success" });
    const { row, alarm } = await scheduleOf(tenant);
    expect(row!.nextIncrementalAt).toBeGreaterThan(Date.now());
    expect(alarm).toBe(Math.min(row!.nextIncrementalAt, row!.nextFullAt));
  });

  it("time passes and a scheduled run happens with no request: LogAudit's own alarm starts it", async () => {
    const { tenant, appendKey } = await tenantWithKeys();
    expect((await postEvent(tenant, appendKey, event())).status).toBe(201);
    // A short interval (the settings allow hours; the object takes any): its next slot is within 2 s.
    await auditOf(tenant).schedule(tenant, { jurisdiction: "default", shard: 0 }, { incrementalMs: 2_000, fullMs: 365 * DAY_MS });
    expect(await reports(tenant)).toEqual([]);
    // Nothing is called from here on: the runtime fires the alarm when its time comes.
    await vi.waitFor(async () => expect((await reports(tenant)).length).toBeGreaterThan(0), { timeout: 20_000, interval: 250 });
    expect((await reports(tenant))[0]).toMatchObject({ mode: "incremental", ok: 1 });
  });

  it("a failed scheduled verification raises verification_failed (an entry, and /stats open_alerts)", async () => {
    const { tenant, owner, readKey, base } = await sealedLog();
    await tamperD1(
      "UPDATE audit_events SET entry = replace(entry, 'user.login', 'user.logon') WHERE tenant_id = ? AND seq = ?",
      tenant,
      base + 3,
    );
    const ctx = createExecutionContext();
    const hour = Math.floor(nextSlot(tenant, DAY_MS, Date.now()) / HOUR_MS) * HOUR_MS;
    await worker.scheduled(createScheduledController({ scheduledTime: new Date(hour), cron: "0 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    await dueNow(tenant, "full");
    await driveAudit(tenant);

    expect((await reports(tenant)).map((r) => [r.mode, r.ok])).toEqual([["full", 0]]);
    const stats = await statsOf(owner, tenant);
    expect(stats.open_alerts.map((a) => a.kind)).toContain("verification_failed");
    const raised = await entriesOf({ key: readKey }, tenant, "sealtrail.alert.raised");
    expect(raised.map((e) => (e.event.metadata as { kind: string }).kind)).toEqual(["verification_failed"]);
    expect((raised[0]!.event.metadata as { detail: Record<string, unknown> }).detail).toMatchObject({ mode: "full", scheduled: true });
  });
});

/** The log's parts over the object's storage with a test clock and no alarm (test/durable/alerts.test.ts `opened`). */
function withClock<T>(tenant: string, clock: () => number, body: (log: Log) => Promise<T>): Promise<T> {
  const options = (state: DurableObjectState): LogOptions & { storage: DurableObjectStorage } => ({
    now: clock,
    storage: new Proxy(state.storage, {
      get(target, prop) {
        if (prop === "setAlarm") return async () => {};
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }),
  });
  return withLog(logOf(tenant), tenant, options, async (log, state) => {
    await state.storage.deleteAlarm();
    return body(log);
  });
}

describe("witness_disagrees", () => {
  const base = () => inject("witnessBase");

  it("raised when a witness refuses the log's checkpoint (422), cleared once it cosigns again", async () => {
    const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
    const name = "echo";
    const w = { url: `${base()}/w/${name}`, key: witnessCosigner(name).key.vkey };
    const res = await postEvent(tenant, appendKey, { events: [event(), event(), event()] });
    expect(res.status).toBe(201);
    const size = (await statsOf(owner, tenant)).size;
    // Someone had the witness cosign a fork: the log's key, another root.
    const origin = `sealtrail.localhost/${tenant}`;
    const signer = checkpointSigner(utf8(env.SEALTRAIL_SIGNING_SECRET), origin, 1);
    const fork = signNote(formatCheckpoint({ origin, size: size - 1, root: sha256(utf8("fork")), extensions: [] }), [signer]);
    const direct = await fetch(`${base()}/w/${name}/add-checkpoint`, {
      method: "POST",
      body: formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: fork }),
    });
    expect(direct.status).toBe(200);
    await direct.text();
    const put = await api(`/v1/tenants/${tenant}/settings`, {
      method: "PUT",
      headers: { ...json, ...bearer(owner) },
      body: JSON.stringify({ witnesses: [w] }),
    });
    expect(put.status).toBe(200);
    const seal = async () => expect((await api(`/v1/tenants/${tenant}/seal`, { method: "POST", headers: bearer(owner) })).status).toBe(200);

    await seal();
    await vi.waitFor(
      async () => {
        await runDurableObjectAlarm(logOf(tenant));
        expect((await statsOf(owner, tenant)).open_alerts).toEqual([expect.objectContaining({ kind: "witness_disagrees", key: w.url })]);
      },
      { timeout: 20_000, interval: 100 },
    );

    // The witness's operator resets it; it cosigns the log's checkpoint again.
    expect((await fetch(`${base()}/reset/${name}`, { method: "POST" })).status).toBe(200);
    await postEvent(tenant, appendKey, event());
    await seal();
    await vi.waitFor(
      async () => {
        await runDurableObjectAlarm(logOf(tenant));
        const s = await statsOf(owner, tenant);
        expect(s.witnesses[0]).toMatchObject({ cosigned_size: s.size, failures: 0 });
      },
      { timeout: 20_000, interval: 100 },
    );
    // The hold-down passes (a test clock over the object's storage): the incident ends, once.
    let clock = Date.now();
    await withClock(
      tenant,
      () => clock,
      async (log) => {
        for (let i = 0; i < 4; i++) {
          log.alerts.check(tenant);
          await log.alerts.logged();
          clock += CLEAR_HOLD_MS / 2;
        }
        expect(log.alerts.openAlerts()).toEqual([]);
      },
    );
    const raised = await entriesOf({ key: readKey }, tenant, "sealtrail.alert.raised");
    const cleared = await entriesOf({ key: readKey }, tenant, "sealtrail.alert.cleared");
    expect(raised.map((e) => (e.event.metadata as { kind: string; key: string }).key)).toEqual([w.url]);
    expect(cleared.map((e) => (e.event.metadata as { kind: string; key: string }).kind)).toEqual(["witness_disagrees"]);
  });
});
