/**
 * Issue #18.2: alerts raised once per incident and cleared once, as sealtrail.alert.* entries in the
 * tenant's log, and each of today's conditions (alert-sources.ts) raising and clearing. The log's
 * parts are built over the object's real storage with a test clock (faults.ts `withLog`).
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { sealKeys } from "../../src/core/seal";
import type { AlertCondition } from "../../src/durable/alert-types";
import { AUDIT_SCHEDULE_FACT, CLOCK_SKEW_WINDOW_MS, VERIFICATION_FACT } from "../../src/durable/alert-sources";
import { CLEAR_HOLD_MS } from "../../src/durable/alerts";
import { DAY_MS, OVERDUE_GRACE_MS } from "../../src/durable/audit-schedule";
import { INGEST_STALLED_AFTER_MS } from "../../src/durable/group-commit";
import type { VerificationOutcome } from "../../src/durable/log-types";
import { MIRROR_LAG_ALERT_MS } from "../../src/durable/mirror";
import { LogStore } from "../../src/durable/log-store";
import type { Log, LogOptions, TenantLog } from "../../src/durable/tenant-log";
import { bucketOf, dbOf, event, logOf, mirrored, tenantWithKeys } from "../worker/helpers";
import { appendVia, failingD1, failingR2, withLog } from "./faults";

/**
 * The log's parts over the object's real storage with a test clock, and no alarm: the object the
 * runtime built shares this storage, and its alarm would run its own checks (and appends) beside
 * the test's. An alarm left from the appends before is deleted.
 */
function opened(clock: () => number, extra: LogOptions = {}) {
  return (state: DurableObjectState) => ({
    ...extra,
    now: clock,
    storage: new Proxy(state.storage, {
      get(target, prop) {
        if (prop === "setAlarm") return async () => {};
        if (prop === "getAlarm") return async () => null;
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }),
  });
}

/** `withLog` with `opened`: the object's own alarm deleted first. */
function withAlerts<T>(
  tenant: string,
  clock: () => number,
  extra: LogOptions,
  body: (log: Log, state: DurableObjectState) => Promise<T>,
): Promise<T> {
  return withLog(logOf(tenant), tenant, opened(clock, extra), async (log, state) => {
    await state.storage.deleteAlarm();
    return body(log, state);
  });
}

interface AlertEntry {
  seq: number;
  action: string;
  metadata: Record<string, unknown>;
  actor: unknown;
}

/** The alert entries in the log's DO storage (nothing is sealed in these tests, so nothing is evicted). */
function alertEntries(log: Log): AlertEntry[] {
  return log.store
    .entries(0, 100_000)
    .map((e) => {
      const parsed = JSON.parse(e.entry) as { event: { action: string; metadata: Record<string, unknown>; actor: unknown } };
      return { seq: e.seq, ...parsed.event };
    })
    .filter((e) => e.action.startsWith("sealtrail.alert."));
}

const count = (log: Log, action: "raised" | "cleared", kind?: string) =>
  alertEntries(log).filter((e) => e.action === `sealtrail.alert.${action}` && (kind === undefined || e.metadata.kind === kind)).length;

/**
 * One check, then waits for the entries it started to be appended. D1 gets what is committed
 * first (the test clock jumps where the mirror's passes would have run), unless D1 fails on purpose.
 */
async function check(log: Log, tenant: string): Promise<void> {
  await log.mirror.copy();
  log.alerts.check(tenant);
  await log.alerts.logged();
}

describe("the alert engine", () => {
  it("raises once and clears once across many checks; a condition back within the hold-down continues its incident", async () => {
    const { tenant } = await tenantWithKeys();
    let clock = Date.now();
    let on = false;
    await withAlerts(
      tenant,
      () => clock,
      {},
      async (log) => {
        log.alerts.register({
          conditions: (): AlertCondition[] => (on ? [{ kind: "stream_paused", key: "s1", detail: { last_error: "503" } }] : []),
        });
        for (let i = 0; i < 5; i++) {
          await check(log, tenant);
          clock += 1_000;
        }
        expect(alertEntries(log)).toHaveLength(0);

        on = true;
        const started = clock;
        for (let i = 0; i < 20; i++) {
          await check(log, tenant);
          clock += 1_000;
        }
        expect(count(log, "raised", "stream_paused")).toBe(1);
        expect(count(log, "cleared")).toBe(0);
        const raised = alertEntries(log)[0]!;
        expect(raised.metadata).toEqual({
          kind: "stream_paused",
          key: "s1",
          started_at: new Date(started).toISOString(),
          detail: { last_error: "503" },
        });
        expect(raised.actor).toEqual({ id: "alerts", type: "system" });
        expect(log.alerts.openAlerts()).toEqual([{ kind: "stream_paused", key: "s1", since: new Date(started).toISOString() }]);

        // Flapping: gone for less than the hold-down, then back: the same incident.
        on = false;
        await check(log, tenant);
        clock += CLEAR_HOLD_MS / 2;
        await check(log, tenant);
        on = true;
        await check(log, tenant);
        clock += CLEAR_HOLD_MS;
        await check(log, tenant);
        expect(count(log, "raised")).toBe(1);
        expect(count(log, "cleared")).toBe(0);

        // Gone for good: cleared once, at the time it was first seen gone.
        on = false;
        const gone = clock;
        for (let i = 0; i < 30; i++) {
          await check(log, tenant);
          clock += 5_000;
        }
        expect(count(log, "raised")).toBe(1);
        expect(count(log, "cleared")).toBe(1);
        const cleared = alertEntries(log).find((e) => e.action === "sealtrail.alert.cleared")!;
        expect(cleared.metadata).toEqual({
          kind: "stream_paused",
          key: "s1",
          started_at: new Date(started).toISOString(),
          ended_at: new Date(gone).toISOString(),
        });
        expect(cleared.seq).toBeGreaterThan(raised.seq);
        expect(log.alerts.openAlerts()).toEqual([]);
        expect(log.alerts.recent()[0]).toMatchObject({ kind: "stream_paused", key: "s1", ended_at: new Date(gone).toISOString() });

        // A new occurrence is a new incident.
        on = true;
        await check(log, tenant);
        expect(count(log, "raised")).toBe(2);
      },
    );
  });

  it("keys are separate incidents; an incident not yet written survives a restart, and the restarted object's alarm writes it", async () => {
    const { tenant } = await tenantWithKeys();
    await mirrored(tenant);
    const clock = Date.now();
    const source = { conditions: (): AlertCondition[] => ["a", "b"].map((key) => ({ kind: "source_silent", key, detail: {} })) };
    // The first object opens both incidents but dies before it could append (no tenant given: nothing written).
    await withAlerts(
      tenant,
      () => clock,
      {},
      async (log) => {
        log.alerts.register(source);
        log.alerts.check(undefined);
        expect(log.alerts.openAlerts().map((a) => a.key)).toEqual(["a", "b"]);
        expect(alertEntries(log)).toHaveLength(0);
      },
    );
    // The object the runtime builds next arms its alarm at start, and its alarm writes them.
    const stub = logOf(tenant);
    expect(await runInDurableObject(stub, (_l: TenantLog, state) => state.storage.getAlarm())).not.toBeNull();
    await vi.waitFor(
      async () => {
        await runDurableObjectAlarm(stub);
        const written = await runInDurableObject(stub, (_l: TenantLog, state) =>
          new LogStore(state.storage.sql)
            .entries(0, 100_000)
            .map((e) => (JSON.parse(e.entry) as { event: { action: string; metadata?: { key?: string } } }).event)
            .filter((e) => e.action.startsWith("sealtrail.alert."))
            .map((e) => [e.action, e.metadata?.key]),
        );
        expect(written).toEqual([
          ["sealtrail.alert.raised", "a"],
          ["sealtrail.alert.raised", "b"],
        ]);
      },
      { timeout: 10_000, interval: 100 },
    );
  });
});

describe("today's conditions raise and clear", () => {
  it("mirror_lag: D1 more than 30 s behind, cleared once it catches up", async () => {
    const { tenant } = await tenantWithKeys();
    await mirrored(tenant);
    let clock = Date.now();
    let failing = true;
    const db = failingD1(await dbOf(tenant), "before", () => failing);
    await withAlerts(
      tenant,
      () => clock,
      { db },
      async (log) => {
        await appendVia(log, tenant, event());
        expect(await log.mirror.copy()).toBe(false);
        clock += MIRROR_LAG_ALERT_MS - 1_000;
        await check(log, tenant);
        expect(count(log, "raised")).toBe(0);
        clock += 2_000;
        for (let i = 0; i < 5; i++) await check(log, tenant);
        expect(count(log, "raised", "mirror_lag")).toBe(1);
        failing = false;
        expect(await log.mirror.copy()).toBe(true);
        for (let i = 0; i < 5; i++) {
          await check(log, tenant);
          clock += CLEAR_HOLD_MS / 2;
        }
        expect(count(log, "raised", "mirror_lag")).toBe(1);
        expect(count(log, "cleared", "mirror_lag")).toBe(1);
      },
    );
  });

  it("seal_failing: three failed seal passes in a row, cleared by a seal that succeeds", async () => {
    const { tenant } = await tenantWithKeys();
    let clock = Date.now();
    const bucket = failingR2(await bucketOf(tenant), "before", /bundle/, 3);
    await withAlerts(
      tenant,
      () => clock,
      { bucket },
      async (log) => {
        await appendVia(log, tenant, event());
        for (let i = 0; i < 2; i++) expect((await log.sealer.seal(tenant, true)).ok).toBe(false);
        await check(log, tenant);
        expect(count(log, "raised")).toBe(0);
        expect((await log.sealer.seal(tenant, true)).ok).toBe(false);
        await check(log, tenant);
        expect(count(log, "raised", "seal_failing")).toBe(1);
        expect(alertEntries(log)[0]!.metadata.detail).toMatchObject({ failures: 3, last_error: expect.stringMatching(/bundle/) });
        expect((await log.sealer.seal(tenant, true)).ok).toBe(true);
        await check(log, tenant);
        clock += CLEAR_HOLD_MS;
        await check(log, tenant);
        expect(count(log, "cleared", "seal_failing")).toBe(1);
      },
    );
  });

  it("clock_skew: an event far off the server's time, cleared when none came for the window", async () => {
    const { tenant } = await tenantWithKeys();
    let clock = Date.now();
    await withAlerts(
      tenant,
      () => clock,
      {},
      async (log) => {
        await appendVia(log, tenant, event({ occurred_at: new Date(clock - 3_600_000).toISOString() }));
        await check(log, tenant);
        expect(count(log, "raised", "clock_skew")).toBe(1);
        // Its own entry carries no occurred_at: it never counts as skewed.
        clock += CLOCK_SKEW_WINDOW_MS - 1_000;
        await check(log, tenant);
        expect(count(log, "cleared", "clock_skew")).toBe(0);
        clock += 2_000;
        await check(log, tenant);
        clock += CLEAR_HOLD_MS;
        await check(log, tenant);
        expect(count(log, "raised", "clock_skew")).toBe(1);
        expect(count(log, "cleared", "clock_skew")).toBe(1);
      },
    );
  });

  it("ingest_stalled: appends waiting 30 s with no commit (R2 hanging in a reconcile), cleared by the next commit", async () => {
    const { tenant } = await tenantWithKeys();
    let clock = Date.now();
    await mirrored(tenant);
    // Made inside the object (a promise from the test's own context would tie the object to it).
    let hanging: Promise<void> | undefined;
    const real = await bucketOf(tenant);
    const bucket = new Proxy(real, {
      get(target, prop) {
        if (prop === "list") {
          return async (...args: Parameters<R2Bucket["list"]>) => {
            if (hanging) await hanging;
            return target.list(...args);
          };
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    await withAlerts(
      tenant,
      () => clock,
      { bucket },
      async (log) => {
        let release!: () => void;
        hanging = new Promise<void>((resolve) => (release = resolve));
        const reconcile = log.sealer.reconcileAgain(tenant);
        const append = appendVia(log, tenant, event());
        clock += INGEST_STALLED_AFTER_MS - 1_000;
        log.alerts.check(tenant);
        expect(log.alerts.openAlerts()).toEqual([]);
        clock += 2_000;
        log.alerts.check(tenant);
        expect(log.alerts.openAlerts().map((a) => a.kind)).toEqual(["ingest_stalled"]);
        // Its entry waits behind the same reconcile.
        expect(count(log, "raised")).toBe(0);
        hanging = undefined;
        release();
        await reconcile;
        expect((await append).ok).toBe(true);
        await log.alerts.logged();
        expect(count(log, "raised", "ingest_stalled")).toBe(1);
        await check(log, tenant);
        clock += CLEAR_HOLD_MS;
        await check(log, tenant);
        expect(count(log, "cleared", "ingest_stalled")).toBe(1);
      },
    );
  });

  it("ingest_stalled: commits failing for 30 s; written once the log commits again", async () => {
    const { tenant } = await tenantWithKeys();
    let clock = Date.now();
    await withAlerts(
      tenant,
      () => clock,
      {},
      async (log, state) => {
        state.storage.sql.exec("CREATE TRIGGER inject_fault BEFORE INSERT ON entries BEGIN SELECT RAISE(ABORT, 'injected'); END");
        expect((await appendVia(log, tenant, event())).ok).toBe(false);
        clock += INGEST_STALLED_AFTER_MS;
        await check(log, tenant);
        expect(log.alerts.openAlerts().map((a) => a.kind)).toEqual(["ingest_stalled"]);
        expect(count(log, "raised")).toBe(0);
        state.storage.sql.exec("DROP TRIGGER inject_fault");
        // The refused entry is tried again after LOG_RETRY_MS; it is itself the commit that ends the stall.
        clock += 30_000;
        await check(log, tenant);
        expect(count(log, "raised", "ingest_stalled")).toBe(1);
        await check(log, tenant);
        clock += CLEAR_HOLD_MS;
        await check(log, tenant);
        expect(count(log, "cleared", "ingest_stalled")).toBe(1);
      },
    );
  });

  it("writes_refused: R2 ahead of the log; both entries are written, in order, once the log accepts writes again", async () => {
    const { tenant } = await tenantWithKeys();
    let clock = Date.now();
    const bucket = await bucketOf(tenant);
    await withAlerts(
      tenant,
      () => clock,
      {},
      async (log) => {
        await appendVia(log, tenant, event());
        expect((await log.sealer.seal(tenant, true)).ok).toBe(true);
        const ahead = sealKeys(tenant, 1).manifest;
        await bucket.put(ahead, "a manifest this log never signed\n");
        await log.sealer.reconcileAgain(tenant);
        expect(log.sealer.refusal?.reason).toBe("r2_ahead");
        await check(log, tenant);
        expect(log.alerts.openAlerts().map((a) => a.kind)).toEqual(["writes_refused"]);
        // The log refuses every write, its alerts included: the incident waits in DO storage.
        expect(alertEntries(log)).toHaveLength(0);
        // An operator removes the object (the application never deletes from R2).
        await bucket.delete(ahead);
        await log.sealer.reconcileAgain(tenant);
        expect(log.sealer.refusal).toBeNull();
        await check(log, tenant);
        clock += CLEAR_HOLD_MS;
        await check(log, tenant);
        expect(alertEntries(log).map((e) => [e.action, e.metadata.kind])).toEqual([
          ["sealtrail.alert.raised", "writes_refused"],
          ["sealtrail.alert.cleared", "writes_refused"],
        ]);
      },
    );
  });

  it("verification_failed and verification_overdue: from LogAudit's outcomes and the schedule, each cleared by a passing run", async () => {
    const { tenant } = await tenantWithKeys();
    let clock = Date.now();
    const outcome = (ok: boolean): VerificationOutcome => ({
      job_id: crypto.randomUUID(),
      mode: "incremental",
      ok,
      failures: ok ? 0 : 2,
      finished_at: new Date(clock).toISOString(),
      scheduled: true,
    });
    await withAlerts(
      tenant,
      () => clock,
      {},
      async (log) => {
        log.alerts.setFact(AUDIT_SCHEDULE_FACT, { incremental_ms: DAY_MS, full_ms: 7 * DAY_MS, since: clock });
        log.alerts.setFact(VERIFICATION_FACT, outcome(false));
        await check(log, tenant);
        expect(count(log, "raised", "verification_failed")).toBe(1);
        clock += DAY_MS + OVERDUE_GRACE_MS - 1_000;
        await check(log, tenant);
        expect(count(log, "raised", "verification_overdue")).toBe(0);
        clock += 1_000;
        await check(log, tenant);
        expect(count(log, "raised", "verification_overdue")).toBe(1);
        log.alerts.setFact(VERIFICATION_FACT, outcome(true));
        await check(log, tenant);
        clock += CLEAR_HOLD_MS;
        await check(log, tenant);
        expect(count(log, "cleared", "verification_failed")).toBe(1);
        expect(count(log, "cleared", "verification_overdue")).toBe(1);
        expect(log.alerts.openAlerts()).toEqual([]);
      },
    );
  });
});
