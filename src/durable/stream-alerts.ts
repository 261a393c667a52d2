/**
 * The `stream_paused` alert source (issue #18.2's AlertSource, alert-types.ts), on the TenantLog's
 * side: the LogStreams object reports how many streams the tenant has and which are paused
 * (TenantLog `reportStreams`) whenever that changes, and this source reads the last report
 * from the TenantLog's own storage (DO key-value key `stream_report`), synchronously as the alert
 * engine requires. One condition per paused stream (key: the stream id), from its pause until it
 * is resumed or deleted. The count lets /stats skip the streams object for tenants without streams.
 */
import type { AlertCondition, AlertSource } from "./alert-types";

const KEY = "stream_report";

export interface StreamReport {
  /** How many streams the tenant has. */
  streams: number;
  /** One `stream_paused` condition per paused stream. */
  paused: AlertCondition[];
  /** The slowest active stream's cursor (the next seq it delivers); null without active streams. */
  min_cursor?: number | null;
}

/** Stores the streams object's latest report (replacing the previous one). */
export function recordStreamReport(storage: DurableObjectStorage, report: StreamReport): void {
  // Durable now: the report. A lost report is repeated by the streams object's next alarm.
  storage.kv.put(KEY, {
    streams: report.streams,
    paused: report.paused.filter((c) => c.kind === "stream_paused"),
    min_cursor: typeof report.min_cursor === "number" && Number.isSafeInteger(report.min_cursor) ? report.min_cursor : null,
  });
}

export function readStreamReport(storage: DurableObjectStorage): StreamReport {
  return storage.kv.get<StreamReport>(KEY) ?? { streams: 0, paused: [] };
}

export class StreamPausedAlerts implements AlertSource {
  readonly #storage: DurableObjectStorage;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
  }

  conditions(_now: number): AlertCondition[] {
    return readStreamReport(this.#storage).paused;
  }
}

/**
 * The streams' lag for the KPI samples (sources.ts `streamLag`): entries between the slowest
 * active stream's reported cursor and the head, and how long ago the first of them was received
 * when DO storage still holds it (null once it was evicted: older than the last seal).
 */
export function streamLagOf(
  storage: DurableObjectStorage,
  size: number,
  receivedAt: (seq: number) => number | undefined,
  now: number,
): { entries: number; ms: number | null } | null {
  const cursor = readStreamReport(storage).min_cursor;
  if (cursor === undefined || cursor === null) return null;
  const entries = Math.max(0, size - cursor);
  if (entries === 0) return { entries, ms: 0 };
  const at = receivedAt(cursor);
  return { entries, ms: at === undefined ? null : Math.max(0, now - at) };
}
