/**
 * TenantLog: the one writer of one tenant's log (docs/design.md invariant 1), reached with
 * idFromName(tenant id). This class is its RPC surface and its alarm; the work is done by plain
 * classes, one per storage role, that receive their bindings and clock (`openLog` wires them):
 *   group-commit.ts  the queue, the commit (sequencer.ts, in transactionSync), pipelining, back-pressure
 *   mirror.ts        the D1 outbox: passes, their in-memory copy, backoff (audit-events.ts: the SQL)
 *   sealer.ts        seals in R2 and KV (seal-objects.ts), reconciling with R2, the refusal to write
 *   log-reads.ts     checkpoints, proofs and reads from DO storage
 *   log-store.ts     every SQL statement against DO storage; alarm.ts the one alarm
 *   witnessing.ts    cosignatures from witnesses after the tree grows and after seals (witness-store.ts: its tables)
 *   sources.ts       per-source gaps and silence (in the commit), lag samples, alert conditions source_gap/source_silent
 *   alerts.ts        incidents of the conditions AlertSources report (alert-sources.ts), as sealtrail.alert.* entries
 * The types of its RPC results are in log-types.ts.
 */
import { DurableObject } from "cloudflare:workers";
import type { JsonObject } from "../core/entry";
import { Alarm } from "./alarm";
import * as alertSources from "./alert-sources";
import { ALERT_PROVENANCE, AlertEngine } from "./alerts";
import { ensureAuditScheduled } from "./audit-link";
import { GroupCommit, INGEST_STALLED_AFTER_MS } from "./group-commit";
import { IdempotencySweeper } from "./idempotency";
import { LogReads } from "./log-reads";
import { LogStore, type TenantSettings } from "./log-store";
import type {
  AppendItem,
  AppendResult,
  ConsistencyProof,
  Durability,
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
  VerificationOutcome,
  WitnessStatus,
} from "./log-types";
import { D1Mirror } from "./mirror";
import { lazyBinding, StoredPlacement, tenantStores, type Placement } from "./placement";
import { rebuildD1, type RebuildResult } from "./rebuild";
import { Sealer } from "./sealer";
import type { AppendRequest } from "./sequencer";
import { applySettingsPatch, settingsView, type SettingsPatch, type SettingsView } from "./settings";
import { Witnessing } from "./witnessing";
import { HoldStore } from "./holds";
import { convertLegalHoldSetting, createHold, releaseHold, type HoldChangeResult } from "./hold-changes";
import type { Hold, HoldScope } from "../core/holds";
import { SourceTracker, type LagSample, type SourceView } from "./sources";
import { PersonalFields, subjectKeySecret, type RevealedField, type RevealRequest } from "./personal-fields";
import { holdCoveringSubject } from "../core/holds";
import { oversizedEntry } from "./entry-size";
import { TILE_RETRY_AFTER_MS, Tiles, type TileResult } from "./tiles";
import { heldBy, Retention, RETENTION_ENTRY, RETENTION_FLOOR, scheduledSweepEvent, type HeldCheck, type SweepResult } from "./retention";
import type { TileRef } from "../core/tiles";
import { readStreamReport, recordStreamReport, StreamPausedAlerts, streamLagOf, type StreamReport } from "./stream-alerts";
import { EventSchemaStore, type EventSchemaSummary, type EventSchemaView } from "./event-schemas";
import { putEventSchema, type SchemaChangeResult } from "./event-schema-changes";

export interface LogOptions {
  /** Bindings to use instead of env's (fault tests wrap the real ones: test/durable/faults.ts). */
  db?: D1Database;
  bucket?: R2Bucket;
  kv?: KVNamespace;
  /** Requests per group commit (group-commit.ts); unlimited unless set. */
  maxBatch?: number;
  now?: () => number;
  /** Idempotency window in ms (default: env SEALTRAIL_IDEMPOTENCY_WINDOW_HOURS, else 24 h). */
  idempotencyWindowMs?: number;
  /** How long a condition must be gone before its incident ends (alerts.ts CLEAR_HOLD_MS). */
  alertClearHoldMs?: number;
  /** Whether an active legal hold covers an entry (retention.ts); default: no hold. */
  held?: () => HeldCheck;
}

/** Idempotency keys are remembered this long by default (docs/design.md invariant 7). */
export const IDEMPOTENCY_WINDOW_DEFAULT_MS = 24 * 3_600_000;

/**
 * The idempotency window: `SEALTRAIL_IDEMPOTENCY_WINDOW_HOURS` (a positive number of hours, an
 * optional var; README "Configuration"), else 24 hours.
 */
export function idempotencyWindowMs(env: object): number {
  const raw = (env as { SEALTRAIL_IDEMPOTENCY_WINDOW_HOURS?: unknown }).SEALTRAIL_IDEMPOTENCY_WINDOW_HOURS;
  const hours = typeof raw === "string" || typeof raw === "number" ? Number(raw) : NaN;
  return Number.isFinite(hours) && hours > 0 ? Math.round(hours * 3_600_000) : IDEMPOTENCY_WINDOW_DEFAULT_MS;
}

/** One tenant's log: its storage roles, wired together over one Durable Object's storage. */
export interface Log {
  store: LogStore;
  alarm: Alarm;
  commit: GroupCommit;
  mirror: D1Mirror;
  sealer: Sealer;
  reads: LogReads;
  witnessing: Witnessing;
  keys: IdempotencySweeper;
  /** c2sp.org/tlog-tiles: full tiles to R2 as the tree grows (tiles.ts). */
  tiles: Tiles;
  /** The tenant's legal holds (holds.ts): what the retention sweep, retention changes and erasure obey. */
  holds: HoldStore;
  /** Per-source gaps and silence, lag samples; an AlertSource (source_gap, source_silent). */
  sources: SourceTracker;
  /** Alerts: the conditions' incidents and their entries (alerts.ts, alert-sources.ts). */
  alerts: AlertEngine;
  /** Personal fields: encrypted in the commit, revealed to readers, erased (personal-fields.ts). */
  personal: PersonalFields;
  /** The retention floor and sweep (retention.ts). */
  retention: Retention;
  /** Event schemas per action (event-schemas.ts): checked in the commit, before sequencing. */
  schemas: EventSchemaStore;
  db: D1Database;
  bucket: R2Bucket;
  placement: StoredPlacement;
  now: () => number;
  /** Reads the stored alarm, re-drives the outbox, and reconciles with R2 if the tenant is known. */
  start(tenant: string | undefined): Promise<void>;
}

export function openLog(ctx: DurableObjectState, env: Env, options: LogOptions = {}): Log {
  const { storage } = ctx;
  const now = options.now ?? Date.now;
  // The tenant's D1 shard and R2 bucket, from its stored placement at each use (placement.ts):
  // a fresh object learns it from the Worker's `place` before its first other call.
  const placement = new StoredPlacement(storage);
  const db = options.db ?? lazyBinding(() => tenantStores(env, placement.get()).db);
  const bucket = options.bucket ?? lazyBinding(() => tenantStores(env, placement.get()).bucket);
  const store = new LogStore(storage.sql);
  const personal = new PersonalFields(storage.sql, store, () => subjectKeySecret(env));
  const alarm = new Alarm(storage);
  const windowMs = options.idempotencyWindowMs ?? idempotencyWindowMs(env);
  const keys = new IdempotencySweeper({ storage, store, alarm, now, windowMs });
  const size = () => commit.head.size;
  const mirror = new D1Mirror({ db, store, alarm, now, size });
  const readNode = (level: number, index: number) => store.node(level, index);
  const sealer = new Sealer({ bucket, kv: options.kv ?? env.KV, db, storage, store, alarm, now, env, size, readNode });
  // received_at (ms) of an entry DO storage still holds (undefined once evicted): its JSON's field.
  const receivedAtOf = (seq: number): number | undefined => {
    const e = store.entry(seq);
    if (e === undefined) return undefined;
    const at = Date.parse((JSON.parse(e.entry) as { received_at?: string }).received_at ?? "");
    return Number.isFinite(at) ? at : undefined;
  };
  const sources = new SourceTracker({
    sql: storage.sql,
    store,
    alarm,
    now,
    mirrorLag: () => ({ entries: size() - mirror.mirroredTo, ms: mirror.stats().mirror_lag_ms }),
    // The slowest stream's lag, from the cursor the LogStreams object last reported (stream-alerts.ts).
    streamLag: () => streamLagOf(storage, size(), receivedAtOf, now()),
  });
  const commit: GroupCommit = new GroupCommit({
    storage,
    store,
    now,
    mirror,
    admit: (tenant) => sealer.admit(tenant),
    afterCommit: () => {
      sealer.schedule();
      witnessing.grown();
      keys.afterCommit();
      tiles.grew();
      sources.afterCommit();
      // An event flagged for clock skew: check the alerts soon.
      if (skew.pending()) alarm.arm(now() + 1_000);
    },
    // Appends waiting: if no commit comes, check for a stall when it would be one.
    onWaiting: (since) => alarm.arm(since + INGEST_STALLED_AFTER_MS),
    maxBatch: options.maxBatch ?? Infinity,
    idempotencyWindowMs: windowMs,
    sources,
    storedEvent: (t, seq, event, nowMs) => personal.atCommit(t, seq, event, nowMs),
  });
  const reads = new LogReads({ store, env, commit, sealer });
  const witnessing: Witnessing = new Witnessing({
    storage,
    store,
    alarm,
    now,
    env,
    size,
    readNode,
    checkpoint: (t) => reads.checkpoint(t),
  });
  const tiles = new Tiles({ bucket, store, now, size, floor: () => store.counter(RETENTION_FLOOR) });
  const holds = new HoldStore(storage.sql, now);
  const alerts = new AlertEngine({
    storage,
    alarm,
    now,
    ...(options.alertClearHoldMs !== undefined ? { clearHoldMs: options.alertClearHoldMs } : {}),
    append: (tenant, fill) => {
      const req: AppendRequest = { items: [], provenance: ALERT_PROVENANCE };
      return commit.enqueue(tenant, {
        req,
        prepare: () => {
          const items: { event: JsonObject }[] = [];
          const refused = fill(items);
          req.items = items;
          return refused;
        },
      });
    },
  });
  // The AlertSources (alert-types.ts): one line each.
  alerts.register(sources);
  alerts.register(new StreamPausedAlerts(storage));
  const skew = alertSources.clockSkew(store);
  alerts.register(skew);
  alerts.register(alertSources.sealFailing(sealer));
  alerts.register(alertSources.mirrorLag(mirror, size));
  alerts.register(alertSources.ingestStalled(commit));
  alerts.register(alertSources.writesRefused(sealer));
  alerts.register(alertSources.witnessDisagrees(witnessing));
  alerts.register(alertSources.verificationFailed(alerts));
  alerts.register(alertSources.verificationOverdue(alerts));
  // The sweep skips what an active hold covers (or a test's own check).
  const seal = (tenant: string) => sealer.seal(tenant, true);
  const retention = new Retention({ store, commit, alarm, db, bucket, now, held: options.held ?? heldBy(holds), seal });
  const schemas = new EventSchemaStore(storage.sql, now);
  return {
    alerts,
    store,
    schemas,
    tiles,
    holds,
    sources,
    personal,
    retention,
    alarm,
    commit,
    mirror,
    sealer,
    reads,
    witnessing,
    keys,
    db,
    bucket,
    placement,
    now,
    async start(tenant) {
      await alarm.load();
      // Entries committed before a crash but not yet in D1: re-drive them soon.
      mirror.start();
      // A tree larger than the last checkpoint submitted to witnesses: submit it soon.
      witnessing.start();
      // A former `legal_hold: true` setting becomes a whole-tenant hold (hold-changes.ts).
      convertLegalHoldSetting(storage, store, holds);
      // Open incidents, or alert entries not written yet: check soon.
      alerts.start();
      // Compare with R2 before serving anything (invariant 10). A fresh object learns its
      // tenant from its first call and reconciles then.
      if (tenant !== undefined) await sealer.ready(tenant);
      // The retention sweep: soon if one is due (daily), and deletions a crash left behind.
      if (tenant !== undefined) retention.start();
    },
  };
}

export class TenantLog extends DurableObject<Env> {
  readonly #log: Log;
  /** The tenant this object serves: from storage, else from its first append or signing call. */
  #tenant: string | undefined;

  /** `options` (maxBatch, a wrapped D1): for the bench's subclass (bench/worker.ts); the runtime passes none. */
  constructor(ctx: DurableObjectState, env: Env, options: Pick<LogOptions, "maxBatch" | "db"> = {}) {
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
   * committed (`durability` "mirrored": once D1 holds them too). Concurrent calls are grouped
   * into one transaction (group commit).
   */
  async append(tenant: string, items: AppendItem[], provenance: JsonObject, durability?: Durability): Promise<AppendResult> {
    this.#claim(tenant);
    // Every entry must fit an entry bundle's uint16 length (c2sp.org/tlog-tiles; entry-size.ts).
    const tooLarge = oversizedEntry(tenant, this.#sizedLikeStored(items), provenance);
    if (tooLarge) return { ok: false, error: tooLarge };
    return this.#log.commit.enqueue(tenant, {
      req: { items, provenance },
      // The tenant's event schemas as this commit's transaction sees them (event-schemas.ts).
      prepare: () => this.#log.schemas.check(items),
      ...(durability ? { durability } : {}),
    });
  }

  /**
   * Several requests at once, from a Batcher (batcher.ts; fan-in): they join the same commit
   * group, each committed all-or-none and answered on its own, in order (its receipts, or its
   * own refusal: one refused request never fails the others).
   */
  async appendMany(tenant: string, requests: AppendRequest[]): Promise<AppendResult[]> {
    this.#claim(tenant);
    // Each request is checked on its own, as in `append`: an oversized one is refused, the others go on.
    const refused = requests.map((r) => oversizedEntry(tenant, this.#sizedLikeStored(r.items), r.provenance));
    const answers = await this.#log.commit.enqueueAll(
      tenant,
      requests.filter((_, i) => !refused[i]).map((req) => ({ req, prepare: () => this.#log.schemas.check(req.items) })),
    );
    let next = 0;
    return requests.map((_, i): AppendResult => {
      const tooLarge = refused[i];
      return tooLarge ? { ok: false, error: tooLarge } : answers[next++]!;
    });
  }

  /** Items as large as they will be stored: declared personal fields count at their encrypted length. */
  #sizedLikeStored(items: readonly AppendItem[]): { event: JsonObject }[] {
    return items.map((i) => ({ event: this.#log.personal.sizedLikeStored(i.event) }));
  }

  /**
   * Erases a subject (POST /v1/tenants/:t/subjects/:subject/erase): appends `event`
   * (`sealtrail.subject.erased`, with metadata.subject_hash) and, in the same transaction at that
   * entry's place in the sequence, deletes the subject's keys (personal-fields.ts `atCommit`).
   * Refused with `subject_held`, nothing stored, when an active legal hold covers the subject
   * (checked in that transaction, so a hold created concurrently is seen).
   */
  async eraseSubject(
    tenant: string,
    subject: string,
    subjectHash: string,
    event: JsonObject,
    provenance: JsonObject,
  ): Promise<AppendResult & { keys?: number }> {
    this.#claim(tenant);
    const req: AppendRequest = { items: [{ event }], provenance };
    let keys = 0;
    const result = await this.#log.commit.enqueue(tenant, {
      req,
      prepare: () => {
        const hold = holdCoveringSubject(this.#log.holds.active(), subject);
        if (hold) return { reason: "subject_held", hold: hold.id, holdReason: hold.reason };
        keys = this.#log.personal.keyCount(subjectHash);
        const metadata = { ...(event.metadata as JsonObject | undefined), subject_hash: subjectHash, keys_destroyed: keys };
        req.items = [{ event: { ...event, metadata } }];
        return undefined;
      },
    });
    return result.ok ? { ...result, keys } : result;
  }

  /** Decrypts personal fields for a reader (the Worker's read routes): plaintext, erased, or undecryptable. */
  async revealPersonal(tenant: string, fields: RevealRequest[]): Promise<RevealedField[]> {
    this.#assertTenant(tenant);
    return this.#log.personal.reveal(tenant, fields);
  }

  /** Records the tenant's placement (the Worker calls it before any other call, once per isolate). */
  async place(tenant: string, placement: Placement): Promise<void> {
    this.#assertTenant(tenant);
    this.#log.placement.set(placement, this.#log.commit.head.size > 0);
  }

  async settings(tenant: string): Promise<TenantSettings> {
    this.#assertTenant(tenant);
    return this.#log.store.settings();
  }

  /** The settings' wire form (GET /settings): `legal_hold` is true while any hold is active. */
  async settingsView(tenant: string): Promise<SettingsView> {
    this.#assertTenant(tenant);
    return settingsView(this.#log.store.settings(), this.#log.holds.active().length);
  }

  /** Every legal hold, active and released, oldest first (holds.ts). */
  async holds(tenant: string): Promise<Hold[]> {
    this.#assertTenant(tenant);
    return this.#log.holds.all();
  }

  /** Creates a legal hold and appends `sealtrail.hold.created` in one transaction (hold-changes.ts). */
  async createHold(
    tenant: string,
    input: { reason: string; scope: HoldScope },
    event: JsonObject,
    provenance: JsonObject,
  ): Promise<HoldChangeResult> {
    this.#claim(tenant);
    return createHold(this.#log, tenant, input, event, provenance);
  }

  /** The latest schema of every action that has one (event-schemas.ts). */
  async eventSchemas(tenant: string): Promise<EventSchemaSummary[]> {
    this.#assertTenant(tenant);
    return this.#log.schemas.list();
  }

  /** One version of an action's schema, the latest without `version`. */
  async eventSchema(tenant: string, action: string, version?: number): Promise<EventSchemaView | undefined> {
    this.#assertTenant(tenant);
    return this.#log.schemas.get(action, version);
  }

  /** Declares a new version of an action's schema and appends `sealtrail.schema.changed` in one transaction. */
  async putEventSchema(
    tenant: string,
    action: string,
    schema: unknown,
    event: JsonObject,
    provenance: JsonObject,
  ): Promise<SchemaChangeResult> {
    this.#claim(tenant);
    return putEventSchema(this.#log, tenant, action, schema, event, provenance);
  }

  /** Releases a legal hold and appends `sealtrail.hold.released` in one transaction (hold-changes.ts). */
  async releaseHold(
    tenant: string,
    id: string,
    input: { reason: string },
    event: JsonObject,
    provenance: JsonObject,
  ): Promise<HoldChangeResult> {
    this.#claim(tenant);
    return releaseHold(this.#log, tenant, id, input, event, provenance);
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
  ): Promise<{ ok: true; receipts: Receipt[]; settings: SettingsView } | { ok: false; error: LogError }> {
    this.#claim(tenant);
    const req: AppendRequest = { items: [{ event }], provenance };
    let applied: SettingsView | undefined;
    const result = await this.#log.commit.enqueue(tenant, {
      req,
      prepare: (store) => {
        // Holds as they are in this transaction: a hold created earlier in the same group counts.
        const active = this.#log.holds.active();
        const change = applySettingsPatch(store.settings(), patch, this.#log.witnessing.defaults().length, active);
        if (!change.ok) return change.error;
        const metadata = { before: settingsView(store.settings(), active.length), after: settingsView(change.after, active.length) };
        const items = [{ event: { ...event, metadata: { ...(event.metadata as JsonObject | undefined), ...metadata } } }];
        // The entry that records the change must fit an entry bundle too (entry-size.ts): checked
        // before the settings are written, so a refused change writes nothing.
        const tooLarge = oversizedEntry(tenant, items, provenance);
        if (tooLarge) return tooLarge;
        store.writeSettings(change.after);
        req.items = items;
        applied = metadata.after;
        return undefined;
      },
    });
    // A new seal interval is scheduled by the commit itself (GroupCommit's afterCommit runs
    // `sealer.schedule()` after the transaction that wrote the settings and their entry).
    if (!result.ok) return result;
    // New witnesses get the current checkpoint at once.
    if (patch.witnesses !== undefined) this.#log.witnessing.soon();
    return { ...result, settings: applied! };
  }

  /**
   * Declares a source's cadence (null: none), in the transaction that appends `event` (with
   * `metadata.source`, `.before`, `.after` in seconds, read in that transaction): the cadence
   * never changes without its entry. Refused when the source is new and the tenant is at MAX_SOURCES.
   */
  async setSourceCadence(
    tenant: string,
    id: string,
    everySeconds: number | null,
    event: JsonObject,
    provenance: JsonObject,
  ): Promise<{ ok: true; receipts: Receipt[]; source: SourceView } | { ok: false; error: LogError }> {
    this.#claim(tenant);
    const req: AppendRequest = { items: [{ event }], provenance };
    const { sources, now } = this.#log;
    const result = await this.#log.commit.enqueue(tenant, {
      req,
      prepare: () => {
        const change = sources.setCadence(id, everySeconds === null ? null : everySeconds * 1000, now());
        if (!change.ok) return change.error;
        const metadata = { source: id, before: change.before, after: change.after };
        req.items = [{ event: { ...event, metadata: { ...(event.metadata as JsonObject | undefined), ...metadata } } }];
        return undefined;
      },
    });
    if (!result.ok) return result;
    return { ...result, source: sources.source(id)! };
  }

  /** Sources in id order after `after` (null: from the first), with their open gaps (sources.ts). */
  async sources(tenant: string, after: string | null, limit: number): Promise<{ sources: SourceView[]; next: string | null }> {
    this.#assertTenant(tenant);
    return this.#log.sources.list(after, limit);
  }

  /** Mirror and stream lag, one sample per minute for the last 24 hours (sources.ts). */
  async lagSamples(tenant: string): Promise<LagSample[]> {
    this.#assertTenant(tenant);
    return this.#log.sources.lagSamples();
  }

  /** The checkpoint for the current tree size, signed with the tenant's current key, with its witnesses' cosignatures. */
  async checkpoint(tenant: string): Promise<ProofResult<SignedCheckpoint>> {
    this.#claim(tenant);
    const cp = await this.#log.reads.checkpoint(tenant);
    if (!cp.ok) return cp;
    return { ok: true, value: { size: cp.value.size, note: this.#log.witnessing.cosigned(cp.value.size, cp.value.note) } };
  }

  /**
   * The checkpoint a tile client should start from (c2sp.org/tlog-tiles `checkpoint`): when the
   * tenant requires witnesses, the newest one that has their quorum (it lags the head by at most
   * one submission round, ≤ 10 s); otherwise, or before any has it, the head's (`checkpoint`).
   */
  async publishedCheckpoint(tenant: string): Promise<ProofResult<SignedCheckpoint>> {
    this.#claim(tenant);
    const witnessed = this.#log.witnessing.witnessedCheckpoint();
    return witnessed ? { ok: true, value: witnessed } : this.checkpoint(tenant);
  }

  /** The cosignature lines stored for the checkpoint of `size` (a seal's), each ending in "\n". */
  async cosignatureLines(tenant: string, size: number): Promise<string> {
    this.#assertTenant(tenant);
    return this.#log.witnessing.lines(size);
  }

  /** The witness quorum and the newest checkpoint submitted to witnesses, with its cosignatures (verification.ts). */
  async witnessStatus(tenant: string): Promise<WitnessStatus> {
    this.#assertTenant(tenant);
    return this.#log.witnessing.status();
  }

  async inclusionProof(tenant: string, index: number, size: number): Promise<ProofResult<InclusionProof>> {
    this.#assertTenant(tenant);
    return this.#log.reads.inclusionProof(index, size);
  }

  async consistencyProof(tenant: string, from: number, to: number): Promise<ProofResult<ConsistencyProof>> {
    this.#assertTenant(tenant);
    return this.#log.reads.consistencyProof(from, to);
  }

  /**
   * c2sp.org/tlog-proof@v1 for entry `seq`: against the newest checkpoint that covers it and has
   * its witness quorum, else against the head (with whatever cosignatures the head has).
   */
  async entryProof(tenant: string, seq: number): Promise<ProofResult<string>> {
    this.#claim(tenant);
    const { reads, witnessing } = this.#log;
    const head = await reads.checkpoint(tenant);
    if (!head.ok) return head;
    const witnessed = witnessing.entryProof(seq);
    if (witnessed !== undefined) return { ok: true, value: witnessed };
    const proof = await reads.entryProof(tenant, seq);
    if (!proof.ok) return proof;
    // The proof ends with the head's signed checkpoint: its cosignature lines follow.
    return { ok: true, value: proof.value + witnessing.lines(head.value.size) };
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

  /**
   * Runs the retention sweep now (POST …/retention/sweep): raises the floor, appending `event`
   * (completed as `sealtrail.retention.pruned`), and deletes what lies below it (retention.ts).
   */
  async sweepRetention(tenant: string, event: JsonObject, provenance: JsonObject): Promise<SweepResult> {
    this.#claim(tenant);
    await this.#log.sealer.ready(tenant);
    return this.#log.retention.sweep(tenant, event, provenance);
  }

  /** The retention floor (bodies below it are pruned) and the seq of the entry that set it (null: none). */
  async retention(tenant: string): Promise<{ floor: number; entry: number | null }> {
    this.#assertTenant(tenant);
    const { retention, store } = this.#log;
    return { floor: retention.floor, entry: retention.floor > 0 ? store.counter(RETENTION_ENTRY) : null };
  }

  async stats(): Promise<LogStats> {
    const { commit, mirror, sealer, witnessing } = this.#log;
    const c = commit.stats();
    const s = sealer.stats(this.#tenant);
    const w = witnessing.stats();
    return {
      tenant: this.#tenant ?? null,
      size: c.size,
      head_leaf_hash: c.head_leaf_hash,
      queued_events: c.queued_events,
      ...mirror.stats(),
      ...s,
      skewed_events: c.skewed_events,
      last_received_at: c.last_received_at,
      usual_gap_ms: c.usual_gap_ms,
      ingest_stalled: c.ingest_stalled,
      ...w,
      tiles_to: this.#log.tiles.writtenTo,
      tiles_error: this.#log.tiles.lastError,
      active_holds: this.#log.holds.active().length,
      sources: this.#log.sources.summary(),
      open_alerts: this.#log.alerts.openAlerts(),
      recent_incidents: this.#log.alerts.recent(),
      ...this.#log.retention.stats(),
    };
  }

  /**
   * Compares with R2 again (as at start): after R2 was unreachable, or after an operator has
   * repaired it. True when R2 could be read; a refusal is set, or cleared, by the outcome.
   */
  async reconcile(tenant: string): Promise<boolean> {
    this.#claim(tenant);
    const done = await this.#log.sealer.reconcileAgain(tenant);
    // A refusal set or lifted: the `writes_refused` alert follows now.
    this.#log.alerts.check(this.#tenant);
    return done;
  }

  /**
   * A full or incremental verification finished (LogAudit, after its report is stored): the
   * `verification_failed` and `verification_overdue` alerts follow from the newest one.
   */
  async verificationFinished(tenant: string, outcome: VerificationOutcome): Promise<void> {
    this.#assertTenant(tenant);
    const { alerts } = this.#log;
    const known = alerts.fact<VerificationOutcome>(alertSources.VERIFICATION_FACT);
    if (!known || Date.parse(known.finished_at) <= Date.parse(outcome.finished_at)) alerts.setFact(alertSources.VERIFICATION_FACT, outcome);
    // Durable now: the newest outcome. A crash before the check below is made up by the check at
    // the next start or alarm; LogAudit repeats this call if it did not return.
    alerts.check(this.#tenant);
    await alerts.logged();
  }

  /** Restores the tenant's D1 rows from R2 bundles and DO storage (rebuild.ts), for about `budgetMs`. */
  async rebuildD1(tenant: string, nextSeal: number, budgetMs: number): Promise<RebuildResult> {
    this.#assertTenant(tenant);
    return rebuildD1(this.#log, tenant, this.#log.commit.head.size, nextSeal, budgetMs);
  }

  /**
   * Resolves once D1 holds every entry committed before this call (true), at once while D1 is
   * failing (a failed pass ends the wait), or after `budgetMs` (false): what reads served from
   * D1 wait for (read your writes).
   */
  async awaitMirror(budgetMs: number): Promise<boolean> {
    const { mirror, commit } = this.#log;
    if (mirror.failures > 0) return mirror.mirroredTo >= commit.head.size;
    return mirror.waitFor(commit.head.size, budgetMs, true);
  }

  /** Copies any backlog to D1 now; true when D1 holds every entry. */
  async drainMirror(): Promise<boolean> {
    return this.#log.mirror.copy();
  }

  /** The LogStreams object's report (stream count, paused streams): the `stream_paused` alert source (stream-alerts.ts). */
  async reportStreams(tenant: string, report: StreamReport): Promise<void> {
    this.#assertTenant(tenant);
    recordStreamReport(this.ctx.storage, report);
    // A stream paused or resumed: its alert is raised or cleared now, not at the next alarm.
    this.#log.alerts.check(this.#tenant);
  }

  /** The last report of the LogStreams object (/stats asks it about streams only if there are any). */
  async streamReport(): Promise<StreamReport> {
    return readStreamReport(this.ctx.storage);
  }

  /** Seals everything waiting now (POST /v1/tenants/:t/seal), whatever the interval. */
  async sealNow(tenant: string): Promise<SealResult> {
    this.#claim(tenant);
    await this.#log.sealer.ready(tenant);
    const result = await this.#log.sealer.seal(tenant, true);
    // Witnesses get the seal's checkpoint from the alarm, at once.
    if (result.ok && result.value.sealed.length > 0) this.#log.witnessing.soon();
    return result;
  }

  /**
   * At-least-once: re-drives the D1 outbox, forgets expired idempotency keys (one bounded chunk),
   * seals what is due, writes full tiles left behind, submits to witnesses when due, and arms
   * the next alarm (each part arms it for its own next time; alarm.ts keeps the earliest).
   */
  override async alarm(): Promise<void> {
    const { alarm, mirror, sealer, witnessing, keys, alerts } = this.#log;
    alarm.fired();
    // Alerts first (no I/O, never waits): a hung D1 or R2 below must not hide its own incident.
    alerts.check(this.#tenant);
    await mirror.copy();
    keys.sweep();
    // Lag samples, and the alarm re-armed for the next gap alert or silence deadline (sources.ts).
    this.#log.sources.alarm();
    if (this.#tenant !== undefined) {
      // After a failed pass the sealer has armed its backoff; scheduling now would undo it.
      const sealed = await sealer.seal(this.#tenant, false);
      if (sealed.ok) sealer.schedule();
      if (sealed.ok && sealed.value.sealed.length > 0) witnessing.soon();
      // Full tiles a failed pass left behind, or a backlog (tiles.ts); a commit usually writes them
      // first. A backlog longer than one pass continues at the next alarm, in a second.
      // After a failed pass (R2), the alarm retries when the writer's backoff ends.
      if (!(await this.#log.tiles.sync(this.#tenant))) {
        this.#log.alarm.arm(this.#log.now() + (this.#log.tiles.lastError === null ? 1_000 : TILE_RETRY_AFTER_MS));
      }
      // Submits to witnesses if due (after a seal: now), else re-arms for when it is.
      await witnessing.run(this.#tenant);
      // Scheduled audits: LogAudit knows this tenant's intervals (audit-link.ts); a failure is retried at the next alarm.
      const { placement, store, now } = this.#log;
      await ensureAuditScheduled(this.env, placement.get(), this.#tenant, store.settings(), alerts, now()).catch((e: unknown) =>
        console.error("audit schedule not set", e),
      );
      // And again after this alarm's work (a seal that failed or succeeded, a witness that answered).
      alerts.check(this.#tenant);
      // The daily retention sweep when due, and deletions a failure left behind (retention.ts).
      const sweep = scheduledSweepEvent(this.#tenant);
      await this.#log.retention.scheduled(this.#tenant, sweep.event, sweep.provenance);
    }
  }
}
