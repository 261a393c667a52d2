/**
 * The D1 mirror (docs/design.md invariant 3): every entry committed in DO storage is copied into D1
 * (audit-events.ts `writeToD1`: INSERT only, idempotent). The outbox is [mirroredTo, size): entries
 * committed and not yet in D1. Passes are serialized, and each copies everything committed before
 * it started; a failed pass is retried from the alarm with exponential backoff, and the append
 * that waited for it still succeeds (the entry is durable in DO storage).
 */
import { backoffMs, type Alarm } from "./alarm";
import { writeToD1 } from "./audit-events";
import type { LogStore, StoredEntry } from "./log-store";

/** Entries copied to D1 per mirror pass; a longer backlog continues from the alarm. */
export const MIRROR_PASS_LIMIT = 2_000;
/** After each commit an alarm is armed this far ahead, so a crash before the D1 write is re-driven. */
export const MIRROR_WATCHDOG_MS = 10_000;

export interface MirrorDeps {
  db: D1Database;
  store: LogStore;
  alarm: Alarm;
  now: () => number;
  /** The log's size (group-commit.ts): the outbox ends there. */
  size: () => number;
}

export class D1Mirror {
  readonly #d: MirrorDeps;
  #mirroredTo: number;
  #failures = 0;
  #chain: Promise<unknown> = Promise.resolve();
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

  /** Copies the outbox to D1 (one pass, serialized with the others); true when D1 holds every entry. */
  copy(): Promise<boolean> {
    const pass = this.#chain.then(() => this.#pass());
    this.#chain = pass.catch(() => undefined);
    return pass;
  }

  /** The outbox [mirroredTo, size) from memory, when memory holds all of it. */
  #fromMemory(): StoredEntry[] | undefined {
    const mem = this.#unmirrored;
    if (!mem || mem.length === 0 || mem[0]!.seq !== this.#mirroredTo || mem[mem.length - 1]!.seq !== this.#d.size() - 1) return undefined;
    return mem.slice();
  }

  async #pass(): Promise<boolean> {
    const { store, alarm, now, size } = this.#d;
    if (this.#mirroredTo >= size()) return true;
    const batch = this.#fromMemory() ?? store.entries(this.#mirroredTo, MIRROR_PASS_LIMIT);
    try {
      await writeToD1(this.#d.db, batch);
    } catch (e) {
      this.#failures += 1;
      const backoff = backoffMs(this.#failures);
      console.error(`D1 mirror failed (${this.#failures} in a row), retry in ${backoff} ms`, e);
      alarm.arm(now() + backoff);
      // D1 is failing: hold no copy in memory while it recovers (passes read DO storage, the
      // truth, until the mirror has caught up).
      this.#unmirrored = undefined;
      return false;
    }
    // D1 now holds [0, to). Recording it is idempotent: a crash before this line only means the
    // next pass inserts the same rows again, which the mirror skips (it inserts only rows D1 lacks).
    const to = batch[batch.length - 1]!.seq + 1;
    store.setMirroredTo(to);
    this.#mirroredTo = Math.max(this.#mirroredTo, to);
    if (this.#unmirrored) this.#unmirrored = this.#unmirrored.filter((e) => e.seq >= this.#mirroredTo);
    // Caught up (after a D1 failure dropped the copy, say): keep the next commits in memory again.
    else if (this.#mirroredTo >= size()) this.#unmirrored = [];
    this.#failures = 0;
    // Entries now in D1 and already sealed in R2 may leave DO storage (invariant 3).
    store.evictSettled(this.#mirroredTo);
    if (this.#mirroredTo < size()) {
      // A backlog beyond this pass's limit continues from the alarm. Entries committed while
      // this pass ran need no alarm: the group commit queued a pass for them behind this one (an
      // alarm per pass cost a mirror and a seal check per group under load).
      if (batch.length >= MIRROR_PASS_LIMIT) alarm.arm(now());
      return false;
    }
    return true;
  }
}
