/**
 * Group commit (docs/design.md "The path of one event"; invariants 2, 3, 5, 8): appends that arrive
 * together queue up and are committed together, in one transactionSync (sequencer.ts); every
 * request of the group is answered as soon as that transaction has committed (the output gate
 * holds the reply until DO storage has made it durable), and the group asks the D1 mirror for a
 * pass (mirror.ts), which follows asynchronously. A request that asks for `durability:
 * "mirrored"` is answered once D1 holds its entries. Back-pressure: past MAX_QUEUED_EVENTS
 * waiting events, appends are refused.
 * Holds the log's head and the tree's frontier, and counts what ingest looks like (clock skew,
 * the usual gap between commits) for the stats.
 */
import { toBase64 } from "../core/bytes";
import type { Hash } from "../core/hash";
import { CompactRange, type NodeReader } from "../core/merkle";
import type { Head, LogStore, StoredEntry } from "./log-store";
import type { AppendResult, LogError, LogStats } from "./log-types";
import { yieldToQueued } from "./mirror";
import type { SourceTracker } from "./sources";
import { sequenceGroup, type AppendRequest, type StoredEvent } from "./sequencer";

/** Back-pressure: events waiting for a commit beyond this are refused with 503 + Retry-After. */
export const MAX_QUEUED_EVENTS = 10_000;
/** Weight of the newest gap in the usual-gap mean. */
const INGEST_GAP_WEIGHT = 0.1;
/** Ingest is flagged as stalled after this many usual gaps without an entry (and at least a minute). */
export const STALL_FACTOR = 10;
export const STALL_MIN_MS = 60_000;
/**
 * The `ingest_stalled` alert (alert-sources.ts): appends have waited, or commits have failed, for
 * this long without a commit.
 */
export const INGEST_STALLED_AFTER_MS = 30_000;
/**
 * `durability: "mirrored"` (HTTP `Prefer: durability=mirrored`): how long a committed request
 * waits for D1 to hold its entries before it is answered `not_mirrored` (503, Retry-After).
 */
export const MIRRORED_WAIT_MS = 5_000;

/** The part of LogStats the group commit knows. */
export type CommitStats = Pick<
  LogStats,
  "size" | "head_leaf_hash" | "queued_events" | "skewed_events" | "last_received_at" | "usual_gap_ms" | "ingest_stalled"
>;

/** A request waiting for its commit. */
export interface Pending {
  req: AppendRequest;
  /**
   * Runs inside the commit's transaction, before the group is sequenced, in queue order: it may
   * refuse the request (nothing of it is stored), or write through `store` and set the request's
   * items from the state of this very transaction (settings changes).
   */
  prepare?: (store: LogStore) => LogError | undefined;
  /**
   * "committed" (the default): answered once the group's transaction has committed. "mirrored":
   * answered once D1 also holds the request's entries, or `not_mirrored` after MIRRORED_WAIT_MS
   * (the entries are committed either way; a retry with the same Idempotency-Key gets the receipt).
   */
  durability?: "committed" | "mirrored";
}

export interface GroupCommitDeps {
  storage: DurableObjectStorage;
  store: LogStore;
  now: () => number;
  /** Where a committed group goes next: its entries are copied to D1 after the callers are answered. */
  mirror: {
    committed(created: readonly StoredEntry[]): void;
    schedule(): void;
    copy(): Promise<boolean>;
    waitFor(until: number, timeoutMs: number): Promise<boolean>;
  };
  /** Before a request is queued: waits for the reconcile with R2 when needed; an error refuses it. */
  admit: (tenant: string) => Promise<LogError | undefined>;
  /** After a group that added entries is committed (the next seal may be due). */
  afterCommit: () => void;
  /** When appends start waiting with none before them (the alerts arm a check for a stall). */
  onWaiting?: (since: number) => void;
  /**
   * Requests per group commit (a request's items always commit together). Unlimited in
   * production; the bench's entry (bench/worker.ts) sets 1 to measure what group commit buys
   * (one transaction and one D1 write per request, one after the other, no coalescing).
   */
  maxBatch: number;
  /** Idempotency keys older than this are forgotten (docs/design.md invariant 7). */
  idempotencyWindowMs: number;
  /** Per-source gap detection, inside the commit (sources.ts); none in tests that build a bare commit. */
  sources?: Pick<SourceTracker, "observe">;
  /** The event each new entry stores (personal fields encrypted: personal-fields.ts), in the commit. */
  storedEvent?: StoredEvent;
}

export class GroupCommit {
  readonly #d: GroupCommitDeps;
  readonly #readNode: NodeReader;
  #head: Head;
  /** Frontier of the tree at #head.size; replaced only after a commit succeeds. */
  #tree: CompactRange;
  #tenant: string | undefined;
  #queue: (Pending & { resolve: (r: AppendResult) => void })[] = [];
  #queuedEvents = 0;
  #flushing = false;
  /** Appends between `enqueue` and their answer, and since when some have waited with no commit. */
  #waiting = 0;
  #waitingSince: number | null = null;
  /** The first commit that failed since the last that succeeded (null: the last one succeeded). */
  #failingSince: number | null = null;

  constructor(deps: GroupCommitDeps) {
    this.#d = deps;
    this.#readNode = (level, index) => deps.store.node(level, index);
    this.#head = deps.store.head();
    this.#tree = CompactRange.fromStore(this.#head.size, this.#readNode);
  }

  /** The committed head: size, last leaf, last received_at. */
  get head(): Head {
    return this.#head;
  }

  /** The root of the committed tree (RFC 6962 MTH of the first head.size leaves). */
  root(): Hash {
    return this.#tree.root();
  }

  /**
   * Queues one request and resolves once its group is committed (with `durability: "mirrored"`,
   * once D1 holds its entries too), or at once if it is refused. The caller has checked that
   * `tenant` is this object's tenant.
   */
  async enqueue(tenant: string, pending: Pending): Promise<AppendResult> {
    this.#startWaiting();
    try {
      return await this.#enqueue(tenant, pending);
    } finally {
      this.#stopWaiting();
    }
  }

  /**
   * Since when ingest has been stuck: appends waiting, or commits failing, with no commit since
   * (null: not stuck). The `ingest_stalled` alert is this past INGEST_STALLED_AFTER_MS.
   */
  stalledSince(): number | null {
    const waiting = this.#waiting > 0 ? this.#waitingSince : null;
    if (waiting === null) return this.#failingSince;
    return this.#failingSince === null ? waiting : Math.min(waiting, this.#failingSince);
  }

  #startWaiting(): void {
    if (this.#waiting++ === 0) {
      this.#waitingSince = this.#d.now();
      this.#d.onWaiting?.(this.#waitingSince);
    }
  }

  #stopWaiting(): void {
    if (--this.#waiting === 0) this.#waitingSince = null;
  }

  async #enqueue(tenant: string, pending: Pending): Promise<AppendResult> {
    const refused = await this.#d.admit(tenant);
    if (refused) return { ok: false, error: refused };
    if (this.#queuedEvents + pending.req.items.length > MAX_QUEUED_EVENTS) {
      return { ok: false, error: { reason: "overloaded", retryAfterSeconds: 1 } };
    }
    this.#tenant = tenant;
    const done = new Promise<AppendResult>((resolve) => this.#queue.push({ ...pending, resolve }));
    this.#queuedEvents += pending.req.items.length;
    if (!this.#flushing) void this.#flushLoop();
    return done;
  }

  /**
   * Queues several requests at once (a batcher's forward, batcher.ts), so that they reach the
   * same commit group, and resolves with each one's own answer: one refused request (an
   * idempotency conflict, back-pressure) leaves the others to commit.
   */
  async enqueueAll(tenant: string, pendings: readonly Pending[]): Promise<AppendResult[]> {
    this.#startWaiting();
    try {
      return await this.#enqueueAll(tenant, pendings);
    } finally {
      this.#stopWaiting();
    }
  }

  async #enqueueAll(tenant: string, pendings: readonly Pending[]): Promise<AppendResult[]> {
    const refused = await this.#d.admit(tenant);
    if (refused) return pendings.map(() => ({ ok: false, error: refused }));
    this.#tenant = tenant;
    const answers = pendings.map((pending): Promise<AppendResult> | AppendResult => {
      if (this.#queuedEvents + pending.req.items.length > MAX_QUEUED_EVENTS) {
        return { ok: false, error: { reason: "overloaded", retryAfterSeconds: 1 } };
      }
      this.#queuedEvents += pending.req.items.length;
      return new Promise<AppendResult>((resolve) => this.#queue.push({ ...pending, resolve }));
    });
    if (!this.#flushing && this.#queue.length > 0) void this.#flushLoop();
    return Promise.all(answers);
  }

  async #flushLoop(): Promise<void> {
    const { storage, store, now, mirror, maxBatch } = this.#d;
    this.#flushing = true;
    try {
      // Requests delivered together (the runtime's queue) join one group.
      if (maxBatch > 1) await yieldToQueued();
      while (this.#queue.length > 0) {
        const group = this.#queue.splice(0, Math.min(this.#queue.length, maxBatch));
        for (const p of group) this.#queuedEvents -= p.req.items.length;
        const tenant = this.#tenant!;
        let outcomes: AppendResult[];
        let created: StoredEntry[];
        try {
          const tree = this.#tree.clone();
          const previous = this.#head;
          const sequenced = storage.transactionSync(() => {
            const maxClockSkewMs = store.settings().maxClockSkewMs;
            // Settings changes apply here, to this transaction's state; a refused one adds nothing.
            const refused = group.map((p) => p.prepare?.(store));
            const requests = group.map((p, i) => (refused[i] ? { items: [], provenance: p.req.provenance } : p.req));
            const s = sequenceGroup(
              store,
              tenant,
              previous,
              tree,
              requests,
              now(),
              maxClockSkewMs,
              this.#d.idempotencyWindowMs,
              this.#d.sources,
              this.#d.storedEvent,
            );
            store.writeHead(tenant, s.head);
            if (s.created.length > 0) this.#countIngest(previous, s);
            return { ...s, outcomes: s.outcomes.map((o, i): AppendResult => (refused[i] ? { ok: false, error: refused[i] } : o)) };
          });
          // Durable now: entries, tree nodes, idempotency rows, settings and head are in DO
          // storage (the output gate lets no reply out before DO storage has confirmed this
          // write). This is the acknowledgement point (docs/design.md invariant 3). A crash from
          // here on loses nothing: [mirroredTo, size) is the outbox, re-driven by the alarm armed
          // next (mirror.ts `committed`; and by `start` on restart).
          this.#head = sequenced.head;
          this.#tree = tree;
          // Ingest moves: what still waits has waited since now.
          this.#failingSince = null;
          if (this.#waiting > 0) this.#waitingSince = now();
          outcomes = sequenced.outcomes;
          created = sequenced.created;
        } catch (e) {
          // Nothing of this group was committed (transactionSync rolled back): no receipt is sent.
          console.error("TenantLog commit failed", e);
          store.forgetCached();
          this.#head = store.head();
          this.#failingSince ??= now();
          for (const p of group) p.resolve({ ok: false, error: { reason: "log_unavailable" } });
          continue;
        }
        // Outside the try: the group is committed whatever this does.
        mirror.committed(created);
        if (created.length > 0) this.#d.afterCommit();
        // Acknowledge now: the entries are durable in DO storage. D1 follows from the outbox
        // (a coalesced pass, mirror.ts); appends keep working while D1 is down.
        for (const [i, p] of group.entries()) this.#answer(p, outcomes[i]!);
        mirror.schedule();
        // maxBatch = 1, the bench's comparison: one commit and one D1 write per request, in turn.
        if (maxBatch === 1) await mirror.copy().catch((e: unknown) => console.error("D1 mirror pass failed", e));
      }
    } finally {
      this.#flushing = false;
    }
  }

  /** Answers a committed request: at once, or (durability "mirrored") once D1 holds its entries. */
  #answer(p: Pending & { resolve: (r: AppendResult) => void }, outcome: AppendResult): void {
    if (p.durability !== "mirrored" || !outcome.ok || outcome.receipts.length === 0) {
      p.resolve(outcome);
      return;
    }
    const until = Math.max(...outcome.receipts.map((r) => r.seq)) + 1;
    void this.#d.mirror.waitFor(until, MIRRORED_WAIT_MS).then((mirrored) => {
      // Not in D1 in time: the entries are committed all the same (a retry with the same
      // Idempotency-Key is answered with the same receipts).
      p.resolve(mirrored ? outcome : { ok: false, error: { reason: "not_mirrored", retryAfterSeconds: 5 } });
    });
  }

  /**
   * Ingest counters, in the commit's transaction: events flagged for clock skew, and the usual
   * gap between commits (an exponentially weighted mean) that tells when ingest has stalled.
   */
  #countIngest(previous: Head, s: { skewed: number; head: Head }): void {
    const { store } = this.#d;
    if (s.skewed > 0) {
      store.setCounter("skewed_events", store.counter("skewed_events") + s.skewed);
      // The `clock_skew` alert holds while the last flagged event is recent (alert-sources.ts).
      store.setCounter("last_skewed_at", s.head.lastReceivedAtMs);
    }
    if (previous.size > 0) {
      const gap = s.head.lastReceivedAtMs - previous.lastReceivedAtMs;
      const mean = store.counter("gap_ewma_ms");
      store.setCounter("gap_ewma_ms", Math.round(mean === 0 ? gap : mean + INGEST_GAP_WEIGHT * (gap - mean)));
    }
  }

  /** The head, the queue, and how ingest looks (LogStats). */
  stats(): CommitStats {
    const { store, now } = this.#d;
    const head = this.#head;
    const gap = store.counter("gap_ewma_ms");
    return {
      size: head.size,
      head_leaf_hash: toBase64(head.lastLeaf),
      queued_events: this.#queuedEvents,
      skewed_events: store.counter("skewed_events"),
      last_received_at: head.size > 0 ? new Date(head.lastReceivedAtMs).toISOString() : null,
      usual_gap_ms: gap,
      ingest_stalled: head.size >= 2 && gap !== 0 && now() - head.lastReceivedAtMs > Math.max(STALL_MIN_MS, STALL_FACTOR * gap),
    };
  }
}
