/**
 * The sealer (docs/design.md "Seals: bundles and manifests"; invariants 3, 4, 10). A seal pass plans the next seal's exact
 * bytes (src/core/seal.ts `planSeal`) and stores the plan before any R2 write; then publishes
 * bundle, checkpoint and manifest to R2, create-only and in that order (seal-objects.ts); then
 * marks it published and lets DO storage evict what D1 holds too; then writes the KV index.
 * Reconciling compares this object with R2 (at start, and on request): R2 ahead of the log or
 * holding other bytes for its seals puts the log in refusal, no appends and no signing (the
 * split-view guard); R2 behind it is published again.
 */
import { formatBundle, sha256Base64 } from "../core/manifest";
import type { NodeReader } from "../core/merkle";
import { planSeal, sealId, sealPrefix } from "../core/seal";
import { backoffMs, type Alarm } from "./alarm";
import { entriesIn } from "./audit-events";
import { yieldToQueued } from "./mirror";
import { currentSigner, tenantOrigin, type SigningEnv } from "./checkpoint-keys";
import type { LogStore, SealRecord } from "./log-store";
import type { LogError, LogStats, Refusal, SealResult, SealSummary } from "./log-types";
import { indexSeal, publishSeal, sealSummary, type PublishError } from "./seal-objects";

/** Seal as soon as this many entries wait, whatever the interval. */
export const SEAL_AFTER_ENTRIES = 1_000;
/** At most this many entries go into one bundle; a longer backlog becomes several seals. */
export const SEAL_MAX_ENTRIES = 10_000;
/**
 * Entries read and formatted per step while a seal's bundle is built; the sealer yields to
 * queued appends between steps, so a large seal never holds the thread they commit on.
 */
export const SEAL_CHUNK = 1_000;
/** After a reconcile could not read R2, appends skip waiting on it for this long. */
const RECONCILE_RETRY_MS = 30_000;

export interface SealerDeps {
  bucket: R2Bucket;
  kv: KVNamespace;
  /** D1, for a seal's bundle once DO storage has evicted its entries. */
  db: D1Database;
  storage: DurableObjectStorage;
  store: LogStore;
  alarm: Alarm;
  now: () => number;
  env: SigningEnv;
  /** The log's size and its tree's nodes (group-commit.ts, log-store.ts). */
  size: () => number;
  readNode: NodeReader;
}

/**
 * The bundle of [from, to) from DO storage, or undefined if any entry was evicted: read and
 * formatted SEAL_CHUNK entries at a time, yielding between chunks (issue #15: appends commit
 * meanwhile; entries below the log's size never change, so the bytes are the same).
 */
async function bundleFromStore(store: LogStore, from: number, to: number): Promise<string | undefined> {
  const parts: string[] = [];
  for (let at = from; at < to; at += SEAL_CHUNK) {
    if (at > from) await yieldToQueued();
    const n = Math.min(SEAL_CHUNK, to - at);
    const entries = store.entries(at, n);
    if (entries.length !== n || entries.some((e, i) => e.seq !== at + i)) return undefined;
    parts.push(formatBundle(entries.map((e) => e.entry)));
  }
  return parts.join("");
}

export class Sealer {
  readonly #d: SealerDeps;
  #chain: Promise<unknown> = Promise.resolve();
  #failures = 0;
  #lastError: string | null = null;
  /** Sealing backs off after a failure: nothing schedules a seal before this time. */
  #retryAt = 0;
  /** Set by reconcile when R2 holds a newer or conflicting seal; appends and signing stop. */
  #refusal: Refusal | null = null;
  #reconciled: Promise<boolean> | undefined;
  /** When the last reconcile could not read R2; appends do not wait on R2 again for a while. */
  #reconcileFailedAt = 0;
  /** The bundle of the seal being planned or published, built once (not again for its R2 put). */
  #bundle: { id: number; body: string } | undefined;
  /** received_at of entry 0 (it never changes), once read: the first seal's due time counts from it. */
  #firstReceivedAtMs: number | undefined;

  constructor(deps: SealerDeps) {
    this.#d = deps;
  }

  get refusal(): Refusal | null {
    return this.#refusal;
  }

  /** Reconciles with R2 once per object lifetime (again after a failure); true once R2 was read. */
  ready(tenant: string): Promise<boolean> {
    this.#reconciled ??= this.#reconcile(tenant).then((done) => {
      if (!done) {
        this.#reconciled = undefined;
        this.#reconcileFailedAt = this.#d.now();
      }
      return done;
    });
    return this.#reconciled;
  }

  /**
   * Whether an append may be queued: not while the log refuses to write. Appends go on while R2
   * is down (invariant 10 is kept by never signing unreconciled): after a failed reconcile they
   * do not wait on R2 again for RECONCILE_RETRY_MS.
   */
  async admit(tenant: string): Promise<LogError | undefined> {
    if (this.#reconciled !== undefined || this.#d.now() - this.#reconcileFailedAt > RECONCILE_RETRY_MS) await this.ready(tenant);
    return this.#refusal ? { reason: "split_view", refusal: this.#refusal } : undefined;
  }

  /**
   * Compares with R2 again (as at start): after R2 was unreachable, or after an operator has
   * repaired it. True when R2 could be read; a refusal is set, or cleared, by the outcome.
   */
  async reconcileAgain(tenant: string): Promise<boolean> {
    const prior = this.#refusal;
    this.#refusal = null;
    this.#reconciled = undefined;
    const done = await this.ready(tenant);
    // R2 unreadable proves nothing: a refusal stands until a reconcile can read R2.
    if (!done) this.#refusal = prior;
    return done;
  }

  /**
   * Compares DO state with R2 (docs/design.md invariant 10). R2 ahead (a seal this object never
   * made) or in conflict (different bytes for a seal it did make): refuse to write or sign.
   * R2 behind (a seal planned or published here but missing there): publish it again.
   * Returns false if R2 could not be read; appends go on, sealing waits for the next try.
   */
  async #reconcile(tenant: string): Promise<boolean> {
    const latest = this.#d.store.latestSeal();
    const next = `${sealPrefix(tenant) + sealId(latest ? latest.id + 1 : 0)}/`;
    try {
      const ahead = await this.#d.bucket.list({ prefix: next, limit: 1 });
      if (ahead.objects.length > 0) {
        this.#refuse(tenant, { reason: "r2_ahead", key: ahead.objects[0]!.key, detail: "R2 holds a seal this log never made" });
        return true;
      }
    } catch (e) {
      this.#lastError = `reconcile: R2 unavailable (${e instanceof Error ? e.message : String(e)})`;
      return false;
    }
    if (!latest) return true;
    // Publishing again is exactly the check we need: existing objects must hold our bytes.
    const failure = await this.#publish(tenant, latest);
    if (failure?.reason === "r2_unavailable") {
      this.#lastError = `reconcile: R2 unavailable at ${failure.key}`;
      return false;
    }
    return failure === undefined || this.#refusal !== null;
  }

  #refuse(tenant: string, refusal: Refusal): void {
    this.#refusal = refusal;
    this.#d.store.recordCondition(this.#d.now(), refusal.reason, `${refusal.key}: ${refusal.detail}`);
    console.error(`TenantLog ${tenant} refuses to write: ${refusal.reason} at ${refusal.key}`);
  }

  /** Seals what is due (everything waiting, with `force`); passes are serialized so a range is never planned twice. */
  seal(tenant: string, force: boolean): Promise<SealResult> {
    const pass = this.#chain.then(() => this.#pass(tenant, force));
    this.#chain = pass.catch(() => undefined);
    return pass;
  }

  async #pass(tenant: string, force: boolean): Promise<SealResult> {
    const { store, now } = this.#d;
    if (!(await this.ready(tenant))) return this.#failed(tenant, this.#lastError ?? "reconcile failed");
    if (this.#refusal) return { ok: false, error: { reason: "split_view", refusal: this.#refusal } };
    const sealed: SealSummary[] = [];
    for (;;) {
      const latest = store.latestSeal();
      let seal: SealRecord;
      if (latest && !latest.published) {
        seal = latest; // planned by an earlier run that did not finish: complete it
      } else {
        const from = latest?.to ?? 0;
        const waiting = this.#d.size() - from;
        const due = waiting > 0 && (force || waiting >= SEAL_AFTER_ENTRIES || now() >= this.#dueAt(latest));
        if (!due) break;
        // The range is fixed here; the log may grow while the bundle is built in chunks.
        const size = Math.min(this.#d.size(), from + SEAL_MAX_ENTRIES);
        const bundle = await bundleFromStore(store, from, size);
        const plan = planSeal({
          entries: (f, t) => (f === from && t === size ? bundle : undefined),
          readNode: this.#d.readNode,
          tenant,
          origin: tenantOrigin(this.#d.env, tenant),
          signer: currentSigner(this.#d.env, tenant),
          size,
          maxEntries: SEAL_MAX_ENTRIES,
          prev: latest,
          nowMs: now(),
        });
        if (!plan) break;
        // Durable now: the plan (range, checkpoint, manifest, sealed_at). A crash from here on
        // is recovered by the next run, which finds this unpublished seal and publishes the
        // same bytes; nothing is signed twice for one range.
        this.#d.storage.transactionSync(() => store.insertSeal(plan.seal));
        seal = plan.seal;
        this.#bundle = { id: seal.id, body: plan.bundle };
      }
      const failure = await this.#publish(tenant, seal);
      if (failure) {
        if (this.#refusal) return { ok: false, error: { reason: "split_view", refusal: this.#refusal } };
        return this.#failed(tenant, `${failure.reason} at ${failure.key}`);
      }
      sealed.push(sealSummary(tenant, { ...seal, published: true }));
      await this.#index(tenant);
      // A backlog of several seals: appends commit between them.
      await yieldToQueued();
    }
    this.#failures = 0;
    this.#retryAt = 0;
    this.#lastError = null;
    return { ok: true, value: { sealed } };
  }

  #failed(tenant: string, detail: string): SealResult {
    this.#failures += 1;
    this.#lastError = detail;
    console.error(`TenantLog ${tenant} seal failed (${this.#failures} in a row): ${detail}`);
    this.#retryAt = this.#d.now() + backoffMs(this.#failures);
    this.#d.alarm.arm(this.#retryAt);
    return { ok: false, error: { reason: "seal_failed", detail } };
  }

  /** Writes a planned or published seal's objects to R2 (create-only) and marks it published. */
  async #publish(tenant: string, seal: SealRecord): Promise<PublishError | undefined> {
    const { store } = this.#d;
    const failure = await publishSeal(this.#d.bucket, tenant, seal, () => this.#bundleOf(tenant, seal));
    if (this.#bundle?.id === seal.id && !failure) this.#bundle = undefined;
    if (failure?.reason === "r2_conflict") {
      const detail = `R2 holds other bytes (sha256 ${failure.got}, ours ${failure.expected})`;
      this.#refuse(tenant, { reason: "r2_conflict", key: failure.key, detail });
    }
    if (failure) return failure;
    if (!seal.published) {
      // Durable now: bundle, checkpoint and manifest are all in R2, and this row says so.
      // Entries that are in D1 too may now leave DO storage.
      this.#d.storage.transactionSync(() => store.markSealPublished(seal.id));
      store.evictSettled(store.mirroredTo());
    }
    return undefined;
  }

  /**
   * A seal's bundle: from DO storage while it holds the entries, else from D1 (after
   * eviction), accepted only if it hashes to the planned bundle_sha256.
   */
  async #bundleOf(tenant: string, seal: SealRecord): Promise<string | undefined> {
    if (this.#bundle?.id === seal.id) return this.#bundle.body;
    const local = await bundleFromStore(this.#d.store, seal.from, seal.to);
    if (local !== undefined) return local;
    try {
      const bundle = formatBundle((await entriesIn(this.#d.db, tenant, seal.from, seal.to)).map((r) => r.entry));
      return sha256Base64(bundle) === seal.bundleSha256 ? bundle : undefined;
    } catch {
      return undefined;
    }
  }

  /** Writes the KV index for published seals not yet indexed. KV is an index: failures wait. */
  async #index(tenant: string): Promise<void> {
    for (const seal of this.#d.store.unindexedSeals()) {
      try {
        await indexSeal(this.#d.kv, tenant, seal);
      } catch (e) {
        console.error(`KV index of seal ${seal.id} failed; retried at the next seal`, e);
        return;
      }
      this.#d.store.markSealIndexed(seal.id);
    }
  }

  /** When the next seal is due: the interval after the last seal (or after the first unsealed entry). */
  #dueAt(latest: SealRecord | undefined): number {
    const { store } = this.#d;
    const interval = store.settings().sealIntervalMs;
    if (latest) return latest.sealedAtMs + interval;
    if (this.#firstReceivedAtMs === undefined) {
      const first = store.entry(0);
      if (first) this.#firstReceivedAtMs = Date.parse((JSON.parse(first.entry) as { received_at: string }).received_at);
    }
    return (this.#firstReceivedAtMs ?? this.#d.now()) + interval;
  }

  /** Arms the alarm for the next seal: at once when one is due or unfinished, else at its due time (never before a retry's backoff). */
  schedule(): void {
    const latest = this.#d.store.latestSeal();
    const waiting = this.#d.size() - (latest?.to ?? 0);
    if (waiting <= 0 && (latest?.published ?? true)) return;
    if (this.#refusal) return;
    const due = waiting >= SEAL_AFTER_ENTRIES || (latest && !latest.published) ? this.#d.now() : this.#dueAt(latest);
    this.#d.alarm.arm(Math.max(due, this.#retryAt));
  }

  stats(tenant: string | undefined): Pick<LogStats, "sealed_to" | "latest_seal" | "seal_failures" | "last_seal_error" | "refusal"> {
    const latest = this.#d.store.latestPublishedSeal();
    return {
      sealed_to: latest?.to ?? 0,
      latest_seal: latest && tenant ? sealSummary(tenant, latest) : null,
      seal_failures: this.#failures,
      last_seal_error: this.#lastError,
      refusal: this.#refusal,
    };
  }
}
