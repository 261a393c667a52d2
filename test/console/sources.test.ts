/** The Sources and KPI pages' pure helpers, and the overview's source alerts, on Node. */
import { describe, expect, test } from "vitest";
import { coverage, incidentsOf, timeToDetect } from "../../src/console/kpi";
import { alertsOf } from "../../src/console/overview";
import { cadenceText, rangesText, sourceStatus } from "../../src/console/sources";
import type { SourceRow, Stats } from "../../src/console/wire";

const none = { tracked: 0, reporting: 0, silent: 0, with_cadence: 0, with_gaps: 0, open_gaps: 0, missing: 0, untracked_events: 0 };

describe("sources in the console", () => {
  test("missing ranges read as inclusive ranges; single numbers alone", () => {
    expect(rangesText([])).toBe("");
    expect(
      rangesText([
        { from: 3, to: 4 },
        { from: 7, to: 7 },
        { from: 10, to: 2 ** 53 - 2 },
      ]),
    ).toBe(`3–4, 7, 10–${2 ** 53 - 2}`);
    expect([cadenceText(null), cadenceText(90), cadenceText(600), cadenceText(7200), cadenceText(86_400)]).toEqual([
      "none",
      "90 s",
      "10 min",
      "2 h",
      "1 d",
    ]);
  });

  test("a source's status names silence, missing numbers, restarts and duplicates", () => {
    const row: SourceRow = {
      id: "s",
      last_seq: 9,
      events: 6,
      last_seen_at: null,
      expected_every_seconds: 600,
      silent: false,
      silent_since: null,
      missing: 0,
      gaps: [],
      filled: 0,
      restarts: 0,
      duplicates: 0,
      forgotten: { gaps: 0, missing: 0 },
    };
    expect(sourceStatus(row)).toEqual({ tone: "ok", text: "complete" });
    expect(sourceStatus({ ...row, restarts: 1 })).toEqual({ tone: "warn", text: "1 restart(s)" });
    expect(sourceStatus({ ...row, silent: true, missing: 4 })).toEqual({
      tone: "bad",
      text: "silent (no event for over 10 min) · 4 missing",
    });
  });

  test("coverage counts sources with a cadence; time to detect is the median and the longest", () => {
    expect(coverage(none)).toBeNull();
    expect(coverage({ ...none, tracked: 5, with_cadence: 4, silent: 1 })).toEqual({ percent: 75, onTime: 3, declared: 4 });
    expect(timeToDetect([])).toBeNull();
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    const incident = (start: number, raised: number) => ({
      kind: "source_gap",
      key: "s",
      started_at: at(start),
      raised_at: at(raised),
      ended_at: null,
    });
    expect(timeToDetect([incident(0, 60), incident(0, 2), incident(10, 40)])).toEqual({ count: 3, medianMs: 30_000, maxMs: 60_000 });
  });

  test("time to detect is read from /stats recent_incidents: raised_at − started_at", () => {
    const recent = [
      {
        kind: "source_gap",
        key: "s",
        started_at: "2026-01-01T00:00:00.000Z",
        raised_at: "2026-01-01T00:01:00.000Z",
        ended_at: null,
        detail: {},
      },
      {
        kind: "mirror_lag",
        key: "",
        started_at: "2026-01-01T00:00:00.000Z",
        raised_at: "2026-01-01T00:00:30.000Z",
        ended_at: "2026-01-01T00:05:00.000Z",
        detail: {},
      },
    ];
    const found = incidentsOf({ recent_incidents: recent } as unknown as Stats);
    expect(found.map((i) => i.raised_at)).toEqual(["2026-01-01T00:01:00.000Z", "2026-01-01T00:00:30.000Z"]);
    expect(timeToDetect(found)).toEqual({ count: 2, medianMs: 45_000, maxMs: 60_000 });
  });

  test("the overview alerts name missing events and silent sources", () => {
    const stats = { sources: { ...none, tracked: 2, with_gaps: 1, open_gaps: 2, missing: 4, silent: 1, with_cadence: 1 } };
    const texts = alertsOf(
      {
        witness_alert_count: 0,
        witnesses: [],
        seal_failures: 0,
        refusing_writes: false,
        last_full_verification: null,
        mirror_lag_alert: false,
        mirror_lag: 0,
        ingest_stalled: false,
        skewed_events: 0,
        retention_error: null,
        ...stats,
      } as unknown as Stats,
      null,
    ).map((a) => `${a.tone}: ${a.text}`);
    expect(texts).toEqual([
      "bad: 4 event(s) missing from 1 source(s): their numbers never arrived (2 range(s)). See Sources.",
      "warn: 1 source(s) silent for longer than their declared cadence. See Sources.",
    ]);
  });
});
