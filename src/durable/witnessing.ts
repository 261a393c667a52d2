/**
 * Witnessing (docs/design.md "Witnessing"; c2sp.org/tlog-witness, c2sp.org/tlog-cosignature):
 * after the tree grows, and after every seal, the log submits its newest signed checkpoint to
 * each witness with `POST <url>/add-checkpoint`: the size the witness last cosigned, an RFC 6962
 * consistency proof from it (from DO storage, which never deletes tree nodes), then the
 * checkpoint. Valid cosignatures are stored with the checkpoint (witness-store.ts) and served
 * after the log's own signature line.
 *
 * When: at most WITNESS_AFTER_GROWTH_MS after the tree grows (the alarm), at once after a seal
 * (the seal's checkpoint, then the head). Each run is serialized; a witness that fails
 * transiently is retried with the alarm's backoff (alarm.ts `backoffMs`).
 *
 * Answers (tlog-witness "add-checkpoint"): 200, signature lines: the witness's own, verified
 * here, are kept; 409 with `text/x.tlog.size`: the witness cosigned another size, resend from it,
 * unless it is larger than this log (an alert: possible split view); 422, the checkpoint is
 * inconsistent with what the witness cosigned (an alert); 404 (the witness does not know this
 * log's origin), 403 (it does not trust this log's key), 400 and others: recorded as the
 * witness's last error. Outbound calls follow outbound.ts.
 */
import { parseSignatureLines, verifyCosignature } from "../core/cosignature";
import { consistencyProof, inclusionProof, type NodeReader } from "../core/merkle";
import { formatTlogProof } from "../core/tlog-proof";
import { formatAddCheckpoint, parseTlogSize, TLOG_SIZE_CONTENT_TYPE } from "../core/tlog-witness";
import { backoffMs, type Alarm } from "./alarm";
import type { LogStore, TenantSettings } from "./log-store";
import type { ProofResult, SignedCheckpoint, WitnessStats, WitnessStatus } from "./log-types";
import { guardedPost, isLocalDev } from "./outbound";
import { effectiveQuorum, parseWitnessList, toWitnesses, type Witness, type WitnessConfig } from "./witness-config";
import { WitnessStore } from "./witness-store";

/** N: a checkpoint is submitted at most this long after the tree grows. */
export const WITNESS_AFTER_GROWTH_MS = 10_000;
/** Resends after a 409 within one submission. */
const MAX_RESENDS = 2;

export type WitnessEnv = { SEALTRAIL_WITNESSES?: string };

export interface WitnessingDeps {
  storage: DurableObjectStorage;
  store: LogStore;
  alarm: Alarm;
  now: () => number;
  env: WitnessEnv & object;
  size: () => number;
  readNode: NodeReader;
  /** The signed checkpoint of the current head (log-reads.ts): refused while the log may not sign. */
  checkpoint: (tenant: string) => Promise<ProofResult<SignedCheckpoint>>;
}

/** The checkpoint the witnesses see: its size and the log's signed note. */
interface Target {
  size: number;
  note: string;
}

const bodyOf = (note: string): string => note.slice(0, note.indexOf("\n\n") + 1);

export class Witnessing {
  readonly #d: WitnessingDeps;
  readonly db: WitnessStore;
  /** When the next submission is due (null: none pending). */
  #dueAt: number | null = null;
  #chain: Promise<unknown> = Promise.resolve();
  /** The default list, parsed once per object (the deployment's variables do not change under it). */
  #defaults: WitnessConfig[] | undefined;
  #parsed: { settings: TenantSettings; list: Witness[] } | undefined;
  /** How long the last submission round took (ms, the object's clock), for /stats. */
  #lastRoundMs: number | null = null;

  constructor(deps: WitnessingDeps) {
    this.#d = deps;
    this.db = new WitnessStore(deps.storage.sql);
  }

  /** The deployment's default witnesses (SEALTRAIL_WITNESSES); items that do not parse are logged and skipped. */
  defaults(): WitnessConfig[] {
    if (this.#defaults === undefined) {
      const { witnesses, problems } = parseWitnessList(this.#d.env.SEALTRAIL_WITNESSES, isLocalDev(this.#d.env));
      for (const p of problems) console.error(`SEALTRAIL_WITNESSES: ignored ${p}`);
      this.#defaults = witnesses;
    }
    return this.#defaults;
  }

  /** The witnesses this tenant's log submits to: its own setting, else the deployment's. */
  witnesses(): Witness[] {
    // Called after every commit: parsed again only when the settings row was read again.
    const settings = this.#d.store.settings();
    if (this.#parsed?.settings !== settings) this.#parsed = { settings, list: toWitnesses(settings.witnesses ?? this.defaults()) };
    return this.#parsed.list;
  }

  quorum(): number {
    return effectiveQuorum(this.#d.store.settings().witnessQuorum, this.witnesses().length);
  }

  /** After a commit grew the tree: submit within WITNESS_AFTER_GROWTH_MS. */
  grown(): void {
    if (this.#dueAt !== null || this.witnesses().length === 0) return;
    this.#due(this.#d.now() + WITNESS_AFTER_GROWTH_MS);
  }

  /** After a seal, or a change of witnesses: submit at once. */
  soon(): void {
    if (this.witnesses().length === 0) return;
    this.#due(this.#d.now());
  }

  #due(at: number): void {
    if (this.#dueAt === null || at < this.#dueAt) this.#dueAt = at;
    this.#d.alarm.arm(this.#dueAt);
  }

  /** At start: a tree larger than what was last submitted is due (a crash may have lost the timer). */
  start(): void {
    const newest = this.db.newestSubmitted()?.size ?? 0;
    if (this.#d.size() > newest) this.grown();
  }

  /** From the alarm: submits if due, else re-arms for when it is. */
  run(tenant: string): Promise<void> {
    const pass = this.#chain.then(async () => {
      if (this.#dueAt === null) return;
      if (this.#dueAt > this.#d.now()) {
        this.#d.alarm.arm(this.#dueAt);
        return;
      }
      this.#dueAt = null;
      await this.submitAll(tenant);
    });
    this.#chain = pass.catch(() => undefined);
    return pass;
  }

  /** Submits the latest seal's checkpoint (if a witness lacks it) and the head's to every witness. */
  async submitAll(tenant: string): Promise<void> {
    const witnesses = this.witnesses();
    if (witnesses.length === 0) return;
    const head = await this.#d.checkpoint(tenant);
    // Never submit while the log may not sign (invariant 10: refusal, or not reconciled).
    if (!head.ok) return;
    const started = Date.now();
    const targets: Target[] = [];
    const seal = this.#d.store.latestPublishedSeal();
    if (seal && seal.to < head.value.size) targets.push({ size: seal.to, note: seal.checkpoint });
    if (head.value.size > 0) targets.push({ size: head.value.size, note: head.value.note });
    for (const t of targets) this.db.recordSubmitted(t.size, t.note, this.#d.now());
    const retries = await Promise.all(witnesses.map((w) => this.#submitTo(w, targets)));
    this.db.prune();
    this.#lastRoundMs = Date.now() - started;
    const failures = Math.max(0, ...retries);
    if (failures > 0) this.#due(this.#d.now() + backoffMs(failures));
  }

  /** Submits each target the witness lacks, in size order. Returns its failure count if it should be retried, else 0. */
  async #submitTo(w: Witness, targets: Target[]): Promise<number> {
    for (const t of targets) {
      const retry = await this.#submit(w, t);
      if (retry > 0) return retry;
    }
    return 0;
  }

  async #submit(w: Witness, t: Target): Promise<number> {
    const { db } = this;
    const failed = (error: string, retry: boolean): number => {
      const n = db.failed(w.key, w.url, error);
      console.error(`witness ${w.url}: ${error}`);
      return retry ? n : 0;
    };
    for (let attempt = 0; attempt <= MAX_RESENDS; attempt++) {
      const old = db.state(w.key)?.cosignedSize ?? 0;
      if (old > t.size) return 0; // the witness already holds a larger checkpoint of ours
      if (old === t.size && db.hasCosignature(t.size, w.key)) return 0;
      const proof = old === 0 || old === t.size ? [] : consistencyProof(old, t.size, this.#d.readNode);
      const body = formatAddCheckpoint({ oldSize: old, proof, checkpoint: t.note });
      const sent = await guardedPost(`${w.url.replace(/\/+$/, "")}/add-checkpoint`, body, "text/plain; charset=utf-8", {
        localDev: isLocalDev(this.#d.env),
      });
      if (!sent.ok) return failed(sent.detail, sent.retry);
      const { status, contentType, body: answer } = sent.response;
      if (status === 200) return this.#accept(w, t, answer) ?? 0;
      if (status === 409) {
        const size = parseTlogSize(answer);
        if (!contentType.toLowerCase().startsWith(TLOG_SIZE_CONTENT_TYPE) || size === undefined) {
          return failed(`409 without a ${TLOG_SIZE_CONTENT_TYPE} body`, true);
        }
        if (size > this.#d.size()) {
          const detail = `the witness cosigned a tree of ${size} entries; this log has ${this.#d.size()}: possible split view`;
          db.alert(this.#d.now(), w.key, w.url, "witness_ahead", size, detail);
          return failed(`409: ${detail}`, true);
        }
        // Durable now: the witness's size. A crash resends from it, as the next attempt does.
        db.setCosignedSize(w.key, w.url, size);
        continue;
      }
      if (status === 422) {
        const detail = `the witness refused the checkpoint of size ${t.size} as inconsistent with what it cosigned: possible split view`;
        db.alert(this.#d.now(), w.key, w.url, "witness_inconsistent", t.size, detail);
        return failed(`422: ${detail}`, true);
      }
      if (status === 404) return failed("404: the witness does not know this log's origin", true);
      if (status === 403) return failed("403: the witness does not trust this log's key", true);
      if (status === 400) return failed("400: the witness refused the request as malformed", true);
      return failed(`unexpected status ${status}`, true);
    }
    return failed("the witness kept answering 409", true);
  }

  /** Keeps the witness's valid cosignature from a 200's signature lines; a failure count if none. */
  #accept(w: Witness, t: Target, answer: string): number | undefined {
    const lines = parseSignatureLines(answer);
    if (!lines.ok) return this.db.failed(w.key, w.url, `200 with a malformed body (${lines.error.reason})`);
    const body = bodyOf(t.note);
    for (const s of lines.value) {
      if (s.name !== w.cosigner.name || s.keyId !== w.cosigner.keyId) continue; // other keys: ignored (tlog-witness)
      const checked = verifyCosignature(w.cosigner, body, s.signature);
      if (!checked.ok) continue;
      this.#d.storage.transactionSync(() => {
        this.db.addCosignature(t.size, w.key, s.line, checked.value.timestamp);
        this.db.setCosignedSize(w.key, w.url, t.size);
        this.db.succeeded(w.key, w.url, this.#d.now());
      });
      // Durable now: the cosignature with its checkpoint, and the witness's new size, together.
      // A crash before this resubmits from the old size: the witness answers 409 with the new
      // one, and the resend gets a fresh cosignature.
      return undefined;
    }
    return this.db.failed(w.key, w.url, "200 without a valid cosignature by the witness's key");
  }

  /** `note` (the log's signed checkpoint at `size`) with the cosignature lines stored for it. */
  cosigned(size: number, note: string): string {
    return `${note}${this.db.cosignatureLines(
      size,
      this.witnesses().map((w) => w.key),
    )}`;
  }

  /** Cosignature lines stored for `size`, by the current witnesses. */
  lines(size: number): string {
    return this.db.cosignatureLines(
      size,
      this.witnesses().map((w) => w.key),
    );
  }

  /**
   * A tlog-proof for `seq` against the newest submitted checkpoint that covers it and has the
   * quorum of cosignatures, or undefined (the caller proves against the head).
   */
  entryProof(seq: number): string | undefined {
    const keys = this.witnesses().map((w) => w.key);
    const quorum = this.quorum();
    if (keys.length === 0 || quorum === 0) return undefined;
    const cp = this.db.submittedAbove(seq, keys).find((c) => c.cosigned >= quorum);
    if (!cp) return undefined;
    const path = inclusionProof(seq, cp.size, this.#d.readNode);
    return formatTlogProof({ index: seq, path, checkpoint: this.cosigned(cp.size, cp.note) });
  }

  /**
   * The newest submitted checkpoint that has the quorum of cosignatures, with them; undefined
   * without witnesses (quorum 0) or before one has it. As Tessera publishes only witnessed
   * checkpoints, the tiles' `checkpoint` serves this one when the tenant requires witnesses.
   */
  witnessedCheckpoint(): { size: number; note: string } | undefined {
    const keys = this.witnesses().map((w) => w.key);
    const quorum = this.quorum();
    if (keys.length === 0 || quorum === 0) return undefined;
    const cp = this.db.submittedAbove(0, keys).find((c) => c.cosigned >= quorum);
    return cp ? { size: cp.size, note: this.cosigned(cp.size, cp.note) } : undefined;
  }

  /** What verification checks: the quorum, the witnesses' keys and the newest submitted checkpoint with its cosignatures. */
  status(): WitnessStatus {
    const newest = this.db.newestSubmitted();
    return {
      quorum: this.quorum(),
      keys: this.witnesses().map((w) => w.key),
      newest: newest ? { size: newest.size, note: this.cosigned(newest.size, newest.note) } : null,
    };
  }

  stats(): WitnessStats {
    const witnesses = this.witnesses();
    const keys = witnesses.map((w) => w.key);
    const quorum = this.quorum();
    const witnessed = quorum === 0 ? undefined : this.db.submittedAbove(0, keys).find((c) => c.cosigned >= quorum);
    const alerts = this.db.alerts();
    return {
      witnesses: witnesses.map((w) => {
        const s = this.db.state(w.key);
        return {
          url: w.url,
          key: w.key,
          cosigned_size: s?.cosignedSize ?? 0,
          failures: s?.failures ?? 0,
          last_error: s?.lastError ?? null,
        };
      }),
      witness_quorum: quorum,
      witnessed_size: witnessed?.size ?? 0,
      witness_alert_count: alerts.count,
      witness_alerts: alerts.recent,
      witness_round_ms: this.#lastRoundMs,
    };
  }
}
