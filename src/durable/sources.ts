/**
 * Missed events (issue #18.4; docs/design.md "Sources: gaps and silence"): events may carry
 * `source: {id, seq}`, numbered 0, 1, 2, … by their source (the SDK does it). For each source the
 * log keeps the highest number seen and the numbers it has not seen below it, as exact ranges
 * (the open gaps); a late event inside a gap shrinks or splits it, and the last one closes it.
 * A source may declare a cadence (at least one event every N seconds): past it, it is silent.
 *
 * Bookkeeping happens inside the group commit's transaction (sequencer.ts calls `observe` once
 * per group with the sources of the entries it created, never for an idempotent replay): one
 * SELECT and one upsert per source the group touches, its gap rows read only when a number at or
 * below its highest arrives (a fill, a duplicate, a restart) or its gap cap is reached. Nothing is
 * remembered across transactions but which sources changed (`#dirty`), so a rolled-back group
 * leaves no stale state: what changed is read again from storage when next needed.
 *
 * Bounds (docs/storage-schema.md "Sources"): at most MAX_SOURCES sources per tenant (events of
 * further sources are stored as usual, never refused, and counted as untracked); at most
 * MAX_OPEN_GAPS open ranges per source (past it the lowest range is forgotten, and counted: its
 * late events then count as duplicates). A number at or below the highest seen and in no open gap
 * is a duplicate, or, when it is 0, a restart (a source that lost its counter starts at 0 again;
 * gaps are found again once its numbers pass the highest seen): reported, never a gap.
 *
 * Also here: the KPI samples (mirror and stream lag, one row per minute for 24 h, a ring), and the
 * alert conditions `source_gap` and `source_silent` (`SourceAlerts`, an AlertSource).
 */
import type { AlertCondition, AlertSource } from "./alert-types";
import type { Alarm } from "./alarm";
import type { LogStore } from "./log-store";

/** Sources tracked per tenant. */
export const MAX_SOURCES = 1_000;
/** Open gap ranges kept per source; past it the lowest is forgotten (counted). */
export const MAX_OPEN_GAPS = 100;
/**
 * A gap becomes an alert condition once it has stayed open this long: the SDK sends batches
 * concurrently, so numbers may arrive out of order for a moment. /stats and the list show it at once.
 */
export const GAP_ALERT_AFTER_MS = 60_000;
/** Declared cadence bounds, in seconds (PUT /v1/tenants/:t/sources/:id). */
export const CADENCE_MIN_SECONDS = 1;
export const CADENCE_MAX_SECONDS = 30 * 86_400;
/** KPI ring: one sample per minute for 24 hours. */
export const KPI_SLOT_MS = 60_000;
export const KPI_SLOTS = 1_440;
/** A sample row is written at most this often (the minute's row keeps the highest lag seen). */
export const KPI_WRITE_EVERY_MS = 10_000;
/** Ranges named in an alert's detail (the list route gives them all). */
const ALERT_RANGES = 10;
/** Counter (log-store.ts `counters`) of events from sources past MAX_SOURCES. */
export const UNTRACKED_COUNTER = "untracked_source_events";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sources (
  id TEXT PRIMARY KEY,
  high INTEGER,
  first_seen INTEGER,
  last_seen INTEGER,
  events INTEGER NOT NULL,
  open_gaps INTEGER NOT NULL,
  missing INTEGER NOT NULL,
  filled INTEGER NOT NULL,
  restarts INTEGER NOT NULL,
  duplicates INTEGER NOT NULL,
  last_reused_seq INTEGER,
  last_reused_at INTEGER,
  forgotten_gaps INTEGER NOT NULL,
  forgotten_missing INTEGER NOT NULL,
  expected_every_ms INTEGER,
  cadence_since INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS source_gaps (
  source TEXT NOT NULL,
  from_seq INTEGER NOT NULL,
  to_seq INTEGER NOT NULL,
  opened_at INTEGER NOT NULL,
  PRIMARY KEY (source, from_seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kpi_samples (
  slot INTEGER PRIMARY KEY,
  minute INTEGER NOT NULL,
  mirror_lag INTEGER NOT NULL,
  mirror_lag_ms INTEGER NOT NULL,
  stream_lag INTEGER,
  stream_lag_ms INTEGER
);
`;

/** One source's row. `high` is null until its first event (a cadence may be declared before). */
interface SourceRow {
  id: string;
  high: number | null;
  firstSeen: number | null;
  lastSeen: number | null;
  events: number;
  openGaps: number;
  missing: number;
  filled: number;
  restarts: number;
  duplicates: number;
  lastReusedSeq: number | null;
  lastReusedAt: number | null;
  forgottenGaps: number;
  forgottenMissing: number;
  expectedEveryMs: number | null;
  cadenceSince: number | null;
}

/** Numbers [from, to] (inclusive) not received, since `openedAt`. */
export interface Gap {
  from: number;
  to: number;
  openedAt: number;
}

/** One group's work on one source. */
interface Work {
  row: SourceRow;
  isNew: boolean;
  /** The stored gaps (sorted by `from`) once read, with this group's changes; else undefined. */
  gaps: Gap[] | undefined;
  /** The stored gaps as read (from → to), to write only the difference. */
  stored: Map<number, number> | undefined;
  /** Gaps opened by this group while `gaps` was not read (all above every stored one). */
  added: Gap[];
}

export interface SourceGapView {
  /** The first and last missing number (inclusive). */
  from: number;
  to: number;
  opened_at: string;
}

/** A source as GET /v1/tenants/:t/sources shows it. */
export interface SourceView {
  id: string;
  last_seq: number | null;
  events: number;
  first_seen_at: string | null;
  last_seen_at: string | null;
  expected_every_seconds: number | null;
  silent: boolean;
  /** When its cadence ran out (null: not silent). */
  silent_since: string | null;
  /** Numbers missing in the open gaps. */
  missing: number;
  gaps: SourceGapView[];
  /** Gaps closed by late events (each number that arrived late counts once). */
  filled: number;
  restarts: number;
  duplicates: number;
  last_reused: { seq: number; at: string } | null;
  /** Ranges (and their numbers) no longer tracked, past MAX_OPEN_GAPS. */
  forgotten: { gaps: number; missing: number };
}

/** The `sources` part of /stats. */
export interface SourceSummary {
  tracked: number;
  /** Tracked sources not silent (events seen, or a cadence not yet run out). */
  reporting: number;
  silent: number;
  with_cadence: number;
  with_gaps: number;
  open_gaps: number;
  missing: number;
  /** Events of sources past the per-tenant cap: stored, not tracked. */
  untracked_events: number;
}

/** One KPI sample: the highest lags seen in a minute. */
export interface LagSample {
  at: string;
  mirror_lag: number;
  mirror_lag_ms: number;
  /** Null while the tenant has no active stream (`SourceTrackerDeps.streamLag`). */
  stream_lag: number | null;
  stream_lag_ms: number | null;
}

export type SourceError = { reason: "too_many_sources"; limit: number };

export interface SourceTrackerDeps {
  sql: SqlStorage;
  store: LogStore;
  alarm: Alarm;
  now: () => number;
  /** The mirror's lag now: entries not in D1, and ms since the oldest of them was committed. */
  mirrorLag: () => { entries: number; ms: number };
  /**
   * The slowest stream's lag (issue #18.1; stream-alerts.ts `streamLagOf`), or null when the
   * tenant has no active stream; `ms` is null when the oldest undelivered entry left DO storage.
   */
  streamLag?: () => { entries: number; ms: number | null } | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const nullable = (v: SqlStorageValue | undefined): number | null => (v === null || v === undefined ? null : Number(v));

function rowOf(r: Record<string, SqlStorageValue>): SourceRow {
  return {
    id: String(r.id),
    high: nullable(r.high),
    firstSeen: nullable(r.first_seen),
    lastSeen: nullable(r.last_seen),
    events: Number(r.events),
    openGaps: Number(r.open_gaps),
    missing: Number(r.missing),
    filled: Number(r.filled),
    restarts: Number(r.restarts),
    duplicates: Number(r.duplicates),
    lastReusedSeq: nullable(r.last_reused_seq),
    lastReusedAt: nullable(r.last_reused_at),
    forgottenGaps: Number(r.forgotten_gaps),
    forgottenMissing: Number(r.forgotten_missing),
    expectedEveryMs: nullable(r.expected_every_ms),
    cadenceSince: nullable(r.cadence_since),
  };
}

const emptyRow = (id: string): SourceRow => ({
  id,
  high: null,
  firstSeen: null,
  lastSeen: null,
  events: 0,
  openGaps: 0,
  missing: 0,
  filled: 0,
  restarts: 0,
  duplicates: 0,
  lastReusedSeq: null,
  lastReusedAt: null,
  forgottenGaps: 0,
  forgottenMissing: 0,
  expectedEveryMs: null,
  cadenceSince: null,
});

/** When a source with a cadence falls silent: its last event (or the declaration) plus the cadence. */
const silentAt = (r: Pick<SourceRow, "expectedEveryMs" | "lastSeen" | "cadenceSince">): number | null =>
  r.expectedEveryMs === null ? null : (r.lastSeen ?? r.cadenceSince ?? 0) + r.expectedEveryMs;

/** "5-6, 9" (inclusive ranges, as people read them). */
export const rangesText = (gaps: readonly { from: number; to: number }[]): string =>
  gaps.map((g) => (g.from === g.to ? String(g.from) : `${g.from}-${g.to}`)).join(", ");

/** What the alert conditions need of a source with a cadence or open gaps. */
interface AlertFacts {
  lastSeen: number | null;
  cadenceSince: number | null;
  expectedEveryMs: number | null;
  openGaps: number;
  missing: number;
  /** The lowest ranges (≤ ALERT_RANGES) and when the oldest open one opened. */
  ranges: Gap[];
  gapSince: number | null;
}

export class SourceTracker implements AlertSource {
  readonly #d: SourceTrackerDeps;
  readonly #sql: SqlStorage;
  /** Alert facts per source, for sources with a cadence or gaps; undefined: read them all again. */
  #facts: Map<string, AlertFacts> | undefined;
  /** Sources changed since #facts was read (by a group, committed or not): read again when needed. */
  readonly #dirty = new Set<string>();
  /** The earliest deadline (gap alert, silence) a change made, for the alarm (armed after the commit). */
  #armAt: number | null = null;
  #lastSampleAt = -Infinity;

  constructor(deps: SourceTrackerDeps) {
    this.#d = deps;
    this.#sql = deps.sql;
    this.#sql.exec(SCHEMA);
  }

  /**
   * The sources of the entries one group created, in sequence order, received at `atMs`. Runs
   * inside the commit's transactionSync (sequencer.ts): synchronous, and everything it writes
   * commits or rolls back with the entries.
   */
  observe(sources: readonly { id: string; seq: number }[], atMs: number): void {
    const work = new Map<string, Work | null>();
    let untracked = 0;
    let count: number | undefined;
    for (const { id, seq } of sources) {
      // The Worker validated both (event-schema.ts `Source`); anything else is not counted.
      if (typeof id !== "string" || !Number.isSafeInteger(seq) || seq < 0) continue;
      let w = work.get(id);
      if (w === undefined) {
        const stored = this.#read(id);
        if (stored) w = { row: stored, isNew: false, gaps: undefined, stored: undefined, added: [] };
        else {
          count ??= this.#count();
          if (count >= MAX_SOURCES) w = null;
          else {
            count += 1;
            w = { row: emptyRow(id), isNew: true, gaps: [], stored: new Map(), added: [] };
          }
        }
        work.set(id, w);
      }
      if (w === null) untracked += 1;
      else this.#apply(w, seq, atMs);
    }
    for (const w of work.values()) if (w) this.#write(w);
    if (untracked > 0) this.#d.store.setCounter(UNTRACKED_COUNTER, this.#d.store.counter(UNTRACKED_COUNTER) + untracked);
    for (const id of work.keys()) this.#dirty.add(id);
  }

  #apply(w: Work, seq: number, atMs: number): void {
    const r = w.row;
    r.events += 1;
    r.firstSeen ??= atMs;
    r.lastSeen = atMs;
    if (r.high === null) {
      // Numbering starts at 0: a first number above it means the ones before it are missing.
      if (seq > 0) this.#open(w, 0, seq - 1, atMs);
      r.high = seq;
    } else if (seq > r.high) {
      if (seq > r.high + 1) this.#open(w, r.high + 1, seq - 1, atMs);
      r.high = seq;
    } else if (!this.#fill(w, seq)) {
      // At or below the highest and in no open gap: sent twice, or a source that restarted at 0.
      if (seq === 0) r.restarts += 1;
      else r.duplicates += 1;
      r.lastReusedSeq = seq;
      r.lastReusedAt = atMs;
    }
  }

  /** A late number: shrinks or splits the open gap holding it (closes it if it was the last); false if none does. */
  #fill(w: Work, seq: number): boolean {
    if (w.row.openGaps === 0) return false;
    const gaps = this.#gaps(w);
    const i = gaps.findIndex((g) => g.from <= seq && seq <= g.to);
    if (i < 0) return false;
    const g = gaps[i]!;
    const parts: Gap[] = [];
    if (g.from < seq) parts.push({ from: g.from, to: seq - 1, openedAt: g.openedAt });
    if (seq < g.to) parts.push({ from: seq + 1, to: g.to, openedAt: g.openedAt });
    gaps.splice(i, 1, ...parts);
    w.row.openGaps += parts.length - 1;
    w.row.missing -= 1;
    w.row.filled += 1;
    return true;
  }

  /** A new open gap [from, to] above every other; past MAX_OPEN_GAPS the lowest is forgotten (counted). */
  #open(w: Work, from: number, to: number, atMs: number): void {
    const r = w.row;
    if (r.openGaps >= MAX_OPEN_GAPS) {
      const gaps = this.#gaps(w);
      const lowest = gaps.shift()!;
      r.openGaps -= 1;
      r.missing -= lowest.to - lowest.from + 1;
      r.forgottenGaps += 1;
      r.forgottenMissing += lowest.to - lowest.from + 1;
    }
    const gap = { from, to, openedAt: atMs };
    if (w.gaps) w.gaps.push(gap);
    else w.added.push(gap);
    r.openGaps += 1;
    r.missing += to - from + 1;
    const due = atMs + GAP_ALERT_AFTER_MS;
    this.#armAt = Math.min(this.#armAt ?? due, due);
  }

  /** The work's gaps, read from storage the first time (≤ MAX_OPEN_GAPS rows). */
  #gaps(w: Work): Gap[] {
    if (!w.gaps) {
      const stored = this.#storedGaps(w.row.id);
      w.stored = new Map(stored.map((g) => [g.from, g.to]));
      w.gaps = [...stored, ...w.added];
      w.added = [];
    }
    return w.gaps;
  }

  #write(w: Work): void {
    const r = w.row;
    this.#sql.exec(
      `INSERT INTO sources (id, high, first_seen, last_seen, events, open_gaps, missing, filled, restarts, duplicates,
         last_reused_seq, last_reused_at, forgotten_gaps, forgotten_missing, expected_every_ms, cadence_since)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET high = excluded.high, first_seen = excluded.first_seen, last_seen = excluded.last_seen,
         events = excluded.events, open_gaps = excluded.open_gaps, missing = excluded.missing, filled = excluded.filled,
         restarts = excluded.restarts, duplicates = excluded.duplicates, last_reused_seq = excluded.last_reused_seq,
         last_reused_at = excluded.last_reused_at, forgotten_gaps = excluded.forgotten_gaps,
         forgotten_missing = excluded.forgotten_missing, expected_every_ms = excluded.expected_every_ms,
         cadence_since = excluded.cadence_since`,
      r.id,
      r.high,
      r.firstSeen,
      r.lastSeen,
      r.events,
      r.openGaps,
      r.missing,
      r.filled,
      r.restarts,
      r.duplicates,
      r.lastReusedSeq,
      r.lastReusedAt,
      r.forgottenGaps,
      r.forgottenMissing,
      r.expectedEveryMs,
      r.cadenceSince,
    );
    // Gap rows: only the difference with what was stored.
    const final = w.gaps ?? w.added;
    const stored = w.stored ?? new Map<number, number>();
    const kept = new Map(final.map((g) => [g.from, g]));
    for (const [from, to] of stored) {
      if (kept.get(from)?.to !== to) this.#sql.exec("DELETE FROM source_gaps WHERE source = ? AND from_seq = ?", r.id, from);
    }
    for (const g of final) {
      if (stored.get(g.from) === g.to) continue;
      this.#sql.exec("INSERT INTO source_gaps (source, from_seq, to_seq, opened_at) VALUES (?, ?, ?, ?)", r.id, g.from, g.to, g.openedAt);
    }
  }

  #read(id: string): SourceRow | undefined {
    const r = this.#sql.exec("SELECT * FROM sources WHERE id = ?", id).toArray()[0];
    return r ? rowOf(r) : undefined;
  }

  #count(): number {
    return Number(this.#sql.exec("SELECT count(*) AS n FROM sources").one().n);
  }

  #storedGaps(id: string, limit = MAX_OPEN_GAPS): Gap[] {
    return this.#sql
      .exec("SELECT from_seq, to_seq, opened_at FROM source_gaps WHERE source = ? ORDER BY from_seq LIMIT ?", id, limit)
      .toArray()
      .map((g) => ({ from: Number(g.from_seq), to: Number(g.to_seq), openedAt: Number(g.opened_at) }));
  }

  /**
   * Declares (or, with null, removes) a source's cadence, inside the transaction that appends the
   * entry recording it (tenant-log.ts `setSourceCadence`). Returns the cadence before and after,
   * in seconds, or a refusal when the source is new and the tenant has MAX_SOURCES already.
   */
  setCadence(
    id: string,
    everyMs: number | null,
    nowMs: number,
  ): { ok: true; before: number | null; after: number | null } | { ok: false; error: SourceError } {
    const stored = this.#read(id);
    if (!stored && this.#count() >= MAX_SOURCES) return { ok: false, error: { reason: "too_many_sources", limit: MAX_SOURCES } };
    const row = stored ?? emptyRow(id);
    const before = row.expectedEveryMs;
    row.expectedEveryMs = everyMs;
    row.cadenceSince = everyMs === null ? null : nowMs;
    this.#write({ row, isNew: !stored, gaps: undefined, stored: undefined, added: [] });
    this.#dirty.add(id);
    const due = silentAt(row);
    if (due !== null) this.#armAt = Math.min(this.#armAt ?? due, due);
    return { ok: true, before: before === null ? null : before / 1000, after: everyMs === null ? null : everyMs / 1000 };
  }

  /** After a commit: arms the alarm for a deadline the group made (a gap's alert, a cadence), and samples the lags. */
  afterCommit(): void {
    if (this.#armAt !== null) this.#d.alarm.arm(this.#armAt);
    this.#armAt = null;
    this.sample();
  }

  /**
   * The alarm's step: samples the lags, and arms the alarm for the next deadline (a gap that
   * becomes an alert, a source that falls silent), so the alert engine sees them on time.
   * Nothing here is durable state: a crash re-arms from storage at the next alarm or commit.
   */
  alarm(): void {
    const now = this.#d.now();
    this.sample();
    let next: number | null = null;
    for (const f of this.#alertFacts().values()) {
      const due = [silentAt(f), f.gapSince === null ? null : f.gapSince + GAP_ALERT_AFTER_MS];
      for (const d of due) if (d !== null && d > now) next = Math.min(next ?? d, d);
    }
    if (next !== null) this.#d.alarm.arm(next);
  }

  /** Writes the minute's KPI sample (the highest lag seen in it), at most every KPI_WRITE_EVERY_MS. */
  sample(): void {
    const now = this.#d.now();
    if (now - this.#lastSampleAt < KPI_WRITE_EVERY_MS) return;
    this.#lastSampleAt = now;
    const minute = Math.floor(now / KPI_SLOT_MS);
    const mirror = this.#d.mirrorLag();
    const stream = this.#d.streamLag?.() ?? null;
    this.#sql.exec(
      `INSERT INTO kpi_samples (slot, minute, mirror_lag, mirror_lag_ms, stream_lag, stream_lag_ms) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (slot) DO UPDATE SET
         mirror_lag = CASE WHEN minute = excluded.minute THEN max(mirror_lag, excluded.mirror_lag) ELSE excluded.mirror_lag END,
         mirror_lag_ms = CASE WHEN minute = excluded.minute THEN max(mirror_lag_ms, excluded.mirror_lag_ms) ELSE excluded.mirror_lag_ms END,
         stream_lag = CASE WHEN minute = excluded.minute AND stream_lag IS NOT NULL
           THEN max(stream_lag, coalesce(excluded.stream_lag, 0)) ELSE excluded.stream_lag END,
         stream_lag_ms = CASE WHEN minute = excluded.minute AND stream_lag_ms IS NOT NULL
           THEN max(stream_lag_ms, coalesce(excluded.stream_lag_ms, 0)) ELSE excluded.stream_lag_ms END,
         minute = excluded.minute`,
      minute % KPI_SLOTS,
      minute,
      mirror.entries,
      mirror.ms,
      stream?.entries ?? null,
      stream?.ms ?? null,
    );
  }

  /** The samples of the last 24 hours, oldest first (minutes without a commit or an alarm have none). */
  lagSamples(): LagSample[] {
    const minute = Math.floor(this.#d.now() / KPI_SLOT_MS);
    return this.#sql
      .exec("SELECT * FROM kpi_samples WHERE minute > ? ORDER BY minute", minute - KPI_SLOTS)
      .toArray()
      .map((r) => ({
        at: new Date(Number(r.minute) * KPI_SLOT_MS).toISOString(),
        mirror_lag: Number(r.mirror_lag),
        mirror_lag_ms: Number(r.mirror_lag_ms),
        stream_lag: nullable(r.stream_lag),
        stream_lag_ms: nullable(r.stream_lag_ms),
      }));
  }

  /** Sources in id order after `after`, at most `limit`, each with every open gap. */
  list(after: string | null, limit: number): { sources: SourceView[]; next: string | null } {
    const now = this.#d.now();
    const rows = this.#sql
      .exec("SELECT * FROM sources WHERE id > ? ORDER BY id LIMIT ?", after ?? "", limit + 1)
      .toArray()
      .map(rowOf);
    const page = rows.slice(0, limit);
    return {
      sources: page.map((r) => this.#view(r, now)),
      next: rows.length > limit ? page[page.length - 1]!.id : null,
    };
  }

  /** One source (undefined: never seen, no cadence). */
  source(id: string): SourceView | undefined {
    const r = this.#read(id);
    return r && this.#view(r, this.#d.now());
  }

  #view(r: SourceRow, now: number): SourceView {
    const due = silentAt(r);
    const silent = due !== null && now > due;
    return {
      id: r.id,
      last_seq: r.high,
      events: r.events,
      first_seen_at: iso(r.firstSeen),
      last_seen_at: iso(r.lastSeen),
      expected_every_seconds: r.expectedEveryMs === null ? null : r.expectedEveryMs / 1000,
      silent,
      silent_since: silent ? iso(due) : null,
      missing: r.missing,
      gaps: r.openGaps === 0 ? [] : this.#storedGaps(r.id).map((g) => ({ from: g.from, to: g.to, opened_at: iso(g.openedAt)! })),
      filled: r.filled,
      restarts: r.restarts,
      duplicates: r.duplicates,
      last_reused: r.lastReusedSeq === null ? null : { seq: r.lastReusedSeq, at: iso(r.lastReusedAt)! },
      forgotten: { gaps: r.forgottenGaps, missing: r.forgottenMissing },
    };
  }

  /** The /stats summary: one aggregate query. */
  summary(): SourceSummary {
    const now = this.#d.now();
    const r = this.#sql
      .exec(
        `SELECT count(*) AS tracked,
           coalesce(sum(expected_every_ms IS NOT NULL), 0) AS with_cadence,
           coalesce(sum(expected_every_ms IS NOT NULL AND ? > coalesce(last_seen, cadence_since, 0) + expected_every_ms), 0) AS silent,
           coalesce(sum(open_gaps > 0), 0) AS with_gaps,
           coalesce(sum(open_gaps), 0) AS open_gaps,
           coalesce(sum(missing), 0) AS missing
         FROM sources`,
        now,
      )
      .one();
    const tracked = Number(r.tracked);
    const silent = Number(r.silent);
    return {
      tracked,
      reporting: tracked - silent,
      silent,
      with_cadence: Number(r.with_cadence),
      with_gaps: Number(r.with_gaps),
      open_gaps: Number(r.open_gaps),
      missing: Number(r.missing),
      untracked_events: this.#d.store.counter(UNTRACKED_COUNTER),
    };
  }

  /**
   * AlertSource (alert-types.ts): `source_gap` per source with a gap open for GAP_ALERT_AFTER_MS
   * (detail: the missing ranges), `source_silent` per source past its cadence. From memory; only
   * sources changed since the last call are read again (bounded by MAX_SOURCES rows once).
   */
  conditions(now: number): AlertCondition[] {
    const out: AlertCondition[] = [];
    for (const [id, f] of this.#alertFacts()) {
      if (f.gapSince !== null && now - f.gapSince >= GAP_ALERT_AFTER_MS) {
        const shown = f.ranges.length < f.openGaps ? `${rangesText(f.ranges)}, …` : rangesText(f.ranges);
        out.push({ kind: "source_gap", key: id, detail: { ranges: shown, missing: f.missing, open_gaps: f.openGaps }, since: f.gapSince });
      }
      const due = silentAt(f);
      if (due !== null && now > due) {
        out.push({
          kind: "source_silent",
          key: id,
          detail: { expected_every_seconds: f.expectedEveryMs! / 1000, last_seen_at: iso(f.lastSeen) ?? "never" },
          since: due,
        });
      }
    }
    return out;
  }

  #alertFacts(): Map<string, AlertFacts> {
    if (!this.#facts) {
      this.#dirty.clear();
      const rows = this.#sql.exec("SELECT * FROM sources WHERE open_gaps > 0 OR expected_every_ms IS NOT NULL").toArray().map(rowOf);
      this.#facts = new Map(rows.map((r) => [r.id, this.#factsOf(r)]));
    } else if (this.#dirty.size > 0) {
      for (const id of this.#dirty) {
        const r = this.#read(id);
        if (r && (r.openGaps > 0 || r.expectedEveryMs !== null)) this.#facts.set(id, this.#factsOf(r));
        else this.#facts.delete(id);
      }
      this.#dirty.clear();
    }
    return this.#facts;
  }

  #factsOf(r: SourceRow): AlertFacts {
    const ranges = r.openGaps > 0 ? this.#storedGaps(r.id, ALERT_RANGES) : [];
    const oldest =
      r.openGaps > 0 ? nullable(this.#sql.exec("SELECT min(opened_at) AS at FROM source_gaps WHERE source = ?", r.id).one().at) : null;
    return {
      lastSeen: r.lastSeen,
      cadenceSince: r.cadenceSince,
      expectedEveryMs: r.expectedEveryMs,
      openGaps: r.openGaps,
      missing: r.missing,
      ranges,
      gapSince: oldest,
    };
  }
}
