/**
 * The compiled check of an appended event (issue #15: zod was ~14% of the Worker's CPU on
 * batched appends). It only ever *accepts*: for an input it is sure the zod schema accepts
 * (event-schema.ts `Event`, `Batch`), it returns what zod would return (the input itself, with
 * `targets` defaulted to []); for anything else it returns undefined and the caller parses
 * with zod, so every refusal (its reason, path and message) is zod's, exactly as before.
 * Both are built from the same limits and patterns (event-schema.ts `LIMITS`, `FIELD_LIMITS`,
 * `ACTION_PATTERN`, …); test/worker/event-check.test.ts holds them equal with fast-check.
 */
import type { z } from "zod";
import type { JsonObject } from "../core/entry";
import {
  ACTION_PATTERN,
  Batch,
  canonicalSize,
  depth,
  Event,
  FIELD_LIMITS,
  IDEMPOTENCY_KEY_PATTERN,
  isReservedAction,
  LIMITS,
  OccurredAt,
  OUTCOMES,
} from "./event-schema";
import { parseWith } from "./request";

type Obj = Record<string, unknown>;

/** A plain object with no key zod or an assignment would treat specially. */
function plain(v: unknown): v is Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return (proto === Object.prototype || proto === null) && !Object.hasOwn(v, "__proto__");
}

/**
 * zod counts a string's length in code points once it is longer than the limit in UTF-16 units;
 * such a string (only possible with surrogates) is left to zod, as is anything in doubt.
 */
const text = (v: unknown, max: number): boolean => typeof v === "string" && v.length >= 1 && v.length <= max;

/** zod's own pattern for `occurred_at` (a string format's check is its pattern). */
const OCCURRED_AT_PATTERN = (OccurredAt as unknown as { _zod: { pattern: RegExp } })._zod.pattern;
const OUTCOME_SET: ReadonlySet<unknown> = new Set(OUTCOMES);
const REF_KEYS: ReadonlySet<string> = new Set(["id", "type", "name"]);
const EVENT_KEYS: ReadonlySet<string> = new Set([
  "action",
  "actor",
  "targets",
  "outcome",
  "occurred_at",
  "context",
  "metadata",
  "source",
  "subject",
]);
const SOURCE_KEYS: ReadonlySet<string> = new Set(["id", "seq"]);
const ITEM_KEYS: ReadonlySet<string> = new Set([...EVENT_KEYS, "idempotency_key"]);

function ref(v: unknown): boolean {
  if (!plain(v)) return false;
  for (const k in v) if (!REF_KEYS.has(k)) return false;
  return text(v.id, FIELD_LIMITS.refId) && text(v.type, FIELD_LIMITS.refType) && (!("name" in v) || text(v.name, FIELD_LIMITS.refName));
}

/** `source`: `{id, seq}`, seq a non-negative safe integer (zod's `.int()`). */
function source(v: unknown): boolean {
  if (!plain(v)) return false;
  for (const k in v) if (!SOURCE_KEYS.has(k)) return false;
  return text(v.id, FIELD_LIMITS.sourceId) && Number.isSafeInteger(v.seq) && (v.seq as number) >= 0;
}

const scalar = (v: unknown): boolean =>
  (typeof v === "string" && v.length <= FIELD_LIMITS.contextValue) ||
  (typeof v === "number" && Number.isFinite(v)) ||
  typeof v === "boolean" ||
  v === null;

function context(v: unknown): boolean {
  if (!plain(v)) return false;
  let keys = 0;
  for (const k in v) {
    keys++;
    const value = v[k];
    if (k === "request_id" || k === "session_id") {
      if (!text(value, FIELD_LIMITS.contextId)) return false;
    } else if (!scalar(value)) return false;
  }
  return keys <= LIMITS.maxContextKeys;
}

/** Any JSON value (z.json()), no special keys; depth is bounded by the event's own check. */
function json(v: unknown, level: number): boolean {
  switch (typeof v) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(v);
    case "object": {
      if (v === null) return true;
      if (level > LIMITS.maxEventDepth) return false;
      if (Array.isArray(v)) {
        for (const item of v) if (!json(item, level + 1)) return false;
        return true;
      }
      if (!plain(v)) return false;
      for (const k in v) if (!json(v[k], level + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

function metadata(v: unknown): boolean {
  if (!plain(v)) return false;
  for (const k in v) if (k.length > FIELD_LIMITS.metadataKey || !json(v[k], 1)) return false;
  return canonicalSize(v) <= LIMITS.maxMetadataBytes;
}

/** The event as zod returns it, if the check is sure zod accepts `v`; else undefined. */
function fastEvent(v: unknown, item: boolean): JsonObject | undefined {
  if (!plain(v)) return undefined;
  const allowed = item ? ITEM_KEYS : EVENT_KEYS;
  for (const k in v) if (!allowed.has(k) || v[k] === undefined) return undefined;
  const { action, targets } = v;
  if (typeof action !== "string" || action.length > FIELD_LIMITS.action || !ACTION_PATTERN.test(action) || isReservedAction(action))
    return undefined;
  if (!ref(v.actor) || !OUTCOME_SET.has(v.outcome)) return undefined;
  if (targets !== undefined) {
    if (!Array.isArray(targets) || targets.length > LIMITS.maxTargets) return undefined;
    for (const t of targets) if (!ref(t)) return undefined;
  }
  if ("occurred_at" in v && (typeof v.occurred_at !== "string" || !OCCURRED_AT_PATTERN.test(v.occurred_at))) return undefined;
  if ("context" in v && !context(v.context)) return undefined;
  if ("metadata" in v && !metadata(v.metadata)) return undefined;
  if ("source" in v && !source(v.source)) return undefined;
  if ("subject" in v && !text(v.subject, FIELD_LIMITS.refId)) return undefined;
  if ("idempotency_key" in v) {
    const key = v.idempotency_key;
    if (typeof key !== "string" || !text(key, LIMITS.maxIdempotencyKeyLength) || !IDEMPOTENCY_KEY_PATTERN.test(key)) return undefined;
  }
  const out = (targets === undefined ? { ...v, targets: [] } : v) as JsonObject;
  if (depth(out) > LIMITS.maxEventDepth || canonicalSize(out) > LIMITS.maxEventBytes) return undefined;
  return out;
}

/** The checks alone (for the equivalence test): what the compiled check accepts, or undefined. */
export const compiledEvent = (v: unknown): JsonObject | undefined => fastEvent(v, false);
export function compiledBatch(v: unknown): { events: JsonObject[] } | undefined {
  if (!plain(v)) return undefined;
  for (const k in v) if (k !== "events") return undefined;
  const { events } = v;
  if (!Array.isArray(events) || events.length < 1 || events.length > LIMITS.maxBatchEvents) return undefined;
  const out: JsonObject[] = new Array(events.length);
  for (let i = 0; i < events.length; i++) {
    const e = fastEvent(events[i], true);
    if (e === undefined) return undefined;
    out[i] = e;
  }
  return { events: out };
}

/** A single event's body: the compiled check, else zod (which then refuses with its error). */
export const parseEvent = (v: unknown): Event => (compiledEvent(v) as Event | undefined) ?? parseWith(Event, v);

/** A batch's body: the compiled check, else zod (which then refuses with its error). */
export const parseBatch = (v: unknown): z.infer<typeof Batch> =>
  (compiledBatch(v) as z.infer<typeof Batch> | undefined) ?? parseWith(Batch, v);
