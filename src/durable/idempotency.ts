/**
 * Idempotency keys expire (docs/design.md invariant 7; issue #15): a key first used more than the
 * window ago is a new request (sequencer.ts ignores its row), and its row leaves DO storage,
 * swept in bounded chunks after commits (at most once per IDEMPOTENCY_SWEEP_EVERY_MS) and from
 * the alarm, which is armed for the oldest key's expiry so an idle log sweeps too.
 */
import type { Alarm } from "./alarm";
import type { LogStore } from "./log-store";

/** Rows deleted per sweep: one short statement, however many keys expire at once. */
export const IDEMPOTENCY_SWEEP_CHUNK = 500;
/** After commits, a sweep runs at most this often; the alarm continues a backlog sooner. */
export const IDEMPOTENCY_SWEEP_EVERY_MS = 60_000;
/** A full chunk means more have expired: the alarm sweeps again this soon. */
const SWEEP_AGAIN_MS = 1_000;

export interface SweeperDeps {
  storage: DurableObjectStorage;
  store: LogStore;
  alarm: Alarm;
  now: () => number;
  windowMs: number;
}

export class IdempotencySweeper {
  readonly #d: SweeperDeps;
  #lastSweepAt = -Infinity;

  constructor(deps: SweeperDeps) {
    this.#d = deps;
  }

  /** The window in ms: keys first used longer ago than this have expired. */
  get windowMs(): number {
    return this.#d.windowMs;
  }

  /** After a commit: sweep if the last sweep is long enough ago. */
  afterCommit(): void {
    if (this.#d.now() - this.#lastSweepAt >= IDEMPOTENCY_SWEEP_EVERY_MS) this.sweep();
  }

  /**
   * Deletes one chunk of expired keys and arms the alarm for the next ones; returns how many.
   * A crash at any point loses nothing: an expired row that is still stored is ignored by every
   * lookup, and the next sweep deletes it.
   */
  sweep(): number {
    const { store, alarm, now, windowMs } = this.#d;
    const at = now();
    this.#lastSweepAt = at;
    const removed = store.deleteExpiredIdempotency(at - windowMs, IDEMPOTENCY_SWEEP_CHUNK);
    if (removed >= IDEMPOTENCY_SWEEP_CHUNK) {
      alarm.arm(at + SWEEP_AGAIN_MS);
    } else {
      const oldest = store.oldestIdempotency();
      if (oldest !== undefined) alarm.arm(oldest + windowMs);
    }
    return removed;
  }
}
