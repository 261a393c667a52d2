/**
 * sealtrail/client: a small SDK for sending audit events from browsers, Workers and Node.
 *
 * - Batches events: a batch goes out when it holds `maxBatchEvents` events or when
 *   `maxBatchDelayMs` has passed since its first event, whichever comes first.
 * - Gives every event an idempotency key when it is logged, so retries never duplicate.
 * - Retries network errors, 429 and 5xx with exponential backoff and full jitter, waiting at
 *   least as long as the server's Retry-After.
 * - Verifies a receipt offline against a pinned verifier key (src/core, no trust in the server).
 * - Numbers each event of a source (`source: "<id>"`): 0, 1, 2, … in the order `log` is called,
 *   persisted before the event is queued (a `SourceCounterStore`), so a number the log never
 *   receives is an event that was produced and lost (README "Missed events: gaps and silence").
 *
 * Runtime-neutral: it uses fetch, setTimeout and crypto.randomUUID, all injectable.
 */
import { entryLeafHash } from "../core/entry";
import { parseVerifierKey, type NoteVerifier } from "../core/note";
import { verifyTlogProof, type TlogProofError } from "../core/tlog-proof";

// The types below are written out, not imported: `npm run build` emits them as one
// dist/client.d.ts that needs nothing else (scripts/build-client-types.mjs checks it imports
// nothing). test/cli/client-types.test.ts holds AuditEvent to the server's zod schema.

/** Who did it, or what it was done to. */
export interface AuditRef {
  id: string;
  type: string;
  name?: string;
}

/** A JSON value (metadata holds any JSON). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** An event as the API takes it (README "Events" and "Limits"; the server validates it). */
export interface AuditEvent {
  /** A dotted name such as user.login. */
  action: string;
  actor: AuditRef;
  /** At most 32; none if left out. */
  targets?: AuditRef[];
  outcome: "success" | "failure" | "denied" | "unknown";
  /** The client's clock (RFC 3339 with an offset), kept as given, never used for ordering. */
  occurred_at?: string;
  /** At most 32 keys with scalar values. */
  context?: { request_id?: string; session_id?: string } & { [key: string]: string | number | boolean | null };
  /** Free-form JSON, at most 16 KiB as canonical JSON. */
  metadata?: Record<string, JsonValue>;
  /**
   * Where the event comes from and its number there (0, 1, 2, …; a non-negative safe integer):
   * the log reports numbers that never arrive as gaps. The client fills it in when it is
   * configured with a `source`.
   */
  source?: { id: string; seq: number };
  /** Whose personal fields the event holds (erasure by subject); the actor's id when left out. 1 to 256 characters. */
  subject?: string;
}

/**
 * Where a client keeps a source's next number, so that numbering continues across restarts.
 * `load` answers the next number to hand out (undefined: none stored, start at 0); `save` is
 * called with the next number before an event carrying the previous one is queued. A counter
 * that is lost starts again at 0: the log then sees numbers it has seen before and counts a
 * restart (not a gap), and finds gaps again once the numbers pass the highest it saw.
 */
export interface SourceCounterStore {
  load(source: string): number | undefined;
  save(source: string, next: number): void;
}

/** Keeps the counter in memory only: a new process starts at 0 again (a restart, to the log). */
export function memoryCounterStore(): SourceCounterStore {
  const counters = new Map<string, number>();
  return { load: (s) => counters.get(s), save: (s, n) => void counters.set(s, n) };
}

/** The part of the Web Storage API the localStorage store uses. */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** Keeps the counter in `localStorage` under `sealtrail.source.<id>` (browsers). */
export function localStorageCounterStore(storage: KeyValueStorage = localStorage): SourceCounterStore {
  const key = (s: string) => `sealtrail.source.${s}`;
  return {
    load: (s) => counterOf(storage.getItem(key(s))),
    save: (s, n) => storage.setItem(key(s), String(n)),
  };
}

/** The runtime's localStorage, if it has a usable one (browsers; some runtimes define it and throw on use). */
function webStorage(): KeyValueStorage | undefined {
  try {
    return typeof localStorage === "undefined" || localStorage === null ? undefined : localStorage;
  } catch {
    return undefined;
  }
}

const counterOf = (text: string | null | undefined): number | undefined => {
  const n = Number(text);
  return text != null && text !== "" && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
};

/** The part of node:fs the file store uses (written out: this module imports nothing). */
interface NodeFs {
  readFileSync(path: string, encoding: "utf8"): string;
  writeFileSync(path: string, data: string): void;
  renameSync(from: string, to: string): void;
}

/**
 * Keeps the counters in a JSON file (Node: `{"<source id>": next, …}`), written to a temporary
 * file and renamed over it at each number, so a crash leaves the old or the new counter, never
 * a torn one. `fs` defaults to Node's own (`process.getBuiltinModule`, Node ≥ 20.16).
 */
export function fileCounterStore(path: string, fs?: NodeFs): SourceCounterStore {
  const nodeFs = fs ?? (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.("node:fs");
  if (!nodeFs) throw new Error("fileCounterStore needs node:fs (Node 20.16 or later), or an fs passed in");
  const io = nodeFs as NodeFs;
  const read = (): Record<string, unknown> => {
    try {
      const v = JSON.parse(io.readFileSync(path, "utf8")) as unknown;
      return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  };
  return {
    load: (s) => {
      const v = read()[s];
      return typeof v === "number" ? counterOf(String(v)) : undefined;
    },
    save: (s, n) => {
      const all = { ...read(), [s]: n };
      io.writeFileSync(`${path}.tmp`, JSON.stringify(all));
      io.renameSync(`${path}.tmp`, path);
    },
  };
}

/** A receipt as the API returns it. */
export interface Receipt {
  seq: number;
  leaf_hash: string;
  received_at: string;
  tree_size: number;
}

export class SealtrailError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "SealtrailError";
  }
}

export interface ClientOptions {
  /** Where Sealtrail runs, e.g. https://audit.example.com */
  baseUrl: string;
  tenant: string;
  /** A secret key (st_…) on servers, a publishable key (pk_…) in browsers. */
  key: string;
  /** At most 100 (the server's batch limit). */
  maxBatchEvents?: number;
  maxBatchDelayMs?: number;
  maxAttempts?: number;
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  idempotencyKey?: () => string;
  /**
   * Numbers this client's events as one source (README "Missed events: gaps and silence"):
   * each event gets `source: {id, seq}` unless it carries its own. Use one client per source id.
   */
  source?: string;
  /** Where the source's counter is kept: `localStorage` in browsers, else memory (see SourceCounterStore). */
  counterStore?: SourceCounterStore;
}

interface Queued {
  event: AuditEvent & { idempotency_key: string };
  resolve: (r: Receipt) => void;
  reject: (e: unknown) => void;
}

const RETRYABLE = new Set([429, 500, 502, 503, 504]);
const SERVER_BATCH_LIMIT = 100;

export class SealtrailClient {
  readonly #o: Required<Omit<ClientOptions, "fetch" | "source" | "counterStore">> & { fetch: typeof fetch };
  readonly #source: { id: string; store: SourceCounterStore; next: number } | undefined;
  #queue: Queued[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight = new Set<Promise<void>>();

  constructor(options: ClientOptions) {
    this.#o = {
      maxBatchEvents: Math.min(options.maxBatchEvents ?? SERVER_BATCH_LIMIT, SERVER_BATCH_LIMIT),
      maxBatchDelayMs: options.maxBatchDelayMs ?? 200,
      maxAttempts: options.maxAttempts ?? 6,
      retryBaseDelayMs: options.retryBaseDelayMs ?? 250,
      retryMaxDelayMs: options.retryMaxDelayMs ?? 10_000,
      sleep: options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
      random: options.random ?? Math.random,
      idempotencyKey: options.idempotencyKey ?? (() => crypto.randomUUID()),
      fetch: options.fetch ?? ((...a) => fetch(...a)),
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
      tenant: options.tenant,
      key: options.key,
    };
    if (options.source !== undefined) {
      const browser = webStorage();
      const store = options.counterStore ?? (browser ? localStorageCounterStore(browser) : memoryCounterStore());
      this.#source = { id: options.source, store, next: store.load(options.source) ?? 0 };
    }
  }

  /** The number the next event of this client's source gets (undefined: no source configured). */
  get nextSourceSeq(): number | undefined {
    return this.#source?.next;
  }

  /**
   * The event with its source number: the next one, saved as used before the event is queued
   * (a crash after this loses the event, and the log reports its number missing). Retries send
   * the same body, so the same number.
   */
  #numbered(event: AuditEvent): AuditEvent {
    const src = this.#source;
    if (src === undefined || event.source !== undefined) return event;
    const seq = src.next;
    src.store.save(src.id, seq + 1);
    src.next = seq + 1;
    return { ...event, source: { id: src.id, seq } };
  }

  /** Queues one event; resolves with its receipt once the server has durably stored it. */
  log(event: AuditEvent): Promise<Receipt> {
    return new Promise<Receipt>((resolve, reject) => {
      this.#queue.push({ event: { ...this.#numbered(event), idempotency_key: this.#o.idempotencyKey() }, resolve, reject });
      if (this.#queue.length >= this.#o.maxBatchEvents) this.#send();
      else this.#timer ??= setTimeout(() => this.#send(), this.#o.maxBatchDelayMs);
    });
  }

  /** Sends everything queued and waits until every batch in flight has an answer. */
  async flush(): Promise<void> {
    while (this.#queue.length > 0) this.#send();
    await Promise.all([...this.#inFlight]);
  }

  #send(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#queue.splice(0, this.#o.maxBatchEvents);
    if (batch.length === 0) return;
    const done = this.#deliver(batch).finally(() => this.#inFlight.delete(done));
    this.#inFlight.add(done);
    if (this.#queue.length > 0) this.#timer = setTimeout(() => this.#send(), this.#o.maxBatchDelayMs);
  }

  async #deliver(batch: Queued[]): Promise<void> {
    const url = `${this.#o.baseUrl}/v1/tenants/${encodeURIComponent(this.#o.tenant)}/events`;
    const body = JSON.stringify({ events: batch.map((q) => q.event) });
    let lastError: unknown;
    for (let attempt = 0; attempt < this.#o.maxAttempts; attempt++) {
      let retryAfterMs = 0;
      try {
        const res = await this.#o.fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", "x-api-key": this.#o.key },
          body,
        });
        if (res.status === 201) {
          const { receipts } = (await res.json()) as { receipts: Receipt[] };
          for (const [i, q] of batch.entries()) q.resolve(receipts[i]!);
          return;
        }
        const err = ((await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } }).error;
        lastError = new SealtrailError(res.status, err?.code ?? "http_error", err?.message ?? `HTTP ${res.status}`);
        if (!RETRYABLE.has(res.status)) break;
        retryAfterMs = Number(res.headers.get("retry-after") ?? "0") * 1000 || 0;
      } catch (e) {
        lastError = e; // the network failed: the server may or may not have the batch; the keys make a retry safe
      }
      if (attempt + 1 < this.#o.maxAttempts) {
        const backoff = Math.min(this.#o.retryMaxDelayMs, this.#o.retryBaseDelayMs * 2 ** attempt) * this.#o.random();
        await this.#o.sleep(Math.max(retryAfterMs, backoff));
      }
    }
    for (const q of batch) q.reject(lastError);
  }
}

/**
 * Why a receipt did not verify: `reason` names the check that failed (the key, the receipt,
 * the c2sp.org/tlog-proof, its signed checkpoint, the RFC 6962 inclusion proof); the other
 * fields give details.
 */
export interface ReceiptError {
  reason:
    | "bad_key"
    | "receipt_mismatch"
    | "malformed_proof"
    | "malformed_note"
    | "malformed_key"
    | "unknown_algorithm"
    | "key_id_mismatch"
    | "invalid_signature"
    | "no_verified_signature"
    | "malformed_checkpoint"
    | "origin_mismatch"
    | "index_out_of_range"
    | "size_out_of_range"
    | "bad_hash_length"
    | "wrong_proof_length"
    | "root_mismatch";
  detail?: string;
  [field: string]: unknown;
}

// Every failure the core reports is a ReceiptError (a new reason fails the type check here).
const asReceiptError = (e: TlogProofError): ReceiptError => e;

export type ReceiptCheck = { ok: true; seq: number; treeSize: number } | { ok: false; error: ReceiptError };

/**
 * Verifies offline that a receipt's entry is in the log: `entry` (the stored bytes, from
 * GET …/events/:seq) must hash to the receipt's leaf, and `proof` (GET …/events/:seq/proof,
 * c2sp.org/tlog-proof) must show that leaf in a checkpoint signed by a pinned key.
 */
export function verifyReceipt(receipt: Receipt, entry: string, proof: string, verifierKeys: readonly string[]): ReceiptCheck {
  const verifiers: NoteVerifier[] = [];
  for (const k of verifierKeys) {
    const v = parseVerifierKey(k);
    if (!v.ok) return { ok: false, error: { reason: "bad_key", detail: v.error.reason } };
    verifiers.push(v.value);
  }
  const leaf = entryLeafHash(entry);
  if (btoa(String.fromCharCode(...leaf)) !== receipt.leaf_hash) {
    return { ok: false, error: { reason: "receipt_mismatch", detail: "the entry does not hash to the receipt's leaf" } };
  }
  const r = verifyTlogProof(proof, leaf, verifiers[0]?.name ?? "", verifiers);
  if (!r.ok) return { ok: false, error: asReceiptError(r.error) };
  if (r.value.index !== receipt.seq) return { ok: false, error: { reason: "receipt_mismatch", detail: "the proof is for another entry" } };
  return { ok: true, seq: receipt.seq, treeSize: r.value.checkpoint.size };
}
