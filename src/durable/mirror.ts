/**
 * The D1 mirror (docs/design.md invariant 3): every entry committed in DO storage is copied into D1
 * (audit-events.ts `writeToD1`: INSERT only, idempotent), after the append was acknowledged. The
 * outbox is [mirroredTo, size): entries committed and not yet in D1. Commits only ask for a pass
 * (`schedule`); passes are coalesced (one at most every MIRROR_INTERVAL_MS), serialized, and each
 * copies everything committed before it started, in chunks of MIRROR_CHUNK entries with a yield
 * between chunks, so one long pass never holds the thread appends commit on. A failed pass is
 * retried from the alarm with exponential backoff; the entries stay durable in DO storage.
 */
import { backoffMs, type Alarm } from "./alarm";
import { writeToD1 } from "./audit-events";
import type { LogStore, StoredEntry } from "./log-store";

/** Entries copied to D1 per mirror pass; a longer backlog continues from the alarm. */
export const MIRROR_PASS_LIMIT = 2_000;
/** Entries per D1 batch within a pass; the pass yields to queued appends between batches. */
export const MIRROR_CHUNK = 250;
/** Coalescing: at most one mirror pass starts per this many ms (issue #15: small D1 batches cost most). */
export const MIRROR_INTERVAL_MS = 50;
/** After each commit an alarm is armed this far ahead, so a crash before the D1 write is re-driven. */
export const MIRROR_WATCHDOG_MS = 10_000;
/** `mirror_lag_alert` in /stats: the oldest entry not yet in D1 was committed longer ago than this. */
export const MIRROR_LAG_ALERT_MS = 30_000;

/** Lets queued work (appends waiting to commit) run before the next chunk. */
export const yieldToQueued = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

export interface MirrorDeps {
  db: D1Database;
  store: LogStore;
  alarm: Alarm;
  now: () => number;
  /** The log's size (group-commit.ts): the outbox ends there. */
  size: () => number;
}

/** The mirror's part of LogStats. */
export interface MirrorStats {
  mirrored_to: number;
  mirror_failures: number;
  /** Milliseconds since the oldest entry not yet in D1 was committed (0 when D1 holds every entry). */
  mirror_lag_ms: number;
  /** `mirror_lag_ms` is past MIRROR_LAG_ALERT_MS. */
  mirror_lag_alert: boolean;
}

export class D1Mirror {
  readonly #d: MirrorDeps;
  #mirroredTo: number;
  #failures = 0;
  /** After a failed pass, commits ask for no pass before this time (the alarm's backoff). */
  #retryAt = 0;
  #chain: Promise<unknown> = Promise.resolve();
  /** A coalesced pass is due (timer set) or queued behind the running one. */
  #scheduled = false;
  /** When the last pass started (for the coalescing interval). */
  #lastPassAt = 0;
  /** Callers waiting until D1 holds every entry below `until` (`Prefer: durability=mirrored`). */
  #waiters: { until: number; resolve: (mirrored: boolean) => void; giveUpOnFailure: boolean }[] = [];
  /**
   * Entries just committed and not yet in D1, as the commit wrote them, so a mirror pass need
   * not read them back (issue #8: that SELECT was ~5% of an append's CPU). At most
   * MIRROR_PASS_LIMIT entries; beyond that (D1 down, a backlog) it is dropped and passes read
   * DO storage, the truth, until the mirror has caught up.
   */
  #unmirrored: StoredEntry[] | undefined = [];

  constructor(deps: MirrorDeps) {
    this.#d = deps;
    this.#mirroredTo = deps.store.mirroredTo();
  }

  /** Every entry below this is in D1. */
  get mirroredTo(): number {
    return this.#mirroredTo;
  }

  /** Failed passes in a row (0 once a pass succeeds). */
  get failures(): number {
    return this.#failures;
  }

  /** At start: entries committed before a crash but not yet in D1 are re-driven soon. */
  start(): void {
    if (this.#mirroredTo < this.#d.size()) this.#d.alarm.arm(this.#d.now());
  }

  /**
   * A group was just committed (its entries are durable in DO storage): remember them for the
   * next pass, and arm the watchdog, so that a crash before the D1 write is re-driven.
   */
  committed(created: readonly StoredEntry[]): void {
    if (created.length === 0) return;
    if (!this.#unmirrored && this.#mirroredTo === created[0]!.seq) this.#unmirrored = [];
    if (this.#unmirrored) {
      const last = this.#unmirrored[this.#unmirrored.length - 1];
      const contiguous = last ? last.seq + 1 === created[0]!.seq : this.#mirroredTo === created[0]!.seq;
      if (!contiguous || this.#unmirrored.length + created.length > MIRROR_PASS_LIMIT) this.#unmirrored = undefined;
      else this.#unmirrored.push(...created);
    }
    this.#d.alarm.arm(this.#d.now() + MIRROR_WATCHDOG_MS);
  }

  /**
   * Asks for a pass soon: coalesced, so that commits arriving close together share one D1 write
   * (the first after a quiet period starts at once, the next not before MIRROR_INTERVAL_MS).
   */
  schedule(): void {
    if (this.#scheduled || this.#mirroredTo >= this.#d.size()) return;
    // D1 is failing: the alarm retries with backoff (every commit retrying would hammer it).
    if (this.#failures > 0 && this.#d.now() < this.#retryAt) return;
    this.#scheduled = true;
    const wait = Math.max(0, this.#lastPassAt + MIRROR_INTERVAL_MS - Date.now());
    setTimeout(() => {
      this.#scheduled = false;
      this.copy().catch((e: unknown) => console.error("D1 mirror pass failed", e));
    }, wait);
  }

  /**
   * Resolves true once D1 holds every entry below `until`, or false after `timeoutMs` (D1 failing
   * or far behind), or with `giveUpOnFailure` as soon as a pass fails. Waiting never changes what
   * is committed: the entries are durable either way.
   */
  waitFor(until: number, timeoutMs: number, giveUpOnFailure = false): Promise<boolean> {
    if (this.#mirroredTo >= until) return Promise.resolve(true);
    this.schedule();
    return new Promise((resolve) => {
      const waiter = {
        until,
        giveUpOnFailure,
        resolve: (mirrored: boolean) => {
          clearTimeout(timer);
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          resolve(mirrored);
        },
      };
      const timer = setTimeout(() => waiter.resolve(false), timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Copies the outbox to D1 (one pass, serialized with the others); true when D1 holds every entry. */
  copy(): Promise<boolean> {
    const pass = this.#chain.then(() => this.#pass());
    this.#chain = pass.catch(() => undefined);
    return pass;
  }

  /** The mirror's state for LogStats: watermark, failures, and the lag in time. */
  stats(): MirrorStats {
    const { store, now, size } = this.#d;
    let lagMs = 0;
    if (this.#mirroredTo < size()) {
      // The oldest entry not in D1 (never evicted: eviction needs it in D1): its received_at is
      // the server time of its commit.
      const e = this.#unmirrored?.[0]?.seq === this.#mirroredTo ? this.#unmirrored[0] : store.entry(this.#mirroredTo);
      const at = e ? Date.parse((JSON.parse(e.entry) as { received_at: string }).received_at) : NaN;
      lagMs = Number.isNaN(at) ? 0 : Math.max(0, now() - at);
    }
    return {
      mirrored_to: this.#mirroredTo,
      mirror_failures: this.#failures,
      mirror_lag_ms: lagMs,
      mirror_lag_alert: lagMs > MIRROR_LAG_ALERT_MS,
    };
  }

  /** The outbox [mirroredTo, mirroredTo + limit) from memory, when memory holds all of it. */
  #fromMemory(limit: number): StoredEntry[] | undefined {
    const mem = this.#unmirrored;
    const end = Math.min(this.#d.size(), this.#mirroredTo + limit);
    if (!mem || mem.length === 0 || mem[0]!.seq !== this.#mirroredTo || mem[mem.length - 1]!.seq < end - 1) return undefined;
    return mem.slice(0, end - this.#mirroredTo);
  }

  async #pass(): Promise<boolean> {
    const { store, alarm, now, size } = this.#d;
    this.#lastPassAt = Date.now();
    if (this.#mirroredTo >= size()) return true;
    // Everything committed before the pass started, at most MIRROR_PASS_LIMIT entries.
    const start = this.#mirroredTo;
    const end = Math.min(size(), start + MIRROR_PASS_LIMIT);
    while (this.#mirroredTo < end) {
      const n = Math.min(MIRROR_CHUNK, end - this.#mirroredTo);
      const batch = this.#fromMemory(n) ?? store.entries(this.#mirroredTo, n);
      try {
        await writeToD1(this.#d.db, batch);
      } catch (e) {
        this.#failures += 1;
        const backoff = backoffMs(this.#failures);
        console.error(`D1 mirror failed (${this.#failures} in a row), retry in ${backoff} ms`, e);
        this.#retryAt = now() + backoff;
        alarm.arm(this.#retryAt);
        // D1 is failing: hold no copy in memory while it recovers (passes read DO storage, the
        // truth, until the mirror has caught up).
        this.#unmirrored = undefined;
        for (const w of this.#waiters.filter((w) => w.giveUpOnFailure)) w.resolve(false);
        return false;
      }
      this.#advance(batch[batch.length - 1]!.seq + 1);
      // Appends queued during this chunk commit before the next one is built.
      if (this.#mirroredTo < end) await yieldToQueued();
    }
    this.#failures = 0;
    // Entries now in D1 and already sealed in R2 may leave DO storage (invariant 3).
    store.evictSettled(this.#mirroredTo);
    if (this.#mirroredTo < size()) {
      // A backlog beyond this pass's limit continues from the alarm (and the next coalesced
      // pass); entries committed while this pass ran have asked for a pass of their own.
      if (this.#mirroredTo - start >= MIRROR_PASS_LIMIT) alarm.arm(now());
      this.schedule();
      return false;
    }
    return true;
  }

  /** D1 now holds [0, to): record it and release the callers waiting for it. */
  #advance(to: number): void {
    const { store, size } = this.#d;
    // Recording it is idempotent: a crash before this line only means the next pass inserts the
    // same rows again, which the mirror skips (it inserts only rows D1 lacks).
    store.setMirroredTo(to);
    this.#mirroredTo = Math.max(this.#mirroredTo, to);
    if (this.#unmirrored) this.#unmirrored = this.#unmirrored.filter((e) => e.seq >= this.#mirroredTo);
    // Caught up (after a D1 failure dropped the copy, say): keep the next commits in memory again.
    else if (this.#mirroredTo >= size()) this.#unmirrored = [];
    for (const w of this.#waiters.filter((w) => w.until <= this.#mirroredTo)) w.resolve(true);
  }
}
