/**
 * Standard Webhooks 1.0.0 signatures (github.com/standard-webhooks/standard-webhooks,
 * spec/standard-webhooks.md, "Signature scheme" and "Symmetric signatures"): a message carries
 *   webhook-id         the message's unique id, the same on every retry of it;
 *   webhook-timestamp  integer Unix seconds of this attempt;
 *   webhook-signature  space-delimited `v1,<base64 HMAC-SHA256>` signatures;
 * and the signed content is `${id}.${timestamp}.${body}` (the raw body bytes, as sent). The
 * secret is `whsec_` followed by base64 of 24 to 64 random bytes; the HMAC key is those bytes.
 * Pure (no I/O): the Worker signs with it, tests verify with it and with node:crypto.
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, fromBase64, toBase64, utf8 } from "./bytes";

/** The prefix of a symmetric secret (spec: "whsec_"). */
export const WEBHOOK_SECRET_PREFIX = "whsec_";
/** Secret length in bytes: the spec asks for 24 to 64; Sealtrail makes 32. */
export const WEBHOOK_SECRET_BYTES = 32;
/** The header names (spec "Webhook headers"). */
export const WEBHOOK_ID = "webhook-id";
export const WEBHOOK_TIMESTAMP = "webhook-timestamp";
export const WEBHOOK_SIGNATURE = "webhook-signature";
/** Receivers should refuse a timestamp further than this from their clock (spec "Verification"; 5 minutes). */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

/** `whsec_<base64>` for `bytes` random bytes (the caller supplies them: the core has no randomness source). */
export const formatWebhookSecret = (bytes: Uint8Array): string => `${WEBHOOK_SECRET_PREFIX}${toBase64(bytes)}`;

/** The HMAC key of a `whsec_` secret, or undefined if it is not one (wrong prefix, bad base64, under 24 bytes or over 64). */
export function webhookSecretKey(secret: string): Uint8Array | undefined {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) return undefined;
  const key = fromBase64(secret.slice(WEBHOOK_SECRET_PREFIX.length));
  return key && key.length >= 24 && key.length <= 64 ? key : undefined;
}

/** `v1,<base64 HMAC-SHA256(key, id.timestamp.body)>` (spec "Signature scheme"). */
export function signWebhook(key: Uint8Array, id: string, timestampSeconds: number, body: string | Uint8Array): string {
  const bodyBytes = typeof body === "string" ? utf8(body) : body;
  const mac = hmac(sha256, key, concatBytes(utf8(`${id}.${timestampSeconds}.`), bodyBytes));
  return `v1,${toBase64(mac)}`;
}

/** Whether `header` (webhook-signature) holds a v1 signature of the message by `key`, and the timestamp is within tolerance. */
export function verifyWebhook(
  key: Uint8Array,
  headers: { id: string; timestamp: string; signature: string },
  body: string | Uint8Array,
  nowSeconds: number,
): boolean {
  if (!/^\d{1,12}$/.test(headers.timestamp)) return false;
  const ts = Number(headers.timestamp);
  if (Math.abs(nowSeconds - ts) > WEBHOOK_TOLERANCE_SECONDS) return false;
  const expected = signWebhook(key, headers.id, ts, body);
  return headers.signature.split(" ").some((s) => constantTimeEqual(s, expected));
}

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
