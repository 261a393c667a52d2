/**
 * One batch of a log stream as the request its destination takes (README "Log streams"):
 *   webhook  POST, signed per Standard Webhooks 1.0.0 (src/core/standard-webhooks.ts): the
 *            `webhook-id` is derived from the stream and the batch's range, so a retry of the same
 *            batch carries the same id (receivers deduplicate by it);
 *   splunk   POST <url>/services/collector/event, `Authorization: Splunk <token>`, the batch as
 *            concatenated HEC event objects (Splunk "Format events for HTTP Event Collector");
 *   datadog  POST <url>/api/v2/logs, `DD-API-KEY`, a JSON array of log objects (Datadog Logs API v2);
 *   s3       PUT of one gzipped JSONL object per batch, SigV4-signed (aws4fetch), at a key that
 *            names the batch's range (so keys sort by seq), with `If-None-Match: *` (never
 *            overwrites; a 412 means this very batch is already there: acknowledged).
 */
import { AwsV4Signer } from "aws4fetch";
import type { JsonObject } from "../core/entry";
import { toBase64, utf8 } from "../core/bytes";
import { webhookSecretKey, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP } from "../core/standard-webhooks";
import type { StreamEntry, StreamFormat } from "../core/stream-format";
import { destinationUrl, type Destination, type StreamSecrets } from "./stream-config";
import type { OutboundRequest } from "./outbound";

/** One batch: entries [from, to) of the log, `entries` those that pass the filter, `records` them formatted. */
export interface Batch {
  tenant: string;
  streamId: string;
  format: StreamFormat;
  from: number;
  to: number;
  entries: StreamEntry[];
  records: JsonObject[];
}

const USER_AGENT = "Sealtrail-Streams/1";

/** The Standard Webhooks message id of a batch: the same for every attempt at it. */
export const webhookIdOf = (streamId: string, from: number, to: number): string => `msg_${streamId}_${from}_${to}`;

/** The S3 object key of a batch: `<prefix><stream>/<first seq>-<last seq>.jsonl.gz`, 20-digit seqs (sorts by seq). */
export const s3KeyOf = (prefix: string, streamId: string, from: number, to: number): string =>
  `${prefix}${streamId}/${String(from).padStart(20, "0")}-${String(to - 1).padStart(20, "0")}.jsonl.gz`;

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The content types of webhook bodies per format. */
const WEBHOOK_CONTENT_TYPE: Record<StreamFormat, string> = {
  native: "application/json",
  cloudevents: "application/cloudevents-batch+json",
  ocsf: "application/json",
};

/**
 * The webhook body: native batches in a Standard Webhooks payload (`type`, `timestamp`, `data`;
 * the timestamp is the last entry's received_at, so the body is the same on every retry);
 * CloudEvents as a JSON batch (CloudEvents HTTP binding, batched content mode); OCSF as a JSON array.
 */
export function webhookBody(b: Batch): string {
  if (b.format !== "native") return JSON.stringify(b.records);
  const last = b.entries[b.entries.length - 1]!;
  return JSON.stringify({
    type: "sealtrail.entries",
    timestamp: new Date(last.receivedAtMs).toISOString(),
    data: { tenant: b.tenant, stream: b.streamId, from: b.from, to: b.to, entries: b.records },
  });
}

/**
 * `v1,<base64 HMAC-SHA256(key, id.timestamp.body)>` as src/core/standard-webhooks.ts `signWebhook`
 * computes it, with the runtime's native HMAC (a batch body is up to 1 MiB: pure JavaScript would
 * spend that CPU in the isolate the tenant's objects share).
 */
async function signNative(key: Uint8Array, id: string, ts: number, body: string): Promise<string> {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return `v1,${toBase64(new Uint8Array(await crypto.subtle.sign("HMAC", k, utf8(`${id}.${ts}.${body}`))))}`;
}

export interface BuiltRequest {
  url: string;
  request: OutboundRequest;
  /** Statuses besides 2xx that mean "the destination has this batch" (S3: 412, the object exists). */
  alsoAcknowledged: number[];
}

/** The request that delivers `b` to `d`, signed with `secrets` at `nowMs`. */
export async function buildRequest(d: Destination, secrets: StreamSecrets, b: Batch, nowMs: number): Promise<BuiltRequest> {
  const url = destinationUrl(d);
  if (d.type === "webhook" && secrets.type === "webhook") {
    const body = webhookBody(b);
    const key = webhookSecretKey(secrets.secret);
    if (!key) throw new Error("the stream's signing secret is not a whsec_ secret");
    const id = webhookIdOf(b.streamId, b.from, b.to);
    const ts = Math.floor(nowMs / 1000);
    const headers = {
      "content-type": WEBHOOK_CONTENT_TYPE[b.format],
      "user-agent": USER_AGENT,
      [WEBHOOK_ID]: id,
      [WEBHOOK_TIMESTAMP]: String(ts),
      [WEBHOOK_SIGNATURE]: await signNative(key, id, ts, body),
    };
    return { url, request: { method: "POST", headers, body }, alsoAcknowledged: [] };
  }
  if (d.type === "splunk" && secrets.type === "splunk") {
    const body = b.records
      .map((event, i) =>
        JSON.stringify({
          time: b.entries[i]!.receivedAtMs / 1000,
          source: "sealtrail",
          sourcetype: d.sourcetype ?? `sealtrail:${b.format}`,
          ...(d.index ? { index: d.index } : {}),
          fields: { tenant: b.tenant, stream: b.streamId, seq: b.entries[i]!.seq },
          event,
        }),
      )
      .join("\n");
    const headers = { "content-type": "application/json", "user-agent": USER_AGENT, authorization: `Splunk ${secrets.token}` };
    return { url, request: { method: "POST", headers, body }, alsoAcknowledged: [] };
  }
  if (d.type === "datadog" && secrets.type === "datadog") {
    const tags = [`tenant:${b.tenant}`, `stream:${b.streamId}`, `format:${b.format}`, ...(d.tags ? [d.tags] : [])].join(",");
    const body = JSON.stringify(
      b.records.map((r, i) => ({
        ddsource: "sealtrail",
        service: d.service ?? "sealtrail",
        ddtags: tags,
        seq: b.entries[i]!.seq,
        message: JSON.stringify(r),
      })),
    );
    const headers = { "content-type": "application/json", "user-agent": USER_AGENT, "dd-api-key": secrets.api_key };
    return { url, request: { method: "POST", headers, body }, alsoAcknowledged: [] };
  }
  if (d.type === "s3" && secrets.type === "s3") {
    const body = await gzip(b.records.map((r) => `${JSON.stringify(r)}\n`).join(""));
    const objectUrl = `${url}/${s3KeyOf(d.prefix, b.streamId, b.from, b.to).split("/").map(encodeURIComponent).join("/")}`;
    const signed = await new AwsV4Signer({
      method: "PUT",
      url: objectUrl,
      headers: { "content-type": "application/gzip", "if-none-match": "*" },
      body,
      accessKeyId: secrets.access_key_id,
      secretAccessKey: secrets.secret_access_key,
      service: "s3",
      region: d.region,
      datetime: new Date(nowMs).toISOString().replace(/[:-]|\.\d{3}/g, ""),
    }).sign();
    const headers: Record<string, string> = {};
    signed.headers.forEach((v, k) => {
      headers[k] = v;
    });
    return { url: objectUrl, request: { method: "PUT", headers, body }, alsoAcknowledged: [412] };
  }
  throw new Error(`the stream's secrets are for ${secrets.type}, its destination is ${d.type}`);
}
