/**
 * TenantLog: the one writer of one tenant's log (DESIGN.md invariant 1). Reached with
 * idFromName(tenant id). Its public methods are its RPC API; the logic lives in plain
 * modules: sequencer.ts (group commit), log-store.ts (SQLite), mirror.ts (D1),
 * seal-plan.ts and sealer.ts (snapshots in R2 and KV), checkpoint-keys.ts (signing).
 */
import { DurableObject } from "cloudflare:workers";
import { toBase64 } from "../core/bytes";
import { formatCheckpoint } from "../core/checkpoint";
import type { JsonObject } from "../core/entry";
import { formatBundle, sha256Base64 } from "../core/manifest";
import { CompactRange, consistencyProof, inclusionProof, treeHash, type NodeReader } from "../core/merkle";
import { signNote } from "../core/note";
import { formatTlogProof } from "../core/tlog-proof";
import { currentSigner, tenantOrigin } from "./checkpoint-keys";
import { LogStore, type Head, type SealRecord, type StoredEntry, type TenantSettings } from "./log-store";
import { writeToD1 } from "./mirror";
import { applySettingsPatch, settingsView, type SettingsError, type SettingsPatch } from "./settings";
import { planSeal } from "../core/seal";
import { restoreSeal, restoreUnsealed, type RebuildError, type RebuildProgress } from "./rebuild";
import { bundleFromStore } from "./seal-plan";
import {
  indexSeal,
  publishSeal,
  SEAL_AFTER_ENTRIES,
  SEAL_MAX_ENTRIES,
  sealPrefix,
  sealId,
  sealSummary,
  type PublishError,
  type SealSummary,
} from "./sealer";
import { sequenceGroup, type AppendItem, type AppendRequest, type Receipt } from "./sequencer";

/** Back-pressure: events waiting for a commit beyond this are refused with 503 + Retry-After. */
export const MAX_QUEUED_EVENTS = 10_000;
/** Entries copied to D1 per mirror pass; a longer backlog continues from the alarm. */
export const MIRROR_PASS_LIMIT = 2_000;
/** After each commit an alarm is armed this far ahead, so a crash before the D1 write is re-driven. */
export const MIRROR_WATCHDOG_MS = 10_000;
const RETRY_MAX_MS = 60_000;
/** After a reconcile could not read R2, appends skip waiting on it for this long. */
const RECONCILE_RETRY_MS = 30_000;
/** Weight of the newest gap in the usual-gap mean. */
const INGEST_GAP_WEIGHT = 0.1;
/** Ingest is flagged as stalled after this many usual gaps without an entry (and at least a minute). */
export const STALL_FACTOR = 10;
export const STALL_MIN_MS = 60_000;
const backoffMs = (failures: number) => Math.min(1000 * 2 ** Math.min(failures, 6), RETRY_MAX_MS);

/** Why the log refuses to write (DESIGN.md invariant 10): R2 holds what this object did not sign. */
export interface Refusal {
  reason: "r2_ahead" | "r2_conflict";
  key: string;
  detail: string;
}

export type LogError =
  | { reason: "idempotency_conflict"; key: string }
  | { reason: "overloaded"; retryAfterSeconds: number }
  | { reason: "log_unavailable" }
  | { reason: "split_view"; refusal: Refusal }
  | SettingsError;

export type AppendResult = { ok: true; receipts: Receipt[] } | { ok: false; error: LogError };

export type ProofRangeError =
  | { reason: "index_out_of_range"; index: number; size: number }
  | { reason: "size_out_of_range"; size: number; treeSize: number }
  | { reason: "entry_not_found"; seq: number }
  | { reason: "split_view"; refusal: Refusal }
  | { reason: "not_reconciled" };

export type ProofResult<T> = { ok: true; value: T } | { ok: false; error: ProofRangeError };

/** A signed checkpoint (c2sp.org/tlog-checkpoint note) for a tree size. */
export interface SignedCheckpoint {
  size: number;
  note: string;
}

export type SealResult =
  | { ok: true; value: { sealed: SealSummary[] } }
  | { ok: false; error: { reason: "split_view"; refusal: Refusal } | { reason: "seal_failed"; detail: string } };

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
  sealed_to: number;
  latest_seal: SealSummary | null;
  seal_failures: number;
  last_seal_error: string | null;
  refusal: Refusal | null;
  /** Events whose occurred_at was further from received_at than the tenant allows. */
  skewed_events: number;
  last_received_at: string | null;
  /** The usual gap between commits, in ms (0 until there are two). */
  usual_gap_ms: number;
  /** No entry for STALL_FACTOR usual gaps (and at least STALL_MIN_MS). */
  ingest_stalled: boolean;
}

interface Pending {
  req: AppendRequest;
  /**
   * Runs inside the commit's transaction, before the group is sequenced, in queue order: it may
   * refuse the request (nothing of it is stored), or write through `store` and set the request's
   * items from the state of this very transaction (settings changes).
   */
  prepare?: (store: LogStore) => LogError | undefined;
  resolve: (r: AppendResult) => void;
}

export class TenantLog extends DurableObject<Env> {
  readonly #store: LogStore;
  #tenant: string | undefined;
  #head: Head;
  /** Frontier of the tree at #head.size; replaced only after a commit succeeds. */
  #tree: CompactRange;
  #checkpoint: SignedCheckpoint | undefined;
  #mirroredTo: number;
  #evictedBelow = 0;
  #queue: Pending[] = [];
  #queuedEvents = 0;
  #flushing = false;
  /** received_at of entry 0 (it never changes), once read: the first seal's due time counts from it. */
  #firstReceivedAtMs: number | undefined;
  /** The latest committed group's acknowledgement (after its D1 copy is attempted). */
  #lastAnswered: Promise<void> = Promise.resolve();
  #mirrorChain: Promise<unknown> = Promise.resolve();
  #mirrorFailures = 0;
  #sealChain: Promise<unknown> = Promise.resolve();
  #sealFailures = 0;
  #lastSealError: string | null = null;
  /** Set by reconcile when R2 holds a newer or conflicting seal; appends and signing stop. */
  #refusal: Refusal | null = null;
  #reconciled: Promise<boolean> | undefined;
  /** When the last reconcile could not read R2; appends do not wait on R2 again for a while. */
  #reconcileFailedAt = 0;
  /** Sealing backs off after a failure: nothing schedules a seal before this time. */
  #sealRetryAt = 0;
  #alarmAt: number | null = null;
  /**
   * Requests per group commit (a request's items always commit together). Unlimited in
   * production; `npm run bench` sets 1 through SEALTRAIL_BENCH_MAX_BATCH to measure what group
   * commit buys (one transaction and one D1 write per request). Tests may set it directly.
   */
  maxBatch: number;
  /** Bindings the log writes to. Tests wrap them in fault-injecting doubles. */
  mirrorDb: D1Database;
  bucket: R2Bucket;
  kv: KVNamespace;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new LogStore(ctx.storage.sql);
    this.#tenant = this.#store.tenant();
    this.#head = this.#store.head();
    this.#tree = CompactRange.fromStore(this.#head.size, this.#readNode);
    this.#mirroredTo = this.#store.mirroredTo();
    this.mirrorDb = env.DB;
    this.bucket = env.BUCKET;
    this.kv = env.KV;
    const maxBatch = Number(env.SEALTRAIL_BENCH_MAX_BATCH);
    this.maxBatch = Number.isSafeInteger(maxBatch) && maxBatch >= 1 ? maxBatch : Infinity;
    void ctx.blockConcurrencyWhile(async () => {
      this.#alarmAt = await ctx.storage.getAlarm();
      // Entries committed before a crash but not yet in D1: re-drive them soon.
      if (this.#mirroredTo < this.#head.size) this.#armAlarm(Date.now());
      // Compare with R2 before serving anything (invariant 10). A fresh object learns its
      // tenant from its first call and reconciles then.
      if (this.#tenant !== undefined) await this.#ready(this.#tenant);
    });
  }

  // ---- RPC API ---------------------------------------------------------------------------

  /**
   * Appends the items of one request atomically (all or none) and resolves once they are
   * committed. Concurrent calls are grouped into one transaction (group commit).
   */
  async append(tenant: string, items: AppendItem[], provenance: JsonObject): Promise<AppendResult> {
    return this.#enqueue(tenant, { req: { items, provenance } });
  }

  /** Does nothing: the bench's Worker → Durable Object ceiling (src/worker/bench-baseline.ts). */
  async ping(): Promise<number> {
    return this.#head.size;
  }

  async settings(tenant: string): Promise<TenantSettings> {
    this.#assertTenant(tenant);
    return this.#store.settings();
  }

  /**
   * Applies `patch` to the settings as they are in the commit's own transaction, and appends
   * `event` with `metadata.before`/`after` taken from that same state, in that transaction: a
   * setting never changes without its entry, and concurrent changes never undo each other.
   */
  async updateSettings(
    tenant: string,
    patch: SettingsPatch,
    event: JsonObject,
    provenance: JsonObject,
  ): Promise<{ ok: true; receipts: Receipt[]; settings: TenantSettings } | { ok: false; error: LogError }> {
    const req: AppendRequest = { items: [{ event }], provenance };
    let applied: TenantSettings | undefined;
    const result = await this.#enqueue(tenant, {
      req,
      prepare: (store) => {
        const change = applySettingsPatch(store.settings(), patch);
        if (!change.ok) return change.error;
        const metadata = { before: settingsView(store.settings()), after: settingsView(change.after) };
        store.writeSettings(change.after);
        req.items = [{ event: { ...event, metadata: { ...(event.metadata as JsonObject | undefined), ...metadata } } }];
        applied = change.after;
        return undefined;
      },
    });
    if (!result.ok) return result;
    this.#scheduleSeal(Date.now());
    return { ...result, settings: applied! };
  }

  /**
   * The checkpoint for the current tree size, signed with the tenant's current key.
   * Ed25519 is deterministic, so the same size always yields the same note.
   */
  async checkpoint(tenant: string): Promise<ProofResult<SignedCheckpoint>> {
    const reconciled = await this.#ready(tenant);
    // Never sign while R2 holds a newer or conflicting checkpoint (invariant 10), nor while
    // R2 could not be read to rule that out.
    if (this.#refusal) return { ok: false, error: { reason: "split_view", refusal: this.#refusal } };
    if (!reconciled) return { ok: false, error: { reason: "not_reconciled" } };
    const size = this.#head.size;
    if (this.#checkpoint?.size !== size) {
      const body = formatCheckpoint({ origin: tenantOrigin(this.env, tenant), size, root: this.#tree.root(), extensions: [] });
      this.#checkpoint = { size, note: signNote(body, [currentSigner(this.env, tenant)]) };
    }
    return { ok: true, value: this.#checkpoint };
  }

  /** RFC 6962 audit path for `index` in the tree of `size` (O(log n) node reads). */
  async inclusionProof(tenant: string, index: number, size: number): Promise<ProofResult<{ index: number; size: number; hashes: string[] }>> {
    this.#assertTenant(tenant);
    if (size > this.#head.size) return { ok: false, error: { reason: "size_out_of_range", size, treeSize: this.#head.size } };
    if (index >= size) return { ok: false, error: { reason: "index_out_of_range", index, size } };
    return { ok: true, value: { index, size, hashes: inclusionProof(index, size, this.#readNode).map(toBase64) } };
  }

  /** RFC 6962 consistency proof between tree sizes `from` and `to` (O(log n) node reads). */
  async consistencyProof(tenant: string, from: number, to: number): Promise<ProofResult<{ from: number; to: number; hashes: string[] }>> {
    this.#assertTenant(tenant);
    if (to > this.#head.size) return { ok: false, error: { reason: "size_out_of_range", size: to, treeSize: this.#head.size } };
    if (from < 1 || from > to) return { ok: false, error: { reason: "size_out_of_range", size: from, treeSize: to } };
    return { ok: true, value: { from, to, hashes: consistencyProof(from, to, this.#readNode).map(toBase64) } };
  }

  /** c2sp.org/tlog-proof@v1 for entry `seq` against the current signed checkpoint. */
  async entryProof(tenant: string, seq: number): Promise<ProofResult<string>> {
    const cp = await this.checkpoint(tenant);
    if (!cp.ok) return cp;
    if (seq >= cp.value.size) return { ok: false, error: { reason: "entry_not_found", seq } };
    const path = inclusionProof(seq, cp.value.size, this.#readNode);
    return { ok: true, value: formatTlogProof({ index: seq, path, checkpoint: cp.value.note }) };
  }

  /** The log's own leaf hashes for [from, from + count) (base64), for verification. */
  async leaves(tenant: string, from: number, count: number): Promise<string[]> {
    this.#assertTenant(tenant);
    return this.#store.leaves(from, Math.min(count, Math.max(0, this.#head.size - from))).map(toBase64);
  }

  /** The log's leaf hashes at the given sequence numbers (undefined beyond the head). */
  async leavesAt(tenant: string, seqs: number[]): Promise<(string | null)[]> {
    this.#assertTenant(tenant);
    return seqs.map((seq) => (seq < this.#head.size ? toBase64(this.#store.node(0, seq)) : null));
  }

  /**
   * The tree at `size` as a verifier resumes from it: the compact range's frontier and the
   * leaf hash of entry size-1 (base64; 32 zero bytes for size 0).
   */
  async treeStateAt(tenant: string, size: number): Promise<ProofResult<{ frontier: (string | null)[]; prevLeaf: string }>> {
    this.#assertTenant(tenant);
    if (size > this.#head.size) return { ok: false, error: { reason: "size_out_of_range", size, treeSize: this.#head.size } };
    const range = CompactRange.fromStore(size, this.#readNode);
    return {
      ok: true,
      value: {
        frontier: range.frontierHashes().map((h) => (h === undefined ? null : toBase64(h))),
        prevLeaf: size === 0 ? toBase64(new Uint8Array(32)) : toBase64(this.#store.node(0, size - 1)),
      },
    };
  }

  /** The seals this log planned (published or not), from id `from`, at most `limit`. */
  async seals(tenant: string, from: number, limit: number): Promise<{ id: number; from: number; to: number; root: string; manifest: string; published: boolean }[]> {
    this.#assertTenant(tenant);
    return this.#store.seals(from, limit).map((s) => ({ id: s.id, from: s.from, to: s.to, root: toBase64(s.root), manifest: s.manifest, published: s.published }));
  }

  /** The root of the tree at `size` (base64). */
  async rootAt(tenant: string, size: number): Promise<ProofResult<string>> {
    this.#assertTenant(tenant);
    if (size > this.#head.size) return { ok: false, error: { reason: "size_out_of_range", size, treeSize: this.#head.size } };
    return { ok: true, value: toBase64(treeHash(size, this.#readNode)) };
  }

  /** One entry by sequence number, from DO storage (which holds every entry not yet in D1 and R2). */
  async entry(seq: number): Promise<StoredEntryView | null> {
    const e = this.#store.entry(seq);
    return e ? { seq: e.seq, entry: e.entry, leaf_hash: toBase64(e.leafHash) } : null;
  }

  async stats(): Promise<LogStats> {
    const latest = this.#store.latestPublishedSeal();
    return {
      tenant: this.#tenant ?? null,
      size: this.#head.size,
      head_leaf_hash: toBase64(this.#head.lastLeaf),
      mirrored_to: this.#mirroredTo,
      queued_events: this.#queuedEvents,
      mirror_failures: this.#mirrorFailures,
      sealed_to: latest?.to ?? 0,
      latest_seal: latest && this.#tenant ? sealSummary(this.#tenant, latest) : null,
      seal_failures: this.#sealFailures,
      last_seal_error: this.#lastSealError,
      refusal: this.#refusal,
      skewed_events: this.#store.counter("skewed_events"),
      last_received_at: this.#head.size > 0 ? new Date(this.#head.lastReceivedAtMs).toISOString() : null,
      usual_gap_ms: this.#store.counter("gap_ewma_ms"),
      ingest_stalled: this.#stalled(Date.now()),
    };
  }

  #stalled(nowMs: number): boolean {
    const gap = this.#store.counter("gap_ewma_ms");
    if (this.#head.size < 2 || gap === 0) return false;
    return nowMs - this.#head.lastReceivedAtMs > Math.max(STALL_MIN_MS, STALL_FACTOR * gap);
  }

  /**
   * Compares with R2 again (as at start): after R2 was unreachable, or after an operator has
   * repaired it. True when R2 could be read; a refusal is set, or cleared, by the outcome.
   */
  async reconcile(tenant: string): Promise<boolean> {
    this.#assertTenant(tenant);
    this.#tenant = tenant;
    const prior = this.#refusal;
    this.#refusal = null;
    this.#reconciled = undefined;
    const done = await this.#ready(tenant);
    // R2 unreadable proves nothing: a refusal stands until a reconcile can read R2.
    if (!done) this.#refusal = prior;
    return done;
  }

  /**
   * Rebuilds the tenant's D1 rows from R2 bundles and DO storage, checking every entry against
   * the log's tree (rebuild.ts). Works for about `budgetMs`, then returns where it stopped;
   * call again with `progress.nextSeal` until `done`.
   */
  async rebuildD1(tenant: string, nextSeal: number, budgetMs: number): Promise<{ ok: true; value: RebuildProgress } | { ok: false; error: RebuildError }> {
    this.#assertTenant(tenant);
    const started = Date.now();
    let restored = 0;
    let id = nextSeal;
    for (;;) {
      const seal = this.#store.seals(id, 1)[0];
      if (!seal || !seal.published) break;
      const failed = await restoreSeal(this.mirrorDb, this.bucket, this.#store, tenant, seal);
      if (failed) return { ok: false, error: failed };
      restored += seal.to - seal.from;
      id += 1;
      if (Date.now() - started > budgetMs) return { ok: true, value: { nextSeal: id, restored, done: false } };
    }
    // The rest is still in DO storage: it leaves only once sealed and in D1.
    const sealedTo = this.#store.latestPublishedSeal()?.to ?? 0;
    const failed = await restoreUnsealed(this.mirrorDb, this.#store, sealedTo, this.#head.size);
    if (failed) return { ok: false, error: failed };
    restored += this.#head.size - sealedTo;
    return { ok: true, value: { nextSeal: id, restored, done: true } };
  }

  /** Copies any backlog to D1 now; true when D1 holds every entry. */
  async drainMirror(): Promise<boolean> {
    return this.#mirror();
  }

  /** Seals everything waiting now (POST /v1/tenants/:t/seal), whatever the interval. */
  async sealNow(tenant: string): Promise<SealResult> {
    await this.#ready(tenant);
    return this.#seal(true);
  }

  override async alarm(): Promise<void> {
    this.#alarmAt = null;
    await this.#mirror();
    if (this.#tenant !== undefined) {
      // After a failed pass #sealFailed has armed the backoff; scheduling now would undo it.
      if ((await this.#seal(false)).ok) this.#scheduleSeal(Date.now());
    }
  }

  // ---- appends ---------------------------------------------------------------------------

  readonly #readNode: NodeReader = (level, index) => this.#store.node(level, index);

  #assertTenant(tenant: string): void {
    if (this.#tenant !== undefined && this.#tenant !== tenant) {
      // idFromName(tenant) makes this impossible unless a caller is broken: refuse loudly.
      throw new Error(`TenantLog of ${this.#tenant} asked about ${tenant}`);
    }
  }

  async #enqueue(tenant: string, pending: Omit<Pending, "resolve">): Promise<AppendResult> {
    // Appends go on while R2 is down (invariant 10 is kept by never signing unreconciled):
    // after a failed reconcile they do not wait on R2 again for RECONCILE_RETRY_MS.
    if (this.#reconciled !== undefined || Date.now() - this.#reconcileFailedAt > RECONCILE_RETRY_MS) await this.#ready(tenant);
    else this.#assertTenant(tenant);
    if (this.#refusal) return { ok: false, error: { reason: "split_view", refusal: this.#refusal } };
    if (this.#queuedEvents + pending.req.items.length > MAX_QUEUED_EVENTS) {
      return { ok: false, error: { reason: "overloaded", retryAfterSeconds: 1 } };
    }
    const done = new Promise<AppendResult>((resolve) => this.#queue.push({ ...pending, resolve }));
    this.#queuedEvents += pending.req.items.length;
    if (!this.#flushing) void this.#flushLoop();
    return done;
  }

  async #flushLoop(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        const group = this.#queue.splice(0, Math.min(this.#queue.length, this.maxBatch));
        for (const p of group) this.#queuedEvents -= p.req.items.length;
        const tenant = this.#tenant!;
        let outcomes: AppendResult[];
        let createdEntries: StoredEntry[];
        try {
          const tree = this.#tree.clone();
          const previous = this.#head;
          const sequenced = this.ctx.storage.transactionSync(() => {
            const maxClockSkewMs = this.#store.settings().maxClockSkewMs;
            // Settings changes apply here, to this transaction's state; a refused one adds nothing.
            const refused = group.map((p) => p.prepare?.(this.#store));
            const requests = group.map((p, i) => (refused[i] ? { items: [], provenance: p.req.provenance } : p.req));
            const s = sequenceGroup(this.#store, tenant, previous, tree, requests, Date.now(), maxClockSkewMs);
            this.#store.writeHead(tenant, s.head);
            if (s.created.length > 0) this.#countIngest(previous, s);
            return { ...s, outcomes: s.outcomes.map((o, i): AppendResult => (refused[i] ? { ok: false, error: refused[i] } : o)) };
          });
          // Durable now: entries, tree nodes, idempotency rows, settings and head are in DO
          // storage. A crash from here on loses nothing: [mirroredTo, size) is the outbox,
          // re-driven by the alarm armed next (and by the constructor on restart). No reply
          // leaves before the alarm write is durable too: the output gate holds it.
          this.#head = sequenced.head;
          this.#tree = tree;
          outcomes = sequenced.outcomes;
          createdEntries = sequenced.created;
        } catch (e) {
          // Nothing of this group was committed (transactionSync rolled back).
          console.error("TenantLog commit failed", e);
          this.#store.forgetCached();
          this.#head = this.#store.head();
          for (const p of group) p.resolve({ ok: false, error: { reason: "log_unavailable" } });
          continue;
        }
        // Outside the try: the group is committed whatever this does.
        this.#rememberUnmirrored(createdEntries);
        const created = createdEntries.length;
        if (created > 0) {
          this.#armAlarm(Date.now() + MIRROR_WATCHDOG_MS);
          this.#scheduleSeal(Date.now());
        }
        // Acknowledge after the D1 copy is attempted, so an acknowledged entry is normally in
        // two stores. If D1 is down the entry is still durable in DO storage and the outbox
        // retries it: the append succeeds (DESIGN.md: appends keep working while D1 is down).
        // The group is committed: whatever the mirror does, every caller gets its answer.
        const answered = this.#mirror()
          .catch((e: unknown) => console.error("D1 mirror pass failed", e))
          .then(() => group.forEach((p, i) => p.resolve(outcomes[i]!)));
        // Pipelined, two deep (issue #8): the next group may commit while this group's D1 write
        // is in flight, but not before the previous group's has finished, so groups still
        // gather while D1 works, and a mirror pass is always ready to start when one ends (each
        // pass copies everything committed before it started). maxBatch = 1, the bench's
        // comparison, keeps one commit and one D1 write per request, one after the other.
        if (this.maxBatch === 1) {
          await answered;
        } else {
          await this.#lastAnswered;
          this.#lastAnswered = answered;
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  /**
   * Ingest counters, in the commit's transaction: events flagged for clock skew, and the usual
   * gap between commits (an exponentially weighted mean) that tells when ingest has stalled.
   */
  #countIngest(previous: Head, s: { created: unknown[]; skewed: number; head: Head }): void {
    if (s.skewed > 0) this.#store.setCounter("skewed_events", this.#store.counter("skewed_events") + s.skewed);
    if (previous.size > 0) {
      const gap = s.head.lastReceivedAtMs - previous.lastReceivedAtMs;
      const mean = this.#store.counter("gap_ewma_ms");
      this.#store.setCounter("gap_ewma_ms", Math.round(mean === 0 ? gap : mean + INGEST_GAP_WEIGHT * (gap - mean)));
    }
  }

  // ---- the D1 mirror ---------------------------------------------------------------------

  /**
   * Entries just committed and not yet in D1, as the commit wrote them, so a mirror pass need
   * not read them back (issue #8: that SELECT was ~5% of an append's CPU). At most
   * MIRROR_PASS_LIMIT entries; beyond that (D1 down, a backlog) it is dropped and passes read
   * DO storage, the truth, until the mirror has caught up.
   */
  #unmirrored: StoredEntry[] | undefined = [];

  #rememberUnmirrored(created: readonly StoredEntry[]): void {
    if (created.length === 0) return;
    if (!this.#unmirrored && this.#mirroredTo === created[0]!.seq) this.#unmirrored = [];
    if (!this.#unmirrored) return;
    const last = this.#unmirrored[this.#unmirrored.length - 1];
    const contiguous = last ? last.seq + 1 === created[0]!.seq : this.#mirroredTo === created[0]!.seq;
    if (!contiguous || this.#unmirrored.length + created.length > MIRROR_PASS_LIMIT) this.#unmirrored = undefined;
    else this.#unmirrored.push(...created);
  }

  /** The outbox [mirroredTo, size) from memory, when memory holds all of it. */
  #unmirroredFromMemory(): StoredEntry[] | undefined {
    const mem = this.#unmirrored;
    if (!mem || mem.length === 0 || mem[0]!.seq !== this.#mirroredTo || mem[mem.length - 1]!.seq !== this.#head.size - 1) return undefined;
    return mem.slice();
  }

  /** Serializes mirror passes so two never copy the same range at once. */
  #mirror(): Promise<boolean> {
    const pass = this.#mirrorChain.then(() => this.#mirrorPass());
    this.#mirrorChain = pass.catch(() => undefined);
    return pass;
  }

  async #mirrorPass(): Promise<boolean> {
    if (this.#mirroredTo >= this.#head.size) return true;
    const batch = this.#unmirroredFromMemory() ?? this.#store.entries(this.#mirroredTo, MIRROR_PASS_LIMIT);
    try {
      await writeToD1(this.mirrorDb, batch);
    } catch (e) {
      this.#mirrorFailures += 1;
      const backoff = backoffMs(this.#mirrorFailures);
      console.error(`D1 mirror failed (${this.#mirrorFailures} in a row), retry in ${backoff} ms`, e);
      this.#armAlarm(Date.now() + backoff);
      // D1 is failing: hold no copy in memory while it recovers (passes read DO storage, the
      // truth, until the mirror has caught up).
      this.#unmirrored = undefined;
      return false;
    }
    // D1 now holds [0, to). Recording it is idempotent: a crash before this line only means the
    // next pass inserts the same rows again, which the mirror skips (it inserts only rows D1 lacks).
    const to = batch[batch.length - 1]!.seq + 1;
    this.#store.setMirroredTo(to);
    this.#mirroredTo = Math.max(this.#mirroredTo, to);
    if (this.#unmirrored) this.#unmirrored = this.#unmirrored.filter((e) => e.seq >= this.#mirroredTo);
    // Caught up (after a D1 failure dropped the copy, say): keep the next commits in memory again.
    else if (this.#mirroredTo >= this.#head.size) this.#unmirrored = [];
    this.#mirrorFailures = 0;
    this.#evict();
    if (this.#mirroredTo < this.#head.size) {
      // A backlog beyond this pass's limit continues from the alarm. Entries committed while
      // this pass ran need no alarm: #flushLoop queued a pass for them behind this one (an
      // alarm per pass cost a mirror and a seal check per group under load).
      if (batch.length >= MIRROR_PASS_LIMIT) this.#armAlarm(Date.now());
      return false;
    }
    return true;
  }

  /** Invariant 3: entries leave DO storage only once they are both in D1 and sealed in R2. */
  #evict(): void {
    const below = Math.min(this.#mirroredTo, this.#store.latestPublishedSeal()?.to ?? 0);
    if (below <= this.#evictedBelow) return;
    this.#store.evictEntriesBelow(below);
    this.#evictedBelow = below;
  }

  // ---- sealing ---------------------------------------------------------------------------

  /** Reconciles with R2 once per object lifetime (retried by the alarm if R2 was down). */
  #ready(tenant: string): Promise<boolean> {
    this.#assertTenant(tenant);
    this.#tenant = tenant;
    this.#reconciled ??= this.#reconcile(tenant).then((done) => {
      if (!done) {
        this.#reconciled = undefined;
        this.#reconcileFailedAt = Date.now();
      }
      return done;
    });
    return this.#reconciled;
  }

  /**
   * Compares DO state with R2 (DESIGN.md invariant 10). R2 ahead (a seal this object never
   * made) or in conflict (different bytes for a seal it did make): refuse to write or sign.
   * R2 behind (a seal planned or published here but missing there): publish it again.
   * Returns false if R2 could not be read; appends go on, sealing waits for the next try.
   */
  async #reconcile(tenant: string): Promise<boolean> {
    const latest = this.#store.latestSeal();
    const next = sealPrefix(tenant) + sealId(latest ? latest.id + 1 : 0) + "/";
    try {
      const ahead = await this.bucket.list({ prefix: next, limit: 1 });
      if (ahead.objects.length > 0) {
        this.#refuse({ reason: "r2_ahead", key: ahead.objects[0]!.key, detail: "R2 holds a seal this log never made" });
        return true;
      }
    } catch (e) {
      this.#lastSealError = `reconcile: R2 unavailable (${e instanceof Error ? e.message : String(e)})`;
      return false;
    }
    if (!latest) return true;
    // Publishing again is exactly the check we need: existing objects must hold our bytes.
    const failure = await this.#publish(tenant, latest);
    if (failure?.reason === "r2_unavailable") {
      this.#lastSealError = `reconcile: R2 unavailable at ${failure.key}`;
      return false;
    }
    return failure === undefined || this.#refusal !== null;
  }

  #refuse(refusal: Refusal): void {
    this.#refusal = refusal;
    this.#checkpoint = undefined;
    this.#store.recordCondition(Date.now(), refusal.reason, `${refusal.key}: ${refusal.detail}`);
    console.error(`TenantLog ${this.#tenant} refuses to write: ${refusal.reason} at ${refusal.key}`);
  }

  /** Serializes seal passes (alarm and seal-now) so a range is never planned twice. */
  #seal(force: boolean): Promise<SealResult> {
    const pass = this.#sealChain.then(() => this.#sealPass(force));
    this.#sealChain = pass.catch(() => undefined);
    return pass;
  }

  async #sealPass(force: boolean): Promise<SealResult> {
    const tenant = this.#tenant!;
    if (!(await this.#ready(tenant))) return this.#sealFailed(this.#lastSealError ?? "reconcile failed");
    if (this.#refusal) return { ok: false, error: { reason: "split_view", refusal: this.#refusal } };
    const sealed: SealSummary[] = [];
    for (;;) {
      const latest = this.#store.latestSeal();
      let seal: SealRecord;
      if (latest && !latest.published) {
        seal = latest; // planned by an earlier run that did not finish: complete it
      } else {
        const waiting = this.#head.size - (latest?.to ?? 0);
        const due = waiting > 0 && (force || waiting >= SEAL_AFTER_ENTRIES || Date.now() >= this.#sealDueAt(latest));
        if (!due) break;
        const plan = planSeal({
          entries: (from, to) => bundleFromStore(this.#store, from, to),
          readNode: this.#readNode,
          tenant,
          origin: tenantOrigin(this.env, tenant),
          signer: currentSigner(this.env, tenant),
          size: this.#head.size,
          maxEntries: SEAL_MAX_ENTRIES,
          prev: latest,
          nowMs: Date.now(),
        });
        if (!plan) break;
        // Durable now: the plan (range, checkpoint, manifest, sealed_at). A crash from here on
        // is recovered by the next run, which finds this unpublished seal and publishes the
        // same bytes; nothing is signed twice for one range.
        this.ctx.storage.transactionSync(() => this.#store.insertSeal(plan.seal));
        seal = plan.seal;
      }
      const failure = await this.#publish(tenant, seal);
      if (failure) {
        if (this.#refusal) return { ok: false, error: { reason: "split_view", refusal: this.#refusal } };
        return this.#sealFailed(`${failure.reason} at ${failure.key}`);
      }
      sealed.push(sealSummary(tenant, { ...seal, published: true }));
      await this.#index(tenant);
    }
    this.#sealFailures = 0;
    this.#sealRetryAt = 0;
    this.#lastSealError = null;
    return { ok: true, value: { sealed } };
  }

  #sealFailed(detail: string): SealResult {
    this.#sealFailures += 1;
    this.#lastSealError = detail;
    console.error(`TenantLog ${this.#tenant} seal failed (${this.#sealFailures} in a row): ${detail}`);
    this.#sealRetryAt = Date.now() + backoffMs(this.#sealFailures);
    this.#armAlarm(this.#sealRetryAt);
    return { ok: false, error: { reason: "seal_failed", detail } };
  }

  /** Writes a planned or published seal's objects to R2 (create-only) and marks it published. */
  async #publish(tenant: string, seal: SealRecord): Promise<PublishError | undefined> {
    const failure = await publishSeal(this.bucket, tenant, seal, () => this.#bundleOf(seal));
    if (failure?.reason === "r2_conflict") {
      this.#refuse({ reason: "r2_conflict", key: failure.key, detail: `R2 holds other bytes (sha256 ${failure.got}, ours ${failure.expected})` });
    }
    if (failure) return failure;
    if (!seal.published) {
      // Durable now: bundle, checkpoint and manifest are all in R2, and this row says so.
      // Entries that are in D1 too may now leave DO storage.
      this.ctx.storage.transactionSync(() => this.#store.markSealPublished(seal.id));
      this.#evict();
    }
    return undefined;
  }

  /**
   * A seal's bundle: from DO storage while it holds the entries, else from D1 (after
   * eviction), accepted only if it hashes to the planned bundle_sha256.
   */
  async #bundleOf(seal: SealRecord): Promise<string | undefined> {
    const local = bundleFromStore(this.#store, seal.from, seal.to);
    if (local !== undefined) return local;
    try {
      const { results } = await this.mirrorDb
        .prepare("SELECT entry FROM audit_events WHERE tenant_id = ? AND seq >= ? AND seq < ? ORDER BY seq")
        .bind(this.#tenant, seal.from, seal.to)
        .all<{ entry: string }>();
      const bundle = formatBundle(results.map((r) => r.entry));
      return sha256Base64(bundle) === seal.bundleSha256 ? bundle : undefined;
    } catch {
      return undefined;
    }
  }

  /** Writes the KV index for published seals not yet indexed. KV is an index: failures wait. */
  async #index(tenant: string): Promise<void> {
    for (const seal of this.#store.unindexedSeals()) {
      try {
        await indexSeal(this.kv, tenant, seal);
      } catch (e) {
        console.error(`KV index of seal ${seal.id} failed; retried at the next seal`, e);
        return;
      }
      this.#store.markSealIndexed(seal.id);
    }
  }

  /** When the next seal is due: the interval after the last seal (or after the first unsealed entry). */
  #sealDueAt(latest: SealRecord | undefined): number {
    const interval = this.#store.settings().sealIntervalMs;
    if (latest) return latest.sealedAtMs + interval;
    if (this.#firstReceivedAtMs === undefined) {
      const first = this.#store.entry(0);
      if (first) this.#firstReceivedAtMs = Date.parse((JSON.parse(first.entry) as { received_at: string }).received_at);
    }
    return (this.#firstReceivedAtMs ?? Date.now()) + interval;
  }

  #scheduleSeal(nowMs: number): void {
    const latest = this.#store.latestSeal();
    const waiting = this.#head.size - (latest?.to ?? 0);
    if (waiting <= 0 && (latest?.published ?? true)) return;
    if (this.#refusal) return;
    const due = waiting >= SEAL_AFTER_ENTRIES || (latest && !latest.published) ? nowMs : this.#sealDueAt(latest);
    this.#armAlarm(Math.max(due, this.#sealRetryAt));
  }

  #armAlarm(at: number): void {
    if (this.#alarmAt !== null && this.#alarmAt <= at) return;
    this.#alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }
}
