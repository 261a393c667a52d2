/**
 * A log stream's configuration (README "Log streams", docs/design.md "Streams"): where it sends
 * (webhook, Splunk HEC, Datadog logs, an S3-compatible bucket), in which format, which actions.
 * Secrets (the webhook signing secret, the Splunk token, the Datadog API key, S3 credentials) are
 * kept apart (`StreamSecrets`): stored only in the LogStreams object's storage, never returned
 * after creation (`destinationView`), never written into the log.
 */
import type { JsonObject } from "../core/entry";
import type { StreamFormat } from "../core/stream-format";
import { checkOutboundUrl } from "./outbound";

export const DESTINATION_TYPES = ["webhook", "splunk", "datadog", "s3"] as const;
export type DestinationType = (typeof DESTINATION_TYPES)[number];

/** Where a stream sends, without secrets (what the API shows and the log records). */
export type Destination =
  | { type: "webhook"; url: string }
  | { type: "splunk"; url: string; index?: string; sourcetype?: string }
  | { type: "datadog"; url: string; service?: string; tags?: string }
  | { type: "s3"; endpoint: string; bucket: string; region: string; prefix: string };

/** The secrets of a destination: one of these, by type. */
export type StreamSecrets =
  | { type: "webhook"; secret: string }
  | { type: "splunk"; token: string }
  | { type: "datadog"; api_key: string }
  | { type: "s3"; access_key_id: string; secret_access_key: string };

export interface StreamConfig {
  name: string;
  destination: Destination;
  format: StreamFormat;
  /** Action prefixes: only entries whose action starts with one of them are sent (empty: all). */
  actions: string[];
  /** Each delivery attempt gives up after this long. */
  timeoutMs: number;
}

/** Splunk HEC's event endpoint and Datadog's logs intake path, appended to the URL the tenant gives. */
export const SPLUNK_EVENT_PATH = "/services/collector/event";
export const DATADOG_LOGS_PATH = "/api/v2/logs";

/** The URL a destination is sent to (S3: the bucket's path-style URL; objects go below it). */
export function destinationUrl(d: Destination): string {
  const base = (u: string) => u.replace(/\/+$/, "");
  switch (d.type) {
    case "webhook":
      return d.url;
    case "splunk":
      return `${base(d.url)}${SPLUNK_EVENT_PATH}`;
    case "datadog":
      return `${base(d.url)}${DATADOG_LOGS_PATH}`;
    case "s3":
      return `${base(d.endpoint)}/${encodeURIComponent(d.bucket)}`;
  }
}

/** Why the destination's URL is refused by the outbound rules (outbound.ts), or undefined. */
export function destinationUrlProblem(d: Destination, localDev: boolean): string | undefined {
  const checked = checkOutboundUrl(destinationUrl(d), localDev);
  return checked.ok ? undefined : checked.detail;
}

/** Whether `action` passes the stream's filter. */
export const actionMatches = (actions: readonly string[], action: string): boolean =>
  actions.length === 0 || actions.some((p) => action.startsWith(p));

/** The destination as the API shows it and the log records it: never a secret, only that one is set. */
export function destinationView(d: Destination): Record<string, string | boolean> {
  return { ...d, secret_set: true };
}

/** The log's head as the caller (the Worker) saw it, for lag: its size and the D1 mirror's position. */
export interface LogHead {
  size: number;
  mirroredTo: number;
  mirrorLagMs: number;
}

/** A stream as the API shows it: configuration without secrets, cursor, lag, delivery state. */
export interface StreamStatus {
  id: string;
  name: string;
  destination: Record<string, string | boolean>;
  format: string;
  actions: string[];
  timeout_seconds: number;
  created_at: string;
  /** The next seq to deliver: every entry below it was acknowledged (or skipped by the filter). */
  cursor: number;
  delivered: number;
  last_delivered_at: string | null;
  lag_entries: number;
  lag_seconds: number;
  paused: boolean;
  paused_at: string | null;
  failures: number;
  last_error: string | null;
  last_error_at: string | null;
  next_attempt_at: string | null;
}

/** The configuration part of a stream's view (what `sealtrail.stream.*` entries record). */
export const configView = (c: StreamConfig): JsonObject => ({
  name: c.name,
  destination: destinationView(c.destination),
  format: c.format,
  actions: c.actions,
  timeout_seconds: c.timeoutMs / 1000,
});
