/**
 * Delivery of one log stream (docs/design.md "Streams"): ordered by seq, at-least-once.
 *   - Entries are read from the tenant's D1 shard (the mirror of the log: the log's own storage
 *     evicts sealed entries), from the stream's cursor, contiguous only.
 *   - A batch is bounded by count and bytes (per destination type, STREAM_BATCH_LIMITS). Its range
 *     [cursor, to) is stored before the first attempt (stream-store.ts `setPending`): retries and a
 *     restarted object resend exactly it, so duplicates carry the same webhook-id / object key.
 *   - The cursor moves only after the destination acknowledged (2xx; S3 also 412, the object exists).
 *   - A failed attempt is retried after exponential backoff with full jitter (`retryDelayMs`); after
 *     STREAM_PAUSE_AFTER_FAILURES failures in a row, or at once when the outbound rules refuse the
 *     destination (outbound.ts: a refused URL, a redirect, an oversized answer), the stream pauses
 *     with its last error until resumed (which continues from the cursor).
 *   - Entries the filter drops, and entries below the retention floor (`readRetentionFloor`), are
 *     skipped: the cursor moves past them without sending.
 */
import type { JsonObject } from "../core/entry";
import { formatRecords, type EntryView, type StreamEntry } from "../core/stream-format";
import { guardedRequest } from "./outbound";
import { actionMatches, type DestinationType } from "./stream-config";
import { buildRequest, type Batch } from "./stream-destinations";
import type { StreamRow, StreamStore } from "./stream-store";

/** Per batch: at most this many entries and this many bytes of formatted records (UTF-8 JSON). */
export const STREAM_BATCH_LIMITS: Record<DestinationType, { count: number; bytes: number }> = {
  // Each batch costs a storage flush before its request (the range in flight) and one round trip:
  // batches large enough to amortize them, small enough for a receiver's 1 MB body limit.
  webhook: { count: 1000, bytes: 1024 * 1024 },
  splunk: { count: 1000, bytes: 1024 * 1024 },
  // Datadog's logs intake takes at most 1,000 entries and 5 MB (uncompressed) per request.
  datadog: { count: 1000, bytes: 4 * 1024 * 1024 },
  s3: { count: 5000, bytes: 8 * 1024 * 1024 },
};
/** A stream pauses after this many failed attempts in a row (README "Log streams"). */
export const STREAM_PAUSE_AFTER_FAILURES = 15;
/** Backoff: the n-th retry waits a random time in [0, min(cap, base × 2^(n-1))) (full jitter). */
export const STREAM_RETRY_BASE_MS = 1_000;
export const STREAM_RETRY_CAP_FACTOR = 600; // cap = 600 × base: 10 minutes
/** How often an idle stream looks for new entries: every second, every 5 s after a minute without any. */
export const STREAM_POLL_MS = 1_000;
export const STREAM_IDLE_POLL_MS = 5_000;
export const STREAM_IDLE_AFTER_MS = 60_000;
/** One alarm delivers for at most this long per stream, then continues at the next (at once). */
export const STREAM_PASS_BUDGET_MS = 10_000;
/** D1 rows read per query while forming a batch. */
const SCAN_ROWS = 1000;

/** Full-jitter exponential backoff (the n-th failure in a row): random in [0, min(cap, base·2^(n−1))). */
export function retryDelayMs(failures: number, baseMs: number, random: () => number): number {
  const ceiling = Math.min(baseMs * STREAM_RETRY_CAP_FACTOR, baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  return Math.floor(random() * ceiling);
}

/**
 * The tenant's retention floor (issue #17.1; migrations/0009, written by retention.ts before any
 * deletion): entries below it were pruned and are skipped, never sent. A stream that far behind
 * resumes at the floor, so entries a legal hold kept below it are not streamed either (they are
 * still read through the API). 0 for a tenant never swept.
 */
export async function readRetentionFloor(db: D1Database, tenant: string): Promise<number> {
  const row = await db
    .prepare("SELECT coalesce(max(floor), 0) AS floor FROM retention_floor WHERE tenant_id = ?")
    .bind(tenant)
    .first<{ floor: number }>();
  return Number(row?.floor ?? 0);
}

/**
 * Hook (issue #17.3): the reader's view of a stored entry, which the non-native formats are built
 * from: the stored entry, parsed. Declared personal fields stay as stored, encrypted, in every
 * format (docs/design.md "Streams", Personal fields): a plaintext copy at a destination could never
 * be erased, so erased fields stay erased in streams because the destination never had the key.
 */
export function readerViewForStream(e: StreamEntry): EntryView {
  const o = JSON.parse(e.entry) as JsonObject;
  return {
    tenant: String(o.tenant),
    seq: e.seq,
    received_at: String(o.received_at),
    event: (o.event ?? {}) as JsonObject,
    provenance: (o.provenance ?? {}) as JsonObject,
  };
}

const utf8Length = (s: string): number => {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : c < 0x800 ? 1 : 0;
  }
  return n;
};

/**
 * A failed call's error as the stream shows it. The runtime's fetch reports a bad certificate (self-signed,
 * for another host, expired) as an opaque network error: for https destinations the message says so.
 */
function failureOf(url: string, detail: string): string {
  if (detail.startsWith("network error") && url.startsWith("https:")) {
    return `could not connect over TLS (is the certificate valid for this host?) or the network failed: ${detail}`;
  }
  return detail;
}

interface Row {
  seq: number;
  entry: string;
  leaf_hash: string;
  received_at: number;
  action: string;
}

const toEntry = (r: Row): StreamEntry => ({
  seq: r.seq,
  entry: r.entry,
  leafHash: r.leaf_hash,
  receivedAtMs: r.received_at,
  action: r.action,
});

export interface DeliveryDeps {
  store: StreamStore;
  db: () => D1Database;
  tenant: string;
  /** The log's origin (`<SEALTRAIL_ORIGIN>/<tenant>`), the CloudEvents `source` and OCSF `log_name`. */
  origin: string;
  now: () => number;
  random: () => number;
  localDev: boolean;
  retryBaseMs: number;
  /** How long an idle stream waits before looking for new entries again. */
  pollMs: () => number;
  /** Told when a stream pauses (the object logs it and reports the alert). */
  paused: (row: StreamRow, error: string) => void;
}

/** What one pass decided: when the stream wants its next run (null: paused or gone), and whether it moved. */
export interface PassResult {
  nextAt: number | null;
  moved: boolean;
}

type Formed = { kind: "batch"; batch: Batch } | { kind: "empty" } | { kind: "waiting"; seq: number };

export class StreamDelivery {
  readonly #d: DeliveryDeps;

  constructor(deps: DeliveryDeps) {
    this.#d = deps;
  }

  async #rows(from: number, to: number, limit: number): Promise<Row[]> {
    const { results } = await this.#d
      .db()
      .prepare(
        "SELECT seq, entry, leaf_hash, received_at, action FROM audit_events WHERE tenant_id = ?1 AND seq >= ?2 AND seq < ?3 ORDER BY seq LIMIT ?4",
      )
      .bind(this.#d.tenant, from, to, limit)
      .all<Row>();
    return results;
  }

  #batch(row: StreamRow, from: number, to: number, entries: StreamEntry[]): Batch {
    const { format } = row.config;
    return {
      tenant: this.#d.tenant,
      streamId: row.id,
      format,
      from,
      to,
      entries,
      records: formatRecords(format, entries, readerViewForStream, this.#d.origin),
    };
  }

  /** The batch in flight, read again: the same range, so the same id and object key. */
  async #pending(row: StreamRow, to: number): Promise<Formed> {
    const rows = await this.#rows(row.cursor, to, to - row.cursor);
    const missing = rows.findIndex((r, i) => r.seq !== row.cursor + i);
    if (rows.length < to - row.cursor || missing >= 0)
      return { kind: "waiting", seq: missing >= 0 ? row.cursor + missing : row.cursor + rows.length };
    const entries = rows.map(toEntry).filter((e) => actionMatches(row.config.actions, e.action));
    return { kind: "batch", batch: this.#batch(row, row.cursor, to, entries) };
  }

  /** A new batch from the cursor: contiguous entries, the filter applied, bounded by count and bytes. */
  async #form(row: StreamRow): Promise<Formed> {
    const limits = STREAM_BATCH_LIMITS[row.config.destination.type];
    const from = row.cursor;
    let next = from;
    const entries: StreamEntry[] = [];
    let bytes = 0;
    for (let scans = 0; scans < 10; scans++) {
      // Unfiltered: read no more rows than the batch can take; filtered: scan ahead.
      const scan = row.config.actions.length === 0 ? Math.max(1, Math.min(SCAN_ROWS, limits.count - entries.length)) : SCAN_ROWS;
      const rows = await this.#rows(next, next + scan, scan);
      if (rows.length === 0) break;
      if (rows[0]!.seq !== next) {
        if (next === from) return { kind: "waiting", seq: next };
        break;
      }
      let full = false;
      for (const r of rows) {
        if (r.seq !== next) break;
        if (actionMatches(row.config.actions, r.action)) {
          const size = utf8Length(r.entry) + 256;
          if (entries.length >= limits.count || (entries.length > 0 && bytes + size > limits.bytes)) {
            full = true;
            break;
          }
          entries.push(toEntry(r));
          bytes += size;
        }
        next = r.seq + 1;
      }
      if (full || entries.length >= limits.count || rows.length < scan || next !== rows[rows.length - 1]!.seq + 1) break;
    }
    if (next === from) return { kind: "empty" };
    const batch = this.#batch(row, from, next, entries);
    // Bytes are bounded on the formatted records (OCSF and CloudEvents are larger than the entry).
    while (batch.records.length > 1 && batch.records.reduce((n, r) => n + utf8Length(JSON.stringify(r)), 0) > limits.bytes) {
      const keep = Math.max(1, Math.floor(batch.records.length / 2));
      batch.entries = batch.entries.slice(0, keep);
      batch.records = batch.records.slice(0, keep);
      batch.to = batch.entries[keep - 1]!.seq + 1;
    }
    return { kind: "batch", batch };
  }

  /** Delivers what is due for `id`, batch after batch, for at most STREAM_PASS_BUDGET_MS. */
  async pass(id: string): Promise<PassResult> {
    const { store, now } = this.#d;
    const started = now();
    let moved = false;
    // Read once a pass: a floor raised during it leaves rows missing, which waits for the next pass.
    const floor = await readRetentionFloor(this.#d.db(), this.#d.tenant);
    for (;;) {
      const row = store.get(id);
      if (!row || row.pausedAt !== null) return { nextAt: null, moved };
      if (row.nextAt > now()) return { nextAt: row.nextAt, moved };
      if (now() - started > STREAM_PASS_BUDGET_MS) return { nextAt: now(), moved };
      if (row.cursor < floor) {
        // Durable now: the cursor past the pruned range. Pruned entries are never sent.
        store.skipTo(id, floor);
        continue;
      }
      const formed = row.pendingTo !== null ? await this.#pending(row, row.pendingTo) : await this.#form(row);
      if (formed.kind === "empty") return { nextAt: now() + this.#d.pollMs(), moved };
      if (formed.kind === "waiting") return { nextAt: now() + STREAM_POLL_MS, moved }; // D1 does not hold the next entry yet
      const { batch } = formed;
      if (batch.entries.length === 0) {
        // Durable now: the cursor past entries the filter drops. Nothing was owed to the destination.
        store.skipTo(id, batch.to);
        moved = true;
        continue;
      }
      // Durable now: the batch's range. A crash from here on resends exactly this batch.
      if (row.pendingTo === null) store.setPending(id, batch.to);
      const built = await buildRequest(row.config.destination, row.secrets, batch, now());
      const sent = await guardedRequest(built.url, built.request, { localDev: this.#d.localDev, timeoutMs: row.config.timeoutMs });
      const status = sent.ok ? sent.response.status : 0;
      if (sent.ok && ((status >= 200 && status < 300) || built.alsoAcknowledged.includes(status))) {
        // Durable now: the cursor past the batch, committed only after the destination acknowledged it.
        store.acknowledged(id, batch.to, batch.entries.length, now());
        moved = true;
        continue;
      }
      const error = sent.ok
        ? `HTTP ${status} from the destination${sent.response.body ? `: ${sent.response.body.slice(0, 200)}` : ""}`
        : failureOf(built.url, sent.detail);
      const at = now();
      const failures = store.failed(id, error, at + retryDelayMs(row.failures + 1, this.#d.retryBaseMs, this.#d.random), at);
      if (failures === 0) return { nextAt: null, moved }; // deleted while the attempt was out
      if (failures >= STREAM_PAUSE_AFTER_FAILURES || (!sent.ok && !sent.retry)) {
        store.pause(id, at);
        this.#d.paused(store.get(id) ?? row, error);
        return { nextAt: null, moved };
      }
      return { nextAt: store.get(id)?.nextAt ?? at, moved };
    }
  }
}
