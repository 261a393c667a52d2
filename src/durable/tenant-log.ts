/**
 * TenantLog: the one writer of one tenant's log (docs/design.md invariant 1), reached with
 * idFromName(tenant id). This class is its RPC surface and its alarm; the work is done by plain
 * classes, one per storage role, that receive their bindings and clock (`openLog` wires them):
 *   group-commit.ts  the queue, the commit (sequencer.ts, in transactionSync), pipelining, back-pressure
 *   mirror.ts        the D1 outbox: passes, their in-memory copy, backoff (audit-events.ts: the SQL)
 *   sealer.ts        seals in R2 and KV (seal-objects.ts), reconciling with R2, the refusal to write
 *   log-reads.ts     checkpoints, proofs and reads from DO storage
 *   log-store.ts     every SQL statement against DO storage; alarm.ts the one alarm
 * The types of its RPC results are in log-types.ts.
 */
import { DurableObject } from "cloudflare:workers";
import type { JsonObject } from "../core/entry";
import { Alarm } from "./alarm";
import { GroupCommit } from "./group-commit";
import { LogReads } from "./log-reads";
import { LogStore, type TenantSettings } from "./log-store";
import type {
  AppendItem,
  AppendResult,
  ConsistencyProof,
  InclusionProof,
  LogError,
  LogStats,
  ProofResult,
  Receipt,
  SealResult,
  SealView,
  SignedCheckpoint,
  StoredEntryView,
  TreeState,
} from "./log-types";
import { D1Mirror } from "./mirror";
import { rebuildD1, type RebuildResult } from "./rebuild";
import { Sealer } from "./sealer";
import type { AppendRequest } from "./sequencer";
import { applySettingsPatch, settingsView, type SettingsPatch } from "./settings";
import { oversizedEntry } from "./entry-size";
import { Tiles, type TileResult } from "./tiles";
import type { TileRef } from "../core/tiles";

export interface LogOptions {
  /** Bindings to use instead of env's (fault tests wrap the real ones: test/durable/faults.ts). */
  db?: D1Database;
  bucket?: R2Bucket;
  kv?: KVNamespace;
  /** Requests per group commit (group-commit.ts); unlimited unless set. */
  maxBatch?: number;
  now?: () => number;
}

/** One tenant's log: its storage roles, wired together over one Durable Object's storage. */
export interface Log {
  store: LogStore;
  alarm: Alarm;
  commit: GroupCommit;
  mirror: D1Mirror;
  sealer: Sealer;
  reads: LogReads;
  /** c2sp.org/tlog-tiles: full tiles to R2 as the tree grows (tiles.ts). */
  tiles: Tiles;
  db: D1Database;
  bucket: R2Bucket;
  now: () => number;
  /** Reads the stored alarm, re-drives the outbox, and reconciles with R2 if the tenant is known. */
  start(tenant: string | undefined): Promise<void>;
}

export function openLog(ctx: DurableObjectState, env: Env, options: LogOptions = {}): Log {
  const { storage } = ctx;
  const now = options.now ?? Date.now;
  const db = options.db ?? env.DB;
  const bucket = options.bucket ?? env.BUCKET;
  const store = new LogStore(storage.sql);
  const alarm = new Alarm(storage);
  const size = () => commit.head.size;
  const mirror = new D1Mirror({ db, store, alarm, now, size });
  const readNode = (level: number, index: number) => store.node(level, index);
  const sealer = new Sealer({ bucket, kv: options.kv ?? env.KV, db, storage, store, alarm, now, env, size, readNode });
  const commit: GroupCommit = new GroupCommit({
    storage,
    store,
    now,
    mirror,
    admit: (tenant) => sealer.admit(tenant),
    afterCommit: () => {
      sealer.schedule();
      tiles.grew();
    },
    maxBatch: options.maxBatch ?? Infinity,
  });
  const reads = new LogReads({ store, env, commit, sealer });
  const tiles = new Tiles({ bucket, store, now, size });
  return {
    store,
    tiles,
    alarm,
    commit,
    mirror,
    sealer,
    reads,
    db,
    bucket,
    now,
    async start(tenant) {
      await alarm.load();
      // Entries committed before a crash but not yet in D1: re-drive them soon.
      mirror.start();
      // Compare with R2 before serving anything (invariant 10). A fresh object learns its
      // tenant from its first call and reconciles then.
      if (tenant !== undefined) await sealer.ready(tenant);
    },
  };
}

export class TenantLog extends DurableObject<Env> {
  readonly #log: Log;
  /** The tenant this object serves: from storage, else from its first append or signing call. */
  #tenant: string | undefined;

  /** `options.maxBatch`: for the bench's subclass (bench/worker.ts); the runtime passes none. */
  constructor(ctx: DurableObjectState, env: Env, options: { maxBatch?: number } = {}) {
    super(ctx, env);
    this.#log = openLog(ctx, env, options);
    this.#tenant = this.#log.store.tenant();
    void ctx.blockConcurrencyWhile(() => this.#log.start(this.#tenant));
  }

  /** idFromName(tenant) makes a mismatch impossible unless a caller is broken: refuse loudly. */
  #assertTenant(tenant: string): void {
    if (this.#tenant !== undefined && this.#tenant !== tenant) throw new Error(`TenantLog of ${this.#tenant} asked about ${tenant}`);
  }

  #claim(tenant: string): void {
    this.#assertTenant(tenant);
    this.#tenant = tenant;
  }

  /**
   * Appends the items of one request atomically (all or none) and resolves once they are
   * committed. Concurrent calls are grouped into one transaction (group commit).
   */
  async append(tenant: string, items: AppendItem[], provenance: JsonObject): Promise<AppendResult> {
    this.#claim(tenant);
    // Every entry must fit an entry bundle's uint16 length (c2sp.org/tlog-tiles; entry-size.ts).
    const tooLarge = oversizedEntry(tenant, items, provenance);
    if (tooLarge) return { ok: false, error: tooLarge };
    return this.#log.commit.enqueue(tenant, { req: { items, provenance } });
  }

  async settings(tenant: string): Promise<TenantSettings> {
    this.#assertTenant(tenant);
    return this.#log.store.settings();
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
    this.#claim(tenant);
    const req: AppendRequest = { items: [{ event }], provenance };
    let applied: TenantSettings | undefined;
    const result = await this.#log.commit.enqueue(tenant, {
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
    // A new seal interval is scheduled by the commit itself (GroupCommit's afterCommit runs
    // `sealer.schedule()` after the transaction that wrote the settings and their entry).
    if (!result.ok) return result;
    return { ...result, settings: applied! };
  }

  /** The checkpoint for the current tree size, signed with the tenant's current key. */
  async checkpoint(tenant: string): Promise<ProofResult<SignedCheckpoint>> {
    this.#claim(tenant);
    return this.#log.reads.checkpoint(tenant);
  }

  async inclusionProof(tenant: string, index: number, size: number): Promise<ProofResult<InclusionProof>> {
    this.#assertTenant(tenant);
    return this.#log.reads.inclusionProof(index, size);
  }

  async consistencyProof(tenant: string, from: number, to: number): Promise<ProofResult<ConsistencyProof>> {
    this.#assertTenant(tenant);
    return this.#log.reads.consistencyProof(from, to);
  }

  async entryProof(tenant: string, seq: number): Promise<ProofResult<string>> {
    this.#claim(tenant);
    return this.#log.reads.entryProof(tenant, seq);
  }

  async leaves(tenant: string, from: number, count: number): Promise<string[]> {
    this.#assertTenant(tenant);
    return this.#log.reads.leaves(from, count);
  }

  async leavesAt(tenant: string, seqs: number[]): Promise<(string | null)[]> {
    this.#assertTenant(tenant);
    return this.#log.reads.leavesAt(seqs);
  }

  async treeStateAt(tenant: string, size: number): Promise<ProofResult<TreeState>> {
    this.#assertTenant(tenant);
    return this.#log.reads.treeStateAt(size);
  }

  /** A c2sp.org/tlog-tiles tile or entry bundle computed from this log (tiles.ts); full ones in R2 are served by the Worker. */
  async tile(tenant: string, ref: TileRef): Promise<TileResult> {
    this.#assertTenant(tenant);
    return this.#log.tiles.tile(tenant, ref);
  }

  async seals(tenant: string, from: number, limit: number): Promise<SealView[]> {
    this.#assertTenant(tenant);
    return this.#log.reads.seals(from, limit);
  }

  async rootAt(tenant: string, size: number): Promise<ProofResult<string>> {
    this.#assertTenant(tenant);
    return this.#log.reads.rootAt(size);
  }

  async entry(seq: number): Promise<StoredEntryView | null> {
    return this.#log.reads.entry(seq);
  }

  async stats(): Promise<LogStats> {
    const { commit, mirror, sealer } = this.#log;
    const c = commit.stats();
    const s = sealer.stats(this.#tenant);
    return {
      tenant: this.#tenant ?? null,
      size: c.size,
      head_leaf_hash: c.head_leaf_hash,
      mirrored_to: mirror.mirroredTo,
      queued_events: c.queued_events,
      mirror_failures: mirror.failures,
      ...s,
      skewed_events: c.skewed_events,
      last_received_at: c.last_received_at,
      usual_gap_ms: c.usual_gap_ms,
      ingest_stalled: c.ingest_stalled,
      tiles_to: this.#log.tiles.writtenTo,
      tiles_error: this.#log.tiles.lastError,
    };
  }

  /**
   * Compares with R2 again (as at start): after R2 was unreachable, or after an operator has
   * repaired it. True when R2 could be read; a refusal is set, or cleared, by the outcome.
   */
  async reconcile(tenant: string): Promise<boolean> {
    this.#claim(tenant);
    return this.#log.sealer.reconcileAgain(tenant);
  }

  /** Restores the tenant's D1 rows from R2 bundles and DO storage (rebuild.ts), for about `budgetMs`. */
  async rebuildD1(tenant: string, nextSeal: number, budgetMs: number): Promise<RebuildResult> {
    this.#assertTenant(tenant);
    return rebuildD1(this.#log, tenant, this.#log.commit.head.size, nextSeal, budgetMs);
  }

  /** Copies any backlog to D1 now; true when D1 holds every entry. */
  async drainMirror(): Promise<boolean> {
    return this.#log.mirror.copy();
  }

  /** Seals everything waiting now (POST /v1/tenants/:t/seal), whatever the interval. */
  async sealNow(tenant: string): Promise<SealResult> {
    this.#claim(tenant);
    await this.#log.sealer.ready(tenant);
    return this.#log.sealer.seal(tenant, true);
  }

  /** At-least-once: re-drives the D1 outbox, then seals what is due and arms the next alarm. */
  override async alarm(): Promise<void> {
    const { alarm, mirror, sealer } = this.#log;
    alarm.fired();
    await mirror.copy();
    if (this.#tenant !== undefined) {
      // After a failed pass the sealer has armed its backoff; scheduling now would undo it.
      if ((await sealer.seal(this.#tenant, false)).ok) sealer.schedule();
      // Full tiles a failed pass left behind, or a backlog (tiles.ts); a commit usually writes them
      // first. A backlog longer than one pass continues at the next alarm, in a second.
      if (!(await this.#log.tiles.sync(this.#tenant)) && this.#log.tiles.lastError === null) {
        this.#log.alarm.arm(this.#log.now() + 1_000);
      }
    }
  }
}
