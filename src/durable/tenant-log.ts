/**
 * TenantLog: the one writer of one tenant's log (DESIGN.md invariant 1). Reached with
 * idFromName(tenant id). Its public methods are its RPC API; the logic lives in
 * sequencer.ts (group commit), log-store.ts (SQLite) and mirror.ts (D1).
 */
import { DurableObject } from "cloudflare:workers";
import { toBase64 } from "../core/bytes";
import { formatCheckpoint } from "../core/checkpoint";
import type { JsonObject } from "../core/entry";
import { CompactRange, consistencyProof, inclusionProof, treeHash, type NodeReader } from "../core/merkle";
import { signNote } from "../core/note";
import { formatTlogProof } from "../core/tlog-proof";
import { currentSigner, tenantOrigin } from "./checkpoint-keys";
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

export type ProofRangeError =
  | { reason: "index_out_of_range"; index: number; size: number }
  | { reason: "size_out_of_range"; size: number; treeSize: number }
  | { reason: "entry_not_found"; seq: number };

export type ProofResult<T> = { ok: true; value: T } | { ok: false; error: ProofRangeError };

/** A signed checkpoint (c2sp.org/tlog-checkpoint note) for a tree size. */
export interface SignedCheckpoint {
  size: number;
  note: string;
}

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
  /** Frontier of the tree at #head.size; replaced only after a commit succeeds. */
  #tree: CompactRange;
  #checkpoint: SignedCheckpoint | undefined;
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
    this.#tree = CompactRange.fromStore(this.#head.size, this.#readNode);
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
    this.#assertTenant(tenant);
    if (this.#queuedEvents + items.length > MAX_QUEUED_EVENTS) {
      return { ok: false, error: { reason: "overloaded", retryAfterSeconds: 1 } };
    }
    this.#tenant = tenant;
    const done = new Promise<AppendResult>((resolve) => this.#queue.push({ req: { items, provenance }, resolve }));
    this.#queuedEvents += items.length;
    if (!this.#flushing) void this.#flushLoop();
    return done;
  }

  /**
   * The checkpoint for the current tree size, signed with the tenant's current key.
   * Ed25519 is deterministic, so the same size always yields the same note.
   */
  async checkpoint(tenant: string): Promise<SignedCheckpoint> {
    this.#assertTenant(tenant);
    const size = this.#head.size;
    if (this.#checkpoint?.size !== size) {
      const origin = tenantOrigin(this.env, tenant);
      const body = formatCheckpoint({ origin, size, root: this.#tree.root(), extensions: [] });
      this.#checkpoint = { size, note: signNote(body, [currentSigner(this.env, tenant)]) };
    }
    return this.#checkpoint;
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

  /** The root of the tree at any size up to the current one. */
  async rootAt(tenant: string, size: number): Promise<ProofResult<string>> {
    this.#assertTenant(tenant);
    if (size > this.#head.size) return { ok: false, error: { reason: "size_out_of_range", size, treeSize: this.#head.size } };
    return { ok: true, value: toBase64(treeHash(size, this.#readNode)) };
  }

  /** c2sp.org/tlog-proof@v1 for entry `seq` against the current signed checkpoint. */
  async entryProof(tenant: string, seq: number): Promise<ProofResult<string>> {
    const cp = await this.checkpoint(tenant);
    if (seq >= cp.size) return { ok: false, error: { reason: "entry_not_found", seq } };
    return { ok: true, value: formatTlogProof({ index: seq, path: inclusionProof(seq, cp.size, this.#readNode), checkpoint: cp.note }) };
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

  readonly #readNode: NodeReader = (level, index) => this.#store.node(level, index);

  #assertTenant(tenant: string): void {
    if (this.#tenant !== undefined && this.#tenant !== tenant) {
      // idFromName(tenant) makes this impossible unless a caller is broken: refuse loudly.
      throw new Error(`TenantLog of ${this.#tenant} asked about ${tenant}`);
    }
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
          const tree = this.#tree.clone();
          const sequenced = this.ctx.storage.transactionSync(() => {
            const s = sequenceGroup(this.#store, tenant, this.#head, tree, group.map((p) => p.req), Date.now());
            this.#store.writeHead(tenant, s.head);
            return s;
          });
          // Durable now: entries, tree nodes, idempotency rows and head are in DO storage. A crash from here
          // on loses nothing: [mirroredTo, size) is the outbox, re-driven by the alarm armed next
          // (and re-armed by the constructor on restart). No reply leaves before the alarm write
          // is durable too: the output gate holds it.
          this.#head = sequenced.head;
          this.#tree = tree;
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
