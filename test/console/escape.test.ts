/** The console's pure helpers, on Node: how untrusted text is escaped, and which alerts show. */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { Stats } from "../../src/console/wire";
import { escapeParts } from "../../src/console/dom";
import { alertsOf } from "../../src/console/overview";

/** Independent of dom.ts: every character that must never be shown raw, listed by hand. */
const MUST_ESCAPE = [
  ...Array.from({ length: 0x20 }, (_, i) => i),
  0x7f,
  ...Array.from({ length: 0x20 }, (_, i) => 0x80 + i),
  0x00ad,
  0x061c,
  0x180e,
  0x200b,
  0x200c,
  0x200d,
  0x200e,
  0x200f,
  0x2028,
  0x2029,
  0x202a,
  0x202b,
  0x202c,
  0x202d,
  0x202e,
  0x2060,
  0x2066,
  0x2067,
  0x2068,
  0x2069,
  0xfeff,
  0xfff9,
  0xfffa,
  0xfffb,
  0xe0001,
  0xe0041,
  0xe007f,
].map((c) => String.fromCodePoint(c));
const SUSPECT = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

describe("escapeParts", () => {
  test.each([
    { desc: "plain text is one plain run", input: "user.login", want: [{ text: "user.login", escaped: false }] },
    { desc: "HTML is left as text (text nodes make it inert)", input: "<b>x</b>", want: [{ text: "<b>x</b>", escaped: false }] },
    {
      desc: "CR LF (header injection) is shown as \\r\\n",
      input: "a\r\nb",
      want: [
        { text: "a", escaped: false },
        { text: "\\r", escaped: true },
        { text: "\\n", escaped: true },
        { text: "b", escaped: false },
      ],
    },
    {
      desc: "an ANSI escape shows its ESC",
      input: "\u001b[31m",
      want: [
        { text: "\\u{001B}", escaped: true },
        { text: "[31m", escaped: false },
      ],
    },
    {
      desc: "a right-to-left override is shown, not obeyed",
      input: "gnp\u202Eexe",
      want: [
        { text: "gnp", escaped: false },
        { text: "\\u{202E}", escaped: true },
        { text: "exe", escaped: false },
      ],
    },
    {
      desc: "bidi isolates, zero-width and BOM are shown",
      input: "\u2066\u200b\ufeff",
      want: ["\\u{2066}", "\\u{200B}", "\\u{FEFF}"].map((text) => ({ text, escaped: true })),
    },
    {
      desc: "C1 controls and DEL are shown",
      input: "\u0085\u007f",
      want: ["\\u{0085}", "\\u{007F}"].map((text) => ({ text, escaped: true })),
    },
    { desc: "a tag character (outside the BMP) is shown as one escape", input: "\u{E0041}", want: [{ text: "\\u{E0041}", escaped: true }] },
  ])("$desc", ({ input, want }) => {
    expect(escapeParts(input)).toEqual(want);
  });

  test.each(MUST_ESCAPE.map((ch) => ({ ch, hex: ch.codePointAt(0)!.toString(16) })))("U+$hex is escaped", ({ ch }) => {
    expect(escapeParts(`a${ch}b`)).toEqual([
      { text: "a", escaped: false },
      {
        text:
          ({ "\t": "\\t", "\n": "\\n", "\r": "\\r" } as Record<string, string>)[ch] ??
          `\\u{${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}}`,
        escaped: true,
      },
      { text: "b", escaped: false },
    ]);
  });

  test("letters, digits, punctuation, emoji and right-to-left script are shown as they are", () => {
    const fine = "Zoë 42 €!? — 漢字 שלום مرحبا 😀";
    expect(escapeParts(fine)).toEqual([{ text: fine, escaped: false }]);
  });

  test("no suspect character survives, and the plain runs are the input's own text in order", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.oneof(fc.constantFrom(...MUST_ESCAPE), fc.string({ unit: "binary", minLength: 1, maxLength: 1 })) }),
        (s) => {
          const parts = escapeParts(s);
          for (const p of parts) expect(SUSPECT.test(p.text)).toBe(false);
          const plain = parts
            .filter((p) => !p.escaped)
            .map((p) => p.text)
            .join("");
          expect(plain).toBe(s.replace(new RegExp(SUSPECT, "gu"), ""));
          expect(parts.filter((p) => p.escaped)).toHaveLength((s.match(new RegExp(SUSPECT, "gu")) ?? []).length);
        },
      ),
    );
  });
});

describe("alertsOf", () => {
  const fullPassed = { job_id: "j", ok: true, failures: 0, finished_at: "2026-11-26T00:00:00Z", range: { from: 0, to: 10 } };
  const calm: Stats = {
    size: 10,
    placement: { jurisdiction: "default", shard: 0 },
    mirrored_to: 10,
    mirror_lag: 0,
    mirror_lag_ms: 0,
    mirror_lag_alert: false,
    mirror_failures: 0,
    sealed_to: 10,
    latest_seal: null,
    seal_failures: 0,
    last_seal_error: null,
    refusing_writes: false,
    skewed_events: 0,
    last_received_at: null,
    usual_gap_ms: null,
    ingest_stalled: false,
    witnesses: [],
    witness_quorum: 0,
    witnessed_size: 0,
    witness_alert_count: 0,
    witness_alerts: [],
    retention_floor: 0,
    retention_cleaned_to: 0,
    retention_error: null,
    last_full_verification: fullPassed,
    active_holds: 0,
    sources: { tracked: 0, reporting: 0, silent: 0, with_cadence: 0, with_gaps: 0, open_gaps: 0, missing: 0, untracked_events: 0 },
    open_alerts: [],
    recent_incidents: [],
    streams: [],
  };
  const passed = { job_id: "j", mode: "full", range: { from: 0, to: 10 }, ok: true, failures: 0 };
  const failedFull = { last_full_verification: { ...fullPassed, ok: false, failures: 3 } };

  test("a calm tenant has no alerts", () => {
    expect(alertsOf(calm, passed)).toEqual([]);
    expect(alertsOf(calm, null)).toEqual([]);
    expect(alertsOf({ ...calm, last_full_verification: null }, null)).toEqual([]);
    // Retention that has pruned and finished its deletions is calm too; a failing deletion is a warning.
    expect(alertsOf({ ...calm, retention_floor: 300, retention_cleaned_to: 300 }, passed)).toEqual([]);
    expect(alertsOf({ ...calm, retention_floor: 300, retention_error: "object is locked" }, passed)).toEqual([
      {
        tone: "warn",
        text: expect.stringContaining("Retention could not delete everything below entry 300 (done below 0): object is locked"),
      },
    ]);
  });

  test.each([
    { desc: "refusal from the reconcile check", stats: { refusing_writes: true }, report: passed, tone: "bad", text: "refuses writes" },
    { desc: "a failed verification", stats: failedFull, report: { ...passed, ok: false, failures: 3 }, tone: "bad", text: "3 failure(s)" },
    // Issue #13: the status is the last full run; a newer range run that passes does not hide it.
    {
      desc: "a failed full run, then a passing range run",
      stats: failedFull,
      report: { ...passed, job_id: "r", mode: "range", range: { from: 0, to: 1 } },
      tone: "bad",
      text: "The last verification failed with 3 failure(s)",
    },
    {
      desc: "a failing range run",
      stats: {},
      report: { ...passed, job_id: "r", mode: "range", range: { from: 0, to: 1 }, ok: false, failures: 2 },
      tone: "bad",
      text: "A range verification of entries [0, 1) found 2 failure(s)",
    },
    { desc: "sealing failing", stats: { seal_failures: 2, last_seal_error: "R2 down" }, report: passed, tone: "bad", text: "R2 down" },
    {
      desc: "mirror behind after failures",
      stats: { mirror_lag: 40, mirror_failures: 1 },
      report: passed,
      tone: "warn",
      text: "40 entries behind",
    },
    // Issue #15: acks no longer wait for D1; a mirror lag past the threshold is flagged, failures or not.
    {
      desc: "mirror lag past the alert threshold",
      stats: { mirror_lag: 900, mirror_lag_ms: 45_000, mirror_lag_alert: true },
      report: passed,
      tone: "warn",
      text: "900 entries and 45.0 s behind",
    },
    { desc: "ingest stalled", stats: { ingest_stalled: true }, report: passed, tone: "warn", text: "No events" },
    { desc: "clock skew", stats: { skewed_events: 2 }, report: passed, tone: "warn", text: "2 event(s)" },
    // Issue #16: a witness refusing our checkpoint (422) or holding a larger tree (409) may mean a split view.
    {
      desc: "a witness alert",
      stats: {
        witness_alert_count: 1,
        witness_alerts: [
          { at: "2026-11-30T00:00:00Z", witness: "https://w.example", reason: "witness_inconsistent", size: 9, detail: "inconsistent" },
        ] as Stats["witness_alerts"],
      },
      report: passed,
      tone: "bad",
      text: "A witness refused this log's checkpoint (1 alert(s); the latest: https://w.example, inconsistent)",
    },
    {
      desc: "a failing witness",
      stats: {
        witnesses: [{ url: "https://w.example", key: "k", cosigned_size: 4, failures: 2, last_error: "timed out" }] as Stats["witnesses"],
        witness_quorum: 1,
        witnessed_size: 4,
      },
      report: passed,
      tone: "warn",
      text: "1 witness(es) failing: https://w.example (timed out)",
    },
  ] as const)("$desc", ({ stats, report, tone, text }) => {
    const alerts = alertsOf({ ...calm, ...stats }, report);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.tone).toBe(tone);
    expect(alerts[0]!.text).toContain(text);
  });

  test("a mirror that is merely catching up (no failures) raises nothing", () => {
    expect(alertsOf({ ...calm, mirror_lag: 5 }, passed)).toEqual([]);
  });

  test("a paused log stream is a warning with its last error; a lagging active one is not", () => {
    const stream = { id: "st_1", name: "siem", type: "webhook", lag_entries: 12, lag_seconds: 30, paused: true, last_error: "HTTP 503" };
    const alerts = alertsOf({ ...calm, streams: [stream] }, passed);
    expect(alerts).toEqual([{ tone: "warn", text: expect.stringContaining("“siem” (webhook) is paused, 12 entries behind: HTTP 503") }]);
    expect(alertsOf({ ...calm, streams: [{ ...stream, paused: false }] }, passed)).toEqual([]);
  });
});
