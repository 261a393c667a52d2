/**
 * The event a client appends, validated at the boundary before anything reaches the
 * Durable Object. Limits are documented in README.md ("Limits"); change both together.
 */
import { z } from "zod";
import type { SchemaRefusal } from "./errors";

export const LIMITS = {
  /** Request body, in bytes. */
  maxBodyBytes: 1024 * 1024,
  /** Events in one `{"events":[…]}` request. */
  maxBatchEvents: 100,
  /** One event as canonical JSON, in bytes. */
  maxEventBytes: 32 * 1024,
  /** `metadata` as canonical JSON, in bytes. */
  maxMetadataBytes: 16 * 1024,
  /** Nesting of arrays/objects inside one event (the event object itself is level 1). */
  maxEventDepth: 10,
  /** Nesting of the whole request body (a batch wraps events in two more levels). */
  maxBodyDepth: 12,
  maxTargets: 32,
  maxContextKeys: 32,
  /** Idempotency-Key header and `idempotency_key` field: 1..128 printable ASCII characters. */
  maxIdempotencyKeyLength: 128,
} as const;

/**
 * Lengths (UTF-16 code units, as zod's `.max` counts) and patterns of the event's fields: the
 * zod schemas below and the compiled check (event-check.ts) are both built from these.
 */
export const FIELD_LIMITS = {
  refId: 256,
  refType: 64,
  refName: 256,
  action: 128,
  contextId: 256,
  contextValue: 1024,
  metadataKey: 256,
  /** `source.id`: who numbers the events (README "Missed events: gaps and silence"). */
  sourceId: 256,
} as const;
export const ACTION_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]+$/;
export const OUTCOMES = ["success", "failure", "denied", "unknown"] as const;

const text = (max: number) => z.string().min(1).max(max);

const Ref = z.strictObject({
  id: text(FIELD_LIMITS.refId),
  type: text(FIELD_LIMITS.refType),
  name: text(FIELD_LIMITS.refName).optional(),
});

export const IdempotencyKey = z
  .string()
  .min(1)
  .max(LIMITS.maxIdempotencyKeyLength)
  .regex(IDEMPOTENCY_KEY_PATTERN, "must be printable ASCII without spaces");

const scalar = z.union([z.string().max(FIELD_LIMITS.contextValue), z.number(), z.boolean(), z.null()]);

const Context = z
  .object({ request_id: text(FIELD_LIMITS.contextId).optional(), session_id: text(FIELD_LIMITS.contextId).optional() })
  .catchall(scalar)
  .refine((c) => Object.keys(c).length <= LIMITS.maxContextKeys, `at most ${LIMITS.maxContextKeys} keys`);

const encoder = new TextEncoder();
/** UTF-8 bytes of `s`: its length when it is ASCII (most events; no copy made), else encoded. */
const utf8Length = (s: string) => (/[^\x00-\x7f]/.test(s) ? encoder.encode(s).length : s.length);

/**
 * Bytes of a parsed JSON value as RFC 8785 canonical JSON, without canonicalizing: JCS and
 * JSON.stringify emit the same tokens with the same escaping and number forms and differ only
 * in property order, so the lengths are equal (test/worker/event-size.test.ts checks it).
 * Lone surrogates never get here: the strict parser refuses them.
 */
export const canonicalSize = (v: unknown): number => utf8Length(JSON.stringify(v));

export function depth(v: unknown): number {
  if (v === null || typeof v !== "object") return 0;
  let deepest = 0;
  for (const child of Object.values(v)) deepest = Math.max(deepest, depth(child));
  return deepest + 1;
}

const Metadata = z
  .record(z.string().max(FIELD_LIMITS.metadataKey), z.json())
  .refine((m) => canonicalSize(m) <= LIMITS.maxMetadataBytes, `at most ${LIMITS.maxMetadataBytes} bytes as canonical JSON`);

/**
 * Actions whose first segment is "sealtrail" (in any case) name the entries the service writes
 * itself (reads, settings, keys, members, verifications): a client may not write them, so that
 * such an entry in a log always means the service wrote it. The service's own entries are
 * appended without this schema (access-log.ts, routes/settings.ts, membership-log.ts,
 * durable/log-audit.ts). The action grammar is ASCII letters, digits, "_" and "-" only, so no
 * whitespace or look-alike character can spell the prefix another way.
 */
export const RESERVED_ACTION_PREFIX = "sealtrail.";
export const isReservedAction = (action: string): boolean => /^sealtrail(\.|$)/i.test(action);

/**
 * Where an event comes from and its number there: the SDK numbers each source's events 0, 1, 2, …
 * so a number that never arrives is an event that was produced and lost (durable/sources.ts).
 * `seq` is a non-negative safe integer (zod's `.int()` refuses anything past 2^53 − 1).
 */
export const Source = z.strictObject({
  id: text(FIELD_LIMITS.sourceId),
  seq: z.number().int().min(0),
});

/** RFC 3339 date-time with a Z or numeric offset (zod's ISO datetime; its pattern: event-check.ts). */
export const OccurredAt = z.iso.datetime({ offset: true });

const eventFields = {
  action: z
    .string()
    .max(FIELD_LIMITS.action)
    .regex(ACTION_PATTERN, "a dotted name such as user.login")
    .refine((a) => !isReservedAction(a), {
      message: `actions starting with "${RESERVED_ACTION_PREFIX}" (in any case) are reserved for entries the service writes itself`,
      params: { reason: "reserved_action" satisfies SchemaRefusal },
    })
    .describe(`a dotted name such as user.login; names starting with "${RESERVED_ACTION_PREFIX}" are reserved`),
  actor: Ref,
  targets: z.array(Ref).max(LIMITS.maxTargets).default([]),
  outcome: z.enum(OUTCOMES),
  occurred_at: OccurredAt.optional(),
  context: Context.optional(),
  metadata: Metadata.optional(),
  source: Source.optional(),
  subject: text(FIELD_LIMITS.refId)
    .optional()
    .describe("whose personal fields these are (erasure, POST …/subjects/:subject/erase); actor.id when absent"),
};

const eventLimits = <T extends z.ZodType>(schema: T) =>
  schema
    .refine((e) => depth(e) <= LIMITS.maxEventDepth, {
      message: `nesting deeper than ${LIMITS.maxEventDepth} levels`,
      params: { reason: "event_too_deep" satisfies SchemaRefusal },
    })
    .refine((e) => canonicalSize(e) <= LIMITS.maxEventBytes, {
      message: `event larger than ${LIMITS.maxEventBytes} bytes as canonical JSON`,
      params: { reason: "event_too_large" satisfies SchemaRefusal },
    });

/** A single event: the body of a single-event POST. Unknown fields are rejected. */
export const Event = eventLimits(z.strictObject(eventFields));
export type Event = z.infer<typeof Event>;

/** One event of a batch, with its own optional idempotency key. */
const BatchItem = eventLimits(z.strictObject({ ...eventFields, idempotency_key: IdempotencyKey.optional() }));

export const Batch = z.strictObject({
  events: z.array(BatchItem).min(1).max(LIMITS.maxBatchEvents),
});
