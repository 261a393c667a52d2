/**
 * TenantLog: the one writer of one tenant's log (DESIGN.md invariant 1). Reached with
 * idFromName(tenant id). Its public methods are its RPC API; the logic lives in
 * sequencer.ts (group commit), log-store.ts (SQLite) and mirror.ts (D1).
 */
import { DurableObject } from "cloudflare:workers";
import { toBase64 } from "../core/bytes";
import type { JsonObject } from "../core/entry";
import { LogStore, type Head } from "./log-store";
import { writeToD1 } from "./mirror";
import { sequenceGroup, type AppendItem, type AppendRequest, type Receipt, type SequenceOutcome } from "./sequencer";

/** Back-pressure: events waiting for a commit beyond this are refused with 503 + Retry-After. */
export const MAX_QUEUED_EVENTS = 10_000;
/** Entries copied to D1 per mirror pass; a longer backlog continues from the alarm. */
export const MIRROR_PASS_LIMIT = 2_000;
/** After each commit an alarm is armed this far ahead, so a crash before the D1 write is re-driven. */
export const MIRROR_WATCHDOG_MS = 10_000;
const MIRROR_RETRY_MAX_MS = 60_000;

export type LogError =
  | { reason: "idempotency_conflict"; key: string }
  | { reason: "overloaded"; retryAfterSeconds: number }
  | { reason: "log_unavailable" };

export type AppendResult = { ok: true; receipts: Receipt[] } | { ok: false; error: LogError };

export interface StoredEntryView {
  seq: number;
  entry: string;
  leaf_hash: string;
}

export interface LogStats {
  tenant: string | null;
  size: number;
  head_leaf_hash: string;
  mirrored_to: number;
  queued_events: number;
  mirror_failures: number;
}

interface Pending {
  req: AppendRequest;
  resolve: (r: AppendResult) => void;
}

export class TenantLog extends DurableObject<Env> {
  readonly #store: LogStore;
  #tenant: string | undefined;
  #head: Head;
  #mirroredTo: number;
  #queue: Pending[] = [];
  #queuedEvents = 0;
  #flushing = false;
  #mirrorChain: Promise<unknown> = Promise.resolve();
  #mirrorFailures = 0;
  #alarmAt: number | null = null;
  /** The D1 binding the mirror writes to. Tests wrap it in a fault-injecting double. */
  mirrorDb: D1Database;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new LogStore(ctx.storage.sql);
    this.#tenant = this.#store.tenant();
    this.#head = this.#store.head();
    this.#mirroredTo = this.#store.mirroredTo();
    this.mirrorDb = env.DB;
    void ctx.blockConcurrencyWhile(async () => {
      this.#alarmAt = await ctx.storage.getAlarm();
      // Entries committed before a crash but not yet in D1: re-drive them soon.
      if (this.#mirroredTo < this.#head.size) this.#armAlarm(Date.now());
    });
  }

  /**
   * Appends the items of one request atomically (all or none) and resolves once they are
   * committed. Concurrent calls are grouped into one transaction (group commit).
   */
  async append(tenant: string, items: AppendItem[], provenance: JsonObject): Promise<AppendResult> {
    if (this.#tenant !== undefined && this.#tenant !== tenant) {
      // idFromName(tenant) makes this impossible unless a caller is broken: refuse loudly.
      throw new Error(`TenantLog of ${this.#tenant} asked to append for ${tenant}`);
    }
    if (this.#queuedEvents + items.length > MAX_QUEUED_EVENTS) {
      return { ok: false, error: { reason: "overloaded", retryAfterSeconds: 1 } };
    }
    this.#tenant = tenant;
    const done = new Promise<AppendResult>((resolve) => this.#queue.push({ req: { items, provenance }, resolve }));
    this.#queuedEvents += items.length;
    if (!this.#flushing) void this.#flushLoop();
    return done;
  }

  /** One entry by sequence number, from DO storage (holds every entry not yet sealed). */
  async entry(seq: number): Promise<StoredEntryView | null> {
    const e = this.#store.entry(seq);
    return e ? { seq: e.seq, entry: e.entry, leaf_hash: toBase64(e.leafHash) } : null;
  }

  async stats(): Promise<LogStats> {
    return {
      tenant: this.#tenant ?? null,
      size: this.#head.size,
      head_leaf_hash: toBase64(this.#head.lastLeaf),
      mirrored_to: this.#mirroredTo,
      queued_events: this.#queuedEvents,
      mirror_failures: this.#mirrorFailures,
    };
  }

  /** Copies any backlog to D1 now; true when D1 holds every entry. */
  async drainMirror(): Promise<boolean> {
    return this.#mirror();
  }

  override async alarm(): Promise<void> {
    this.#alarmAt = null;
    await this.#mirror();
  }

  async #flushLoop(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        const group = this.#queue.splice(0, this.#queue.length);
        for (const p of group) this.#queuedEvents -= p.req.items.length;
        const tenant = this.#tenant!;
        let outcomes: SequenceOutcome[];
        try {
          const sequenced = this.ctx.storage.transactionSync(() => {
            const s = sequenceGroup(this.#store, tenant, this.#head, group.map((p) => p.req), Date.now());
            this.#store.writeHead(tenant, s.head);
            return s;
          });
          // Durable now: entries, idempotency rows and head are in DO storage. A crash from here
          // on loses nothing: [mirroredTo, size) is the outbox, re-driven by the alarm armed next
          // (and re-armed by the constructor on restart). No reply leaves before the alarm write
          // is durable too: the output gate holds it.
          this.#head = sequenced.head;
          outcomes = sequenced.outcomes;
          if (sequenced.created.length > 0) this.#armAlarm(Date.now() + MIRROR_WATCHDOG_MS);
        } catch (e) {
          // Nothing of this group was committed (transactionSync rolled back).
          console.error("TenantLog commit failed", e);
          this.#head = this.#store.head();
          for (const p of group) p.resolve({ ok: false, error: { reason: "log_unavailable" } });
          continue;
        }
        // Acknowledge after the D1 copy is attempted, so an acknowledged entry is normally in
        // two stores. If D1 is down the entry is still durable in DO storage and the outbox
        // retries it: the append succeeds (DESIGN.md: appends keep working while D1 is down).
        await this.#mirror();
        group.forEach((p, i) => p.resolve(outcomes[i]!));
      }
    } finally {
      this.#flushing = false;
    }
  }

  /** Serializes mirror passes so two never copy the same range at once. */
  #mirror(): Promise<boolean> {
    const pass = this.#mirrorChain.then(() => this.#mirrorPass());
    this.#mirrorChain = pass.catch(() => undefined);
    return pass;
  }

  async #mirrorPass(): Promise<boolean> {
    if (this.#mirroredTo >= this.#head.size) return true;
    const batch = this.#store.entries(this.#mirroredTo, MIRROR_PASS_LIMIT);
    try {
      await writeToD1(this.mirrorDb, batch);
    } catch (e) {
      this.#mirrorFailures += 1;
      const backoff = Math.min(1000 * 2 ** Math.min(this.#mirrorFailures, 6), MIRROR_RETRY_MAX_MS);
      console.error(`D1 mirror failed (${this.#mirrorFailures} in a row), retry in ${backoff} ms`, e);
      this.#armAlarm(Date.now() + backoff);
      return false;
    }
    // D1 now holds [0, to). Recording it is idempotent: a crash before this line only means the
    // next pass inserts the same rows again, which ON CONFLICT DO NOTHING absorbs.
    const to = batch[batch.length - 1]!.seq + 1;
    this.#store.setMirroredTo(to);
    this.#mirroredTo = Math.max(this.#mirroredTo, to);
    this.#mirrorFailures = 0;
    if (this.#mirroredTo < this.#head.size) {
      this.#armAlarm(Date.now());
      return false;
    }
    return true;
  }

  #armAlarm(at: number): void {
    if (this.#alarmAt !== null && this.#alarmAt <= at) return;
    this.#alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }
}
