/**
 * Retention (issue #17; docs/design.md invariant 4, "Retention"): the one path by which entry
 * bodies leave the log's stores. A sweep picks the new floor, the `to` of the last published
 * seal whose entries are all older than the tenant's period (and that D1 already holds), raises it in the commit that appends `sealtrail.retention.pruned`, and then
 * deletes the bodies below it: D1 rows (audit_events, audit_event_targets) in the tenant's shard,
 * DO `entries` rows, R2 seal bundles and R2 entry tiles (`tile/entries/…`) entirely below the
 * floor. Nothing else: leaf hashes and tree nodes (DO), hash tiles, checkpoints, manifests and
 * the KV index stay, so every proof still verifies and every pruned entry is provably there.
 *
 * Entries an active legal hold covers (`held`) keep their bodies everywhere: their D1 rows and
 * DO rows stay, and a seal bundle or entry tile holding any of them is kept whole.
 *
 * The floor is a counter in DO storage (the truth) and a row in D1's `retention_floor`
 * (migrations/0009: the D1 triggers refuse any DELETE at or above it). Deletions follow the
 * floor and are idempotent: `retention_cleaned` says how far they got, and a crash, a D1
 * failure or an R2 object under a bucket lock leaves it where it was, to be retried (by the
 * alarm, with backoff) from the same place.
 */
import { toBase64 } from "../core/bytes";
import { holdCoversEntry, type EntryFacts } from "../core/holds";
import { formatTimestamp, type JsonObject } from "../core/entry";
import { sealKeys } from "../core/seal";
import { TILE_WIDTH } from "../core/tiles";
import { entriesAt, entriesIn } from "./audit-events";
import { backoffMs, type Alarm } from "./alarm";
import type { GroupCommit } from "./group-commit";
import type { LogStore } from "./log-store";
import type { Receipt } from "./log-types";
import { tileKey } from "./tiles";
import { SEARCH_SEQ_SPAN } from "./search-index";

/** Counters (DO storage): entries below the floor are pruned; deletions are done below `cleaned`. */
export const RETENTION_FLOOR = "retention_floor";
export const RETENTION_CLEANED = "retention_cleaned";
/** The smallest seq below the floor whose body a hold kept (the next cleanup looks at it again). */
export const RETENTION_KEPT_FROM = "retention_kept_from";
/** The seq of the newest `sealtrail.retention.pruned` entry (its receipt; -1 before any). */
export const RETENTION_ENTRY = "retention_entry";
/** When the last scheduled sweep ran (ms). */
export const RETENTION_LAST_SWEEP = "retention_last_sweep";

export const PRUNED_ACTION = "sealtrail.retention.pruned";
/** The scheduled sweep runs daily, and soon after the object starts if one is due. */
export const SWEEP_INTERVAL_MS = 86_400_000;
export const SWEEP_AFTER_START_MS = 60_000;
export const DAY_MS = 86_400_000;
/** Seals one sweep looks at (a longer backlog continues at the next sweep). */
const SEALS_PER_SWEEP = 10_000;
/** D1 DELETE statements per batch. */
const DELETES_PER_BATCH = 50;

/** Whether an active hold covers an entry; null when no hold is active (nothing to look at). */
export type HeldCheck = ((e: EntryFacts) => boolean) | null;

/** The tenant's active legal holds (holds.ts) as the sweep asks them, read at each sweep. */
export function heldBy(holds: { active(): { scope: Parameters<typeof holdCoversEntry>[0] }[] }): () => HeldCheck {
  return () => {
    const active = holds.active();
    return active.length === 0 ? null : (e) => active.some((h) => holdCoversEntry(h.scope, e));
  };
}

/** A sweep's answer (POST …/retention/sweep, and the schedule's). */
export interface SweepResult {
  /** The range this sweep pruned, null if nothing was due (or everything due is held). */
  pruned: {
    from: number;
    to: number;
    cutoff: string;
    checkpoint: { size: number; root: string };
    seq: number;
  } | null;
  /** The floor after the sweep: entries below it are pruned (except what holds keep). */
  floor: number;
  /** Entries below the floor whose bodies a hold kept. */
  held_kept: number;
  /** Deletions are done up to the floor (false: one failed and is retried; `error` says why). */
  cleaned: boolean;
  error: string | null;
}

export interface RetentionStats {
  retention_floor: number;
  retention_cleaned_to: number;
  retention_error: string | null;
  retention_last_sweep_at: string | null;
}

export interface RetentionDeps {
  store: LogStore;
  commit: GroupCommit;
  alarm: Alarm;
  db: D1Database;
  bucket: R2Bucket;
  now: () => number;
  /** Whether an active hold covers an entry (holds.ts), read at each sweep. */
  held: () => HeldCheck;
  /** Seals what waits (sealer.ts), so the pruned entry is in a seal bundle soon: offline verifiers learn the floor from it. */
  seal: (tenant: string) => Promise<unknown>;
}

/** The entry a scheduled sweep appends (the range is added to its metadata), and its provenance. */
export function scheduledSweepEvent(tenant: string): { event: JsonObject; provenance: JsonObject } {
  return {
    event: {
      action: PRUNED_ACTION,
      actor: { id: "schedule", type: "system" },
      targets: [{ id: tenant, type: "tenant" }],
      outcome: "success",
      metadata: { by: "schedule" },
    },
    provenance: { principal_type: "system", principal_id: "schedule" },
  };
}

/** The hold facts of an entry's bytes (the bytes are the truth; D1's columns are copies). */
export function entryFacts(entry: string): EntryFacts {
  const e = JSON.parse(entry) as { received_at?: string; event?: { actor?: { id?: string }; targets?: { type?: string; id?: string }[] } };
  return {
    receivedAt: e.received_at ?? "",
    actorId: e.event?.actor?.id ?? "",
    targets: (e.event?.targets ?? []).map((t) => ({ type: t.type ?? "", id: t.id ?? "" })),
  };
}

/** Maximal runs [from, to) of `range` that hold no seq of `keep` (sorted). */
export function runsWithout(from: number, to: number, keep: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  let at = from;
  for (const k of keep) {
    if (k < at || k >= to) continue;
    if (k > at) runs.push([at, k]);
    at = k + 1;
  }
  if (at < to) runs.push([at, to]);
  return runs;
}

export class Retention {
  readonly #d: RetentionDeps;
  #chain: Promise<unknown> = Promise.resolve();
  #error: string | null = null;
  #failures = 0;

  constructor(deps: RetentionDeps) {
    this.#d = deps;
  }

  get floor(): number {
    return this.#d.store.counter(RETENTION_FLOOR);
  }

  stats(): RetentionStats {
    const { store } = this.#d;
    const last = store.counter(RETENTION_LAST_SWEEP);
    return {
      retention_floor: this.floor,
      retention_cleaned_to: store.counter(RETENTION_CLEANED),
      retention_error: this.#error,
      retention_last_sweep_at: last > 0 ? formatTimestamp(last) : null,
    };
  }

  /** At start: a scheduled sweep soon if one is due, else when it is; deletions left behind are retried then too. */
  start(): void {
    const due = this.#d.store.counter(RETENTION_LAST_SWEEP) + SWEEP_INTERVAL_MS;
    this.#d.alarm.arm(Math.max(this.#d.now() + SWEEP_AFTER_START_MS, due));
  }

  /** The alarm's step: a sweep when due (daily), else only retry deletions a failure left behind; re-arms. */
  async scheduled(tenant: string, event: JsonObject, provenance: JsonObject): Promise<void> {
    const { store, alarm, now } = this.#d;
    const due = store.counter(RETENTION_LAST_SWEEP) + SWEEP_INTERVAL_MS;
    if (now() >= due) {
      await this.sweep(tenant, event, provenance).catch((e: unknown) => {
        this.#error = String(e);
      });
      // Durable now: the time of this run, so a restart does not sweep again before the next is due.
      store.setCounter(RETENTION_LAST_SWEEP, now());
    } else if (store.counter(RETENTION_CLEANED) < this.floor || this.#error !== null) {
      await this.#serialized(() => this.#cleanup(tenant));
    }
    alarm.arm(store.counter(RETENTION_LAST_SWEEP) + SWEEP_INTERVAL_MS);
    if (this.#error !== null) alarm.arm(now() + backoffMs(this.#failures));
  }

  /**
   * One sweep: raise the floor if a range is due (appending `event`, completed with the range,
   * as `sealtrail.retention.pruned`), then delete what lies below it. Sweeps run one at a time.
   */
  sweep(tenant: string, event: JsonObject, provenance: JsonObject): Promise<SweepResult> {
    return this.#serialized(async () => {
      const pruned = await this.#raise(tenant, event, provenance);
      // The entry recording the floor goes into a seal now (a failure here is retried by the sealer's own schedule).
      if (pruned) await this.#d.seal(tenant).catch(() => undefined);
      const cleaned = await this.#cleanup(tenant);
      const { store } = this.#d;
      return {
        pruned,
        floor: this.floor,
        held_kept: cleaned.heldKept,
        cleaned: store.counter(RETENTION_CLEANED) >= this.floor,
        error: this.#error,
      };
    });
  }

  #serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(work, work);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** Picks the new floor and raises it in the commit that appends the pruned entry; null if none is due. */
  async #raise(tenant: string, event: JsonObject, provenance: JsonObject): Promise<SweepResult["pruned"]> {
    const { store, db, now, commit } = this.#d;
    const nowMs = now();
    const cutoffMs = nowMs - store.settings().retentionDays * DAY_MS;
    const from = this.floor;
    // Bodies may leave only once D1 holds everything below the floor: the mirror never reads below
    // it again. The tile writer writes no entry bundle reaching below the floor (tiles.ts).
    const limit = store.mirroredTo();
    const candidates = store
      .sealsCovering(from, limit)
      .filter((s) => s.published && s.to > from && s.to <= limit)
      .slice(0, SEALS_PER_SWEEP);
    if (candidates.length === 0) return null;
    // received_at never decreases (invariant 6): a seal is all older than the cutoff when its last entry is.
    const lasts = await entriesAt(
      db,
      tenant,
      candidates.map((s) => s.to - 1),
    );
    let seal: (typeof candidates)[number] | undefined;
    for (const s of candidates) {
      const row = lasts.get(s.to - 1);
      const last = row ? Date.parse(entryFacts(row.entry).receivedAt) : undefined;
      if (last === undefined || !(last < cutoffMs)) break;
      seal = s;
    }
    if (!seal) return null;
    const to = seal.to;
    // A range whose every entry is held is not pruned at all (a tenant-wide hold stops the sweep).
    const held = this.#d.held();
    if (held !== null) {
      const heldSeqs = await this.#heldIn(tenant, from, to, held);
      if (heldSeqs.length === to - from) return null;
    }
    const range = {
      from,
      to,
      cutoff: formatTimestamp(cutoffMs),
      checkpoint: { size: to, root: toBase64(seal.root) },
    };
    const metadata: JsonObject = { ...(event.metadata as JsonObject | undefined), ...range };
    const result = await commit.enqueue(tenant, {
      req: { items: [{ event: { ...event, metadata } }], provenance },
      prepare: (s) => {
        // Sweeps are serialized: the floor is still where this sweep read it.
        if (s.counter(RETENTION_FLOOR) !== from) throw new Error("retention floor moved during a sweep");
        // Durable at this commit: the floor and the entry recording it, together. Deletions follow;
        // a crash after this commit leaves `retention_cleaned` below the floor and the alarm re-runs them.
        s.setCounter(RETENTION_FLOOR, to);
        return undefined;
      },
    });
    if (!result.ok) throw new Error(`the pruned entry was not appended: ${result.error.reason}`);
    const receipt = result.receipts[0] as Receipt;
    store.setCounter(RETENTION_ENTRY, receipt.seq);
    return { ...range, seq: receipt.seq };
  }

  /** Sequence numbers in [from, to) an active hold covers, from the entry bytes in D1. */
  async #heldIn(tenant: string, from: number, to: number, held: NonNullable<HeldCheck>): Promise<number[]> {
    if (from >= to) return [];
    const rows = await entriesIn(this.#d.db, tenant, from, to);
    return rows.filter((r) => held(entryFacts(r.entry))).map((r) => r.seq);
  }

  /**
   * Deletes the bodies in [min(cleaned, kept_from), floor) that no hold covers now. Every step
   * is idempotent (a DELETE of rows already gone, an R2 delete of a missing key, do nothing), so
   * after a crash or a failure the next run repeats it from the same place.
   */
  async #cleanup(tenant: string): Promise<{ heldKept: number }> {
    const { store, db, bucket, now } = this.#d;
    const floor = this.floor;
    const cleaned = store.counter(RETENTION_CLEANED);
    const keptFrom = store.counter(RETENTION_KEPT_FROM);
    // Held bodies below the last cleanup are looked at again (their hold may have been released).
    const from = cleaned === 0 ? 0 : Math.min(cleaned, keptFrom);
    if (from >= floor) {
      this.#error = null;
      return { heldKept: 0 };
    }
    try {
      const held = this.#d.held();
      const keep = held === null ? [] : await this.#heldIn(tenant, from, floor, held);
      const keepSet = new Set(keep);
      // 1. D1's floor row: the triggers allow DELETEs below it. Idempotent (the same floor again is skipped by its trigger).
      await db.prepare("INSERT INTO retention_floor (tenant_id, floor, set_at) VALUES (?, ?, ?)").bind(tenant, floor, now()).run();
      // 2. D1 rows below the floor that no hold covers (targets first: they name the rows' seqs).
      // Durable per batch; a failure leaves `retention_cleaned` as it was and the next run repeats them.
      const runs = runsWithout(from, floor, keep);
      const statements = runs.flatMap(([a, b]) => [
        db.prepare("DELETE FROM audit_event_targets WHERE tenant_id = ? AND seq >= ? AND seq < ?").bind(tenant, a, b),
        db.prepare("DELETE FROM audit_events WHERE tenant_id = ? AND seq >= ? AND seq < ?").bind(tenant, a, b),
        // The full-text index of those rows (search-index.ts: rowid = tenant number × span + seq).
        db
          .prepare(
            `DELETE FROM search_index WHERE rowid >= (SELECT num * ${SEARCH_SEQ_SPAN} FROM search_tenants WHERE tenant_id = ?) + ? ` +
              `AND rowid < (SELECT num * ${SEARCH_SEQ_SPAN} FROM search_tenants WHERE tenant_id = ?) + ?`,
          )
          .bind(tenant, a, tenant, b),
      ]);
      for (let i = 0; i < statements.length; i += DELETES_PER_BATCH) await db.batch(statements.slice(i, i + DELETES_PER_BATCH));
      // 3. DO `entries` rows (usually evicted already: log-store.ts evictSettled). Durable at once.
      for (const [a, b] of runs) store.pruneEntries(a, b);
      // 4. R2 seal bundles of the pruned range, whole, unless a held entry is in them. A bucket
      // lock refuses the delete: the error is kept, and the run is retried from here.
      for (const s of store.sealsCovering(from, floor)) {
        if (s.to > floor || keep.some((k) => k >= s.from && k < s.to)) continue;
        await bucket.delete(sealKeys(tenant, s.id).bundle);
      }
      // 5. R2 entry tiles entirely below the floor, unless a held entry is in them (hash tiles stay).
      for (let k = Math.floor(from / TILE_WIDTH); (k + 1) * TILE_WIDTH <= floor; k++) {
        if (keep.some((x) => x >= k * TILE_WIDTH && x < (k + 1) * TILE_WIDTH)) continue;
        await bucket.delete(tileKey(tenant, { level: "entries", index: k, width: TILE_WIDTH }));
      }
      // Durable now: every body below the floor is gone except those held; the held ones are
      // looked at again by the next run (their hold may be released by then).
      store.setCounter(RETENTION_KEPT_FROM, keepSet.size > 0 ? Math.min(...keep) : floor);
      store.setCounter(RETENTION_CLEANED, floor);
      this.#error = null;
      this.#failures = 0;
      return { heldKept: keepSet.size };
    } catch (e) {
      this.#error = e instanceof Error ? e.message : String(e);
      this.#failures += 1;
      this.#d.alarm.arm(now() + backoffMs(this.#failures));
      return { heldKept: 0 };
    }
  }
}
