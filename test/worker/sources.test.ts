/**
 * Issue #18.4, missed events: events carry `source: {id, seq}`; the log reports each source's
 * missing numbers as exact ranges (list, /stats), closes them when late events fill them, counts
 * restarts and duplicates (never as gaps), stays bounded, and says when a source falls silent.
 * Through the real Worker, TenantLog and its DO storage; time-dependent conditions with the
 * tracker built over a real Durable Object's storage and a clock the test moves.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Alarm } from "../../src/durable/alarm";
import { LogStore } from "../../src/durable/log-store";
import { GAP_ALERT_AFTER_MS, MAX_OPEN_GAPS, MAX_SOURCES, SourceTracker } from "../../src/durable/sources";
import { api, bearer, event, logOf, postEvent, tenantWithKeys } from "./helpers";

interface Gap {
  from: number;
  to: number;
}
interface SourceView {
  id: string;
  last_seq: number | null;
  events: number;
  missing: number;
  gaps: (Gap & { opened_at: string })[];
  filled: number;
  restarts: number;
  duplicates: number;
  silent: boolean;
  silent_since: string | null;
  expected_every_seconds: number | null;
  last_seen_at: string | null;
  forgotten: { gaps: number; missing: number };
}

const numbered = (id: string, seqs: number[], extra: Record<string, unknown> = {}) => ({
  events: seqs.map((seq) => event({ source: { id, seq }, ...extra })),
});

async function send(tenant: string, key: string, id: string, seqs: number[]) {
  const res = await postEvent(tenant, key, numbered(id, seqs));
  expect(res.status, await res.clone().text()).toBe(201);
}

async function sources(tenant: string, key: string, query = ""): Promise<{ sources: SourceView[]; next: string | null }> {
  const res = await api(`/v1/tenants/${tenant}/sources${query}`, { headers: { "x-api-key": key } });
  expect(res.status).toBe(200);
  return (await res.json()) as { sources: SourceView[]; next: string | null };
}

const sourceOf = async (tenant: string, key: string, id: string) => (await sources(tenant, key)).sources.find((s) => s.id === id)!;
const ranges = (s: SourceView) => s.gaps.map(({ from, to }) => ({ from, to }));

describe("source numbers: gaps", () => {
  it("a source that skips numbers is reported with the exact missing ranges, in the list and /stats", async () => {
    const { tenant, appendKey, readKey } = await tenantWithKeys();
    await send(tenant, appendKey, "billing-api", [0, 1, 2, 5, 6, 9]);
    const s = await sourceOf(tenant, readKey, "billing-api");
    expect(ranges(s)).toEqual([
      { from: 3, to: 4 },
      { from: 7, to: 8 },
    ]);
    expect(s).toMatchObject({ last_seq: 9, events: 6, missing: 4, filled: 0, restarts: 0, duplicates: 0, silent: false });
    const stats = (await (await api(`/v1/tenants/${tenant}/stats`, { headers: { "x-api-key": readKey } })).json()) as {
      sources: Record<string, number>;
    };
    expect(stats.sources).toEqual({
      tracked: 1,
      reporting: 1,
      silent: 0,
      with_cadence: 0,
      with_gaps: 1,
      open_gaps: 2,
      missing: 4,
      untracked_events: 0,
    });
    // The number is part of the stored event (its entry bytes).
    const size = (await logOf(tenant).stats()).size;
    const last = (await (await api(`/v1/tenants/${tenant}/events/${size - 1}`, { headers: { "x-api-key": readKey } })).json()) as {
      event: { source: unknown };
    };
    expect(last.event.source).toEqual({ id: "billing-api", seq: 9 });
  });

  it("late events shrink, split and finally close a gap", async () => {
    const { tenant, appendKey, readKey } = await tenantWithKeys();
    await send(tenant, appendKey, "s", [0, 20]);
    expect(ranges(await sourceOf(tenant, readKey, "s"))).toEqual([{ from: 1, to: 19 }]);
    await send(tenant, appendKey, "s", [10]);
    expect(ranges(await sourceOf(tenant, readKey, "s"))).toEqual([
      { from: 1, to: 9 },
      { from: 11, to: 19 },
    ]);
    await send(tenant, appendKey, "s", [1, 19]);
    const shrunk = await sourceOf(tenant, readKey, "s");
    expect(ranges(shrunk)).toEqual([
      { from: 2, to: 9 },
      { from: 11, to: 18 },
    ]);
    expect(shrunk.missing).toBe(16);
    await send(tenant, appendKey, "s", [2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18]);
    const closed = await sourceOf(tenant, readKey, "s");
    expect(closed).toMatchObject({ gaps: [], missing: 0, filled: 19, last_seq: 20, duplicates: 0 });
    const stats = (await logOf(tenant).stats()).sources;
    expect(stats).toMatchObject({ open_gaps: 0, missing: 0, with_gaps: 0 });
  });

  it("numbers out of order inside one batch, or across concurrent requests, leave no gap", async () => {
    const { tenant, appendKey, readKey } = await tenantWithKeys();
    await send(tenant, appendKey, "a", [2, 0, 1]);
    await Promise.all([3, 4, 5, 6, 7, 8].map((n) => send(tenant, appendKey, "a", [n])));
    expect(await sourceOf(tenant, readKey, "a")).toMatchObject({ gaps: [], last_seq: 8, events: 9, missing: 0 });
  });

  it("the first number above 0 means the numbers before it are missing", async () => {
    const { tenant, appendKey, readKey } = await tenantWithKeys();
    await send(tenant, appendKey, "late", [3]);
    expect(ranges(await sourceOf(tenant, readKey, "late"))).toEqual([{ from: 0, to: 2 }]);
  });

  it("a replayed request (same idempotency key) is not counted again; a 0 after higher numbers is a restart, not a gap", async () => {
    const { tenant, appendKey, readKey } = await tenantWithKeys();
    const one = { ...event({ source: { id: "r", seq: 0 } }), idempotency_key: "k-0" };
    for (let i = 0; i < 2; i++) expect((await postEvent(tenant, appendKey, { events: [one] })).status).toBe(201);
    expect(await sourceOf(tenant, readKey, "r")).toMatchObject({ events: 1, duplicates: 0, restarts: 0 });
    await send(tenant, appendKey, "r", [1, 2, 3]);
    // The source lost its counter and starts again; later an old number arrives a second time.
    await send(tenant, appendKey, "r", [0, 1]);
    const s = await sourceOf(tenant, readKey, "r");
    expect(s).toMatchObject({ gaps: [], last_seq: 3, restarts: 1, duplicates: 1, events: 6 });
    // Past the highest number seen, gaps are found again.
    await send(tenant, appendKey, "r", [2, 3, 6]);
    expect(ranges(await sourceOf(tenant, readKey, "r"))).toEqual([{ from: 4, to: 5 }]);
  });

  it("refuses a malformed source and stores nothing", async () => {
    const { tenant, appendKey, readKey } = await tenantWithKeys();
    const before = (await logOf(tenant).stats()).size;
    const bad: [unknown, string][] = [
      [{ id: "s", seq: -1 }, "invalid_event"],
      [{ id: "s", seq: 1.5 }, "invalid_event"],
      [{ id: "s", seq: 2 ** 53 }, "invalid_event"],
      [{ id: "", seq: 1 }, "invalid_event"],
      [{ id: "x".repeat(257), seq: 1 }, "invalid_event"],
      [{ id: "s" }, "invalid_event"],
      [{ id: "s", seq: 1, epoch: 2 }, "unknown_field"],
    ];
    for (const [source, code] of bad) {
      const res = await postEvent(tenant, appendKey, event({ source }));
      expect(res.status, JSON.stringify(source)).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    expect((await logOf(tenant).stats()).size).toBe(before);
    expect((await sources(tenant, readKey)).sources).toEqual([]);
    // The largest number is accepted.
    expect((await postEvent(tenant, appendKey, event({ source: { id: "s", seq: Number.MAX_SAFE_INTEGER } }))).status).toBe(201);
  });

  it(`keeps at most ${MAX_OPEN_GAPS} open ranges per source: the lowest is forgotten, and counted`, async () => {
    const { tenant, appendKey, readKey } = await tenantWithKeys();
    // 0, 2, 4, … 202: the gaps are 1, 3, … 201 (101 of them).
    const evens = Array.from({ length: 102 }, (_, i) => 2 * i);
    await send(tenant, appendKey, "busy", evens.slice(0, 100));
    await send(tenant, appendKey, "busy", evens.slice(100));
    const s = await sourceOf(tenant, readKey, "busy");
    expect(s.gaps).toHaveLength(MAX_OPEN_GAPS);
    expect(ranges(s)[0]).toEqual({ from: 3, to: 3 });
    expect(ranges(s).at(-1)).toEqual({ from: 201, to: 201 });
    expect(s.forgotten).toEqual({ gaps: 1, missing: 1 });
    expect(s.missing).toBe(MAX_OPEN_GAPS);
  });

  it(`tracks at most ${MAX_SOURCES} sources; events of more are stored and counted as untracked`, async () => {
    const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
    for (let at = 0; at < MAX_SOURCES + 2; at += 100) {
      const ids = Array.from({ length: Math.min(100, MAX_SOURCES + 2 - at) }, (_, i) => `src-${String(at + i).padStart(5, "0")}`);
      const res = await postEvent(tenant, appendKey, { events: ids.map((id) => event({ source: { id, seq: 0 } })) });
      expect(res.status).toBe(201);
    }
    const stats = (await logOf(tenant).stats()).sources;
    expect(stats).toMatchObject({ tracked: MAX_SOURCES, untracked_events: 2 });
    // A cadence for a source the log does not track is refused (409), and logs nothing; a tracked one may get one.
    const sizeBefore = (await logOf(tenant).stats()).size;
    const cadence = (id: string) =>
      api(`/v1/tenants/${tenant}/sources/${id}`, {
        method: "PUT",
        headers: { "content-type": "application/json", ...bearer(owner) },
        body: JSON.stringify({ expected_every_seconds: 3600 }),
      });
    const refused = await cadence("src-99999");
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("too_many_sources");
    expect((await logOf(tenant).stats()).size).toBe(sizeBefore);
    expect((await cadence("src-00000")).status).toBe(200);
    // Pages in id order.
    const first = await sources(tenant, readKey, "?limit=600");
    expect(first.sources).toHaveLength(600);
    const second = await sources(tenant, readKey, `?limit=600&after=${first.next}`);
    expect(second.sources).toHaveLength(MAX_SOURCES - 600);
    expect(second.next).toBeNull();
  });
});

describe("source cadence: silence", () => {
  it("PUT declares a cadence (admin only, logged with before and after); past it the source is silent", async () => {
    const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
    const put = (body: unknown, headers: Record<string, string> = bearer(owner)) =>
      api(`/v1/tenants/${tenant}/sources/payments`, {
        method: "PUT",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    expect((await put({ expected_every_seconds: 60 }, { "x-api-key": readKey })).status).toBe(403);
    expect((await put({ expected_every_seconds: 0 })).status).toBe(400);
    const res = await put({ expected_every_seconds: 1 });
    expect(res.status).toBe(200);
    const { source, receipt } = (await res.json()) as { source: SourceView; receipt: { seq: number } };
    expect(source).toMatchObject({ id: "payments", expected_every_seconds: 1, silent: false, last_seq: null });
    const logged = (await (await api(`/v1/tenants/${tenant}/events/${receipt.seq}`, { headers: bearer(owner) })).json()) as {
      event: { action: string; targets: unknown; metadata: unknown };
    };
    expect(logged.event).toMatchObject({
      action: "sealtrail.source.cadence_set",
      targets: [{ id: "payments", type: "source" }],
      metadata: { source: "payments", before: null, after: 1 },
    });
    // The alarm is armed for the deadline.
    const alarm = await runInDurableObject(logOf(tenant), (_o, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(Date.now() + 1_000);

    await send(tenant, appendKey, "payments", [0]);
    expect(await sourceOf(tenant, readKey, "payments")).toMatchObject({ silent: false, last_seq: 0 });
    await new Promise((r) => setTimeout(r, 1_200));
    const silent = await sourceOf(tenant, readKey, "payments");
    expect(silent.silent).toBe(true);
    expect(Date.parse(silent.silent_since!)).toBe(Date.parse(silent.last_seen_at!) + 1_000);
    expect((await logOf(tenant).stats()).sources).toMatchObject({ tracked: 1, silent: 1, reporting: 0, with_cadence: 1 });
    // An event ends the silence; null removes the cadence (logged: before 1, after null).
    await send(tenant, appendKey, "payments", [1]);
    expect((await sourceOf(tenant, readKey, "payments")).silent).toBe(false);
    const removed = (await (await put({ expected_every_seconds: null })).json()) as { source: SourceView };
    expect(removed.source.expected_every_seconds).toBeNull();
  });
});

describe("lag samples", () => {
  it("/stats/lag serves the mirror lag sampled per minute (stream lag null until streams report it)", async () => {
    const { tenant, appendKey, readKey } = await tenantWithKeys();
    await send(tenant, appendKey, "x", [0]);
    await runDurableObjectAlarm(logOf(tenant));
    const res = await api(`/v1/tenants/${tenant}/stats/lag`, { headers: { "x-api-key": readKey } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { sample_seconds: number; samples: Record<string, unknown>[] };
    expect(body.sample_seconds).toBe(60);
    expect(body.samples.length).toBeGreaterThanOrEqual(1);
    const last = body.samples.at(-1)!;
    expect(Date.parse(last.at as string)).toBe(Math.floor(Date.now() / 60_000) * 60_000);
    expect(last).toMatchObject({ stream_lag: null, stream_lag_ms: null });
    expect(typeof last.mirror_lag).toBe("number");
  });
});

describe("the tracker over real DO storage, with a test clock", () => {
  const withTracker = async <T>(
    fn: (t: SourceTracker, clock: { now: number }, state: DurableObjectState, alarm: Alarm) => T | Promise<T>,
  ) => {
    const stub = env.TENANT_LOG.get(env.TENANT_LOG.newUniqueId());
    return runInDurableObject(stub, async (_o, state) => {
      // In the future, so that no alarm the test arms fires while it runs.
      const clock = { now: Date.now() + 10 * 86_400_000 };
      const store = new LogStore(state.storage.sql);
      const alarm = new Alarm(state.storage);
      const tracker = new SourceTracker({
        sql: state.storage.sql,
        store,
        alarm,
        now: () => clock.now,
        mirrorLag: () => ({ entries: 0, ms: 0 }),
      });
      return fn(tracker, clock, state, alarm);
    });
  };

  it("source_gap is a condition once a gap has stayed open GAP_ALERT_AFTER_MS, with its ranges; it clears when filled", async () => {
    await withTracker((t, clock, state) => {
      const t0 = clock.now;
      state.storage.transactionSync(() =>
        t.observe(
          [0, 1, 4, 5, 9].map((seq) => ({ id: "api", seq })),
          t0,
        ),
      );
      expect(t.conditions(t0 + GAP_ALERT_AFTER_MS - 1)).toEqual([]);
      expect(t.conditions(t0 + GAP_ALERT_AFTER_MS)).toEqual([
        { kind: "source_gap", key: "api", detail: { ranges: "2-3, 6-8", missing: 5, open_gaps: 2 }, since: t0 },
      ]);
      state.storage.transactionSync(() =>
        t.observe(
          [2, 3, 6, 7, 8].map((seq) => ({ id: "api", seq })),
          t0 + 1,
        ),
      );
      expect(t.conditions(t0 + GAP_ALERT_AFTER_MS)).toEqual([]);
    });
  });

  it("source_silent is a condition past the cadence, since the deadline; the alarm is armed for it", async () => {
    await withTracker(async (t, clock, state, alarm) => {
      const t0 = clock.now;
      state.storage.transactionSync(() => {
        expect(t.setCadence("cron", 600_000, t0)).toEqual({ ok: true, before: null, after: 600 });
      });
      t.afterCommit();
      expect(await state.storage.getAlarm()).toBe(t0 + 600_000);
      state.storage.transactionSync(() => t.observe([{ id: "cron", seq: 0 }], t0 + 60_000));
      expect(t.conditions(t0 + 660_000)).toEqual([]);
      expect(t.conditions(t0 + 660_001)).toEqual([
        {
          kind: "source_silent",
          key: "cron",
          detail: { expected_every_seconds: 600, last_seen_at: new Date(t0 + 60_000).toISOString() },
          since: t0 + 660_000,
        },
      ]);
      // The alarm runs at the first deadline; its step re-arms for the moved one.
      await state.storage.deleteAlarm();
      alarm.fired();
      clock.now = t0 + 600_000;
      t.alarm();
      expect(await state.storage.getAlarm()).toBe(t0 + 660_000);
    });
  });

  it("a group whose transaction rolls back leaves no trace in the list, the summary or the conditions", async () => {
    await withTracker((t, clock, state) => {
      const t0 = clock.now;
      state.storage.transactionSync(() => t.observe([{ id: "s", seq: 0 }], t0));
      expect(t.conditions(t0 + GAP_ALERT_AFTER_MS)).toEqual([]);
      expect(() =>
        state.storage.transactionSync(() => {
          t.observe([{ id: "s", seq: 5 }], t0);
          throw new Error("commit failed");
        }),
      ).toThrow("commit failed");
      expect(t.conditions(t0 + GAP_ALERT_AFTER_MS)).toEqual([]);
      expect(t.source("s")).toMatchObject({ last_seq: 0, gaps: [], events: 1 });
      expect(t.summary()).toMatchObject({ open_gaps: 0, missing: 0 });
    });
  });

  it("any arrival order, in any grouping: the open gaps are exactly the numbers not received below the highest (fast-check)", async () => {
    await withTracker((t, clock, state) => {
      let run = 0;
      fc.assert(
        fc.property(
          fc.array(fc.nat({ max: 60 }), { maxLength: 80 }),
          fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 20 }),
          (arrivals, groupSizes) => {
            const id = `p${run++}`;
            // Groups of the sizes given, in turn (the last size repeats), each its own transaction.
            for (let at = 0, g = 0; at < arrivals.length; g++) {
              const size = groupSizes[Math.min(g, groupSizes.length - 1)]!;
              const group = arrivals.slice(at, at + size).map((seq) => ({ id, seq }));
              state.storage.transactionSync(() => t.observe(group, clock.now));
              at += size;
            }
            const seen = new Set<number>();
            let restarts = 0;
            let duplicates = 0;
            for (const n of arrivals) {
              if (seen.has(n)) {
                if (n === 0) restarts++;
                else duplicates++;
              }
              seen.add(n);
            }
            const view = t.source(id);
            if (arrivals.length === 0) {
              expect(view).toBeUndefined();
              return;
            }
            const high = Math.max(...arrivals);
            const expected: Gap[] = [];
            for (let n = 0; n <= high; n++) {
              if (seen.has(n)) continue;
              const last = expected.at(-1);
              if (last && last.to === n - 1) last.to = n;
              else expected.push({ from: n, to: n });
            }
            expect(ranges(view!)).toEqual(expected);
            expect(view).toMatchObject({ last_seq: high, events: arrivals.length, restarts, duplicates });
            expect(view!.missing).toBe(high + 1 - seen.size);
          },
        ),
        { numRuns: 200 },
      );
    });
  });
});
