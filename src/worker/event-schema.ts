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

const text = (max: number) => z.string().min(1).max(max);

const Ref = z.strictObject({ id: text(256), type: text(64), name: text(256).optional() });

export const IdempotencyKey = z
  .string()
  .min(1)
  .max(LIMITS.maxIdempotencyKeyLength)
  .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces");

const scalar = z.union([z.string().max(1024), z.number(), z.boolean(), z.null()]);

const Context = z
  .object({ request_id: text(256).optional(), session_id: text(256).optional() })
  .catchall(scalar)
  .refine((c) => Object.keys(c).length <= LIMITS.maxContextKeys, `at most ${LIMITS.maxContextKeys} keys`);

const utf8Length = (s: string) => new TextEncoder().encode(s).length;

/**
 * Bytes of a parsed JSON value as RFC 8785 canonical JSON, without canonicalizing: JCS and
 * JSON.stringify emit the same tokens with the same escaping and number forms and differ only
 * in property order, so the lengths are equal (test/worker/event-size.test.ts checks it).
 * Lone surrogates never get here: the strict parser refuses them.
 */
export const canonicalSize = (v: unknown): number => utf8Length(JSON.stringify(v));

function depth(v: unknown): number {
  if (v === null || typeof v !== "object") return 0;
  let deepest = 0;
  for (const child of Object.values(v)) deepest = Math.max(deepest, depth(child));
  return deepest + 1;
}

const Metadata = z
  .record(z.string().max(256), z.json())
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

const eventFields = {
  action: z
    .string()
    .max(128)
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "a dotted name such as user.login")
    .refine((a) => !isReservedAction(a), {
      message: `actions starting with "${RESERVED_ACTION_PREFIX}" (in any case) are reserved for entries the service writes itself`,
      params: { reason: "reserved_action" satisfies SchemaRefusal },
    })
    .describe(`a dotted name such as user.login; names starting with "${RESERVED_ACTION_PREFIX}" are reserved`),
  actor: Ref,
  targets: z.array(Ref).max(LIMITS.maxTargets).default([]),
  outcome: z.enum(["success", "failure", "denied", "unknown"]),
  occurred_at: z.iso.datetime({ offset: true }).optional(),
  context: Context.optional(),
  metadata: Metadata.optional(),
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
