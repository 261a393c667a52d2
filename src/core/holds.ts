/**
 * Legal holds (docs/design.md "Legal holds"): what a hold is, and what it covers. Pure: the
 * Durable Object stores holds (src/durable/holds.ts); the retention sweep skips every entry an
 * active hold covers (`holdCoversEntry`), erasure refuses a subject an active hold covers
 * (`holdCoversSubject`), and the retention period cannot be lowered while any hold is active.
 *
 * Scopes:
 * - `tenant`: every entry of the tenant, and every subject.
 * - `time`: entries whose `received_at` is in [from, to) (RFC 3339; compared as instants, so any
 *   offset works); it covers every subject, since any subject may appear in that range.
 * - `actor`: entries whose `actor.id` is `id`; the subject `id`.
 * - `target`: entries with a target whose `id` is `id` (and whose `type` is `type`, when given);
 *   the subject `id` (a subject has no type: a hold on a target names who it protects).
 */
import { formatTimestamp } from "./entry";

export type HoldScope =
  | { kind: "tenant" }
  | { kind: "time"; from: string; to: string } // received_at range, RFC 3339, [from, to)
  | { kind: "actor"; id: string }
  | { kind: "target"; type?: string; id: string };

export type HoldKind = HoldScope["kind"];
export const HOLD_KINDS: readonly HoldKind[] = ["tenant", "time", "actor", "target"];

export interface Hold {
  id: string;
  reason: string;
  scope: HoldScope;
  created_at: string;
  created_by: string;
  released_at?: string;
  released_by?: string;
  release_reason?: string;
}

/** What a hold looks at in an entry: its `received_at`, `event.actor.id` and `event.targets`. */
export interface EntryFacts {
  receivedAt: string;
  actorId: string;
  targets: { type: string; id: string }[];
}

/**
 * Bounds of what a hold stores (UTF-16 code units). Ids and types match the event's own limits
 * (src/worker/event-schema.ts FIELD_LIMITS refId, refType), so any actor or target can be held.
 */
export const HOLD_LIMITS = {
  reason: 1024,
  id: 256,
  type: 64,
  /** Active holds at once: the sweep tests every entry it prunes against each of them. */
  active: 100,
} as const;

/** Instant of an RFC 3339 timestamp in ms, or NaN. */
const instant = (t: string): number => parseRfc3339(t) ?? Number.NaN;

/** True when the active hold `scope` covers the entry: the sweep must keep its body everywhere. */
export function holdCoversEntry(scope: HoldScope, e: EntryFacts): boolean {
  switch (scope.kind) {
    case "tenant":
      return true;
    case "time": {
      const at = instant(e.receivedAt);
      // An unreadable received_at is covered: a hold errs on the side of keeping.
      if (Number.isNaN(at)) return true;
      return at >= instant(scope.from) && at < instant(scope.to);
    }
    case "actor":
      return e.actorId === scope.id;
    case "target":
      return e.targets.some((t) => t.id === scope.id && (scope.type === undefined || t.type === scope.type));
  }
}

/** True when the active hold `scope` covers `subject`: erasing that subject must be refused. Tenant and time holds cover everyone. */
export function holdCoversSubject(scope: HoldScope, subject: string): boolean {
  switch (scope.kind) {
    case "tenant":
    case "time":
      return true;
    case "actor":
    case "target":
      return scope.id === subject;
  }
}

/**
 * An entry's stored text read for the facts holds and views look at (docs/design.md "Entry bytes":
 * `received_at`, `event.actor.id`, `event.targets`), with its parsed `event` for the rest; undefined
 * when they cannot be read.
 */
export function readEntryFacts(entry: string): { facts: EntryFacts; event: Record<string, unknown> } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(entry);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || typeof parsed.received_at !== "string" || !isRecord(parsed.event)) return undefined;
  const { actor, targets } = parsed.event;
  if (!isRecord(actor) || typeof actor.id !== "string") return undefined;
  const list = targets === undefined ? [] : targets;
  if (!Array.isArray(list)) return undefined;
  const refs: { type: string; id: string }[] = [];
  for (const t of list) {
    if (!isRecord(t) || typeof t.id !== "string" || typeof t.type !== "string") return undefined;
    refs.push({ type: t.type, id: t.id });
  }
  return { facts: { receivedAt: parsed.received_at, actorId: actor.id, targets: refs }, event: parsed.event };
}

/**
 * The facts a hold looks at, read from an entry's stored text, or undefined when they cannot be
 * read: a caller (the retention sweep) must then keep the entry, as if a hold covered it.
 */
export const entryFactsOf = (entry: string): EntryFacts | undefined => readEntryFacts(entry)?.facts;

/** The active holds among `holds` (not released). */
export const activeHolds = (holds: readonly Hold[]): Hold[] => holds.filter((h) => h.released_at === undefined);

/** The first of `holds` that covers the entry, if any. */
export const holdCoveringEntry = (holds: readonly Hold[], e: EntryFacts): Hold | undefined =>
  holds.find((h) => holdCoversEntry(h.scope, e));

/** The first of `holds` that covers the subject, if any. */
export const holdCoveringSubject = (holds: readonly Hold[], subject: string): Hold | undefined =>
  holds.find((h) => holdCoversSubject(h.scope, subject));

/** RFC 3339 date-time (section 5.6), seconds 00..59, fraction of any length, Z or ±hh:mm. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * The instant of an RFC 3339 timestamp in ms (its fraction below a millisecond rounded with
 * `round`: down by default), or undefined when it is not one: a real calendar date, year
 * 1970..9999, no leap second.
 */
export function parseRfc3339(t: string, round: (x: number) => number = Math.floor): number | undefined {
  const m = RFC3339.exec(t);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return undefined;
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) return undefined;
  let offsetMin = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (m[9] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const fractionMs = m[7] ? round(Number(`0${m[7]}`) * 1000) : 0;
  return Date.UTC(y, mo - 1, d, h, mi, s) + fractionMs - offsetMin * 60_000;
}

/** Why a proposed hold is refused: `path` names the field (dotted), `message` says what is wrong. */
export interface HoldProblem {
  path: string;
  message: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function text(v: unknown, path: string, max: number): string | HoldProblem {
  if (typeof v !== "string") return { path, message: "must be a string" };
  if (v.trim().length === 0) return { path, message: "must not be empty" };
  if (v.length > max) return { path, message: `must be at most ${max} characters` };
  return v;
}

function onlyKeys(o: Record<string, unknown>, allowed: string[], path: string): HoldProblem | undefined {
  const extra = Object.keys(o).find((k) => !allowed.includes(k));
  return extra === undefined ? undefined : { path: path ? `${path}.${extra}` : extra, message: "unknown field" };
}

/**
 * Checks a proposed scope (JSON from a request) and returns it in stored form: times as
 * `received_at` writes them (UTC, milliseconds; `from` rounded down and `to` up, so the stored
 * range never covers less than the one asked for), no other fields. Refuses an unknown kind,
 * empty or oversized ids, unparseable times and `to` ≤ `from`.
 */
export function checkHoldScope(v: unknown): { ok: true; scope: HoldScope } | { ok: false; problem: HoldProblem } {
  const fail = (problem: HoldProblem) => ({ ok: false as const, problem });
  if (!isRecord(v)) return fail({ path: "scope", message: "must be an object" });
  const kind = v.kind;
  if (typeof kind !== "string" || !(HOLD_KINDS as readonly string[]).includes(kind)) {
    return fail({ path: "scope.kind", message: `must be one of ${HOLD_KINDS.join(", ")}` });
  }
  switch (kind as HoldKind) {
    case "tenant": {
      const extra = onlyKeys(v, ["kind"], "scope");
      return extra ? fail(extra) : { ok: true, scope: { kind: "tenant" } };
    }
    case "time": {
      const extra = onlyKeys(v, ["kind", "from", "to"], "scope");
      if (extra) return fail(extra);
      if (typeof v.from !== "string" || typeof v.to !== "string") {
        return fail({ path: typeof v.from !== "string" ? "scope.from" : "scope.to", message: "must be an RFC 3339 timestamp" });
      }
      const from = v.from.length <= 64 ? parseRfc3339(v.from, Math.floor) : undefined;
      if (from === undefined) return fail({ path: "scope.from", message: "must be an RFC 3339 timestamp" });
      const to = v.to.length <= 64 ? parseRfc3339(v.to, Math.ceil) : undefined;
      if (to === undefined) return fail({ path: "scope.to", message: "must be an RFC 3339 timestamp" });
      if (to <= from) return fail({ path: "scope.to", message: "must be after scope.from" });
      return { ok: true, scope: { kind: "time", from: formatTimestamp(from), to: formatTimestamp(to) } };
    }
    case "actor": {
      const extra = onlyKeys(v, ["kind", "id"], "scope");
      if (extra) return fail(extra);
      const id = text(v.id, "scope.id", HOLD_LIMITS.id);
      return typeof id === "string" ? { ok: true, scope: { kind: "actor", id } } : fail(id);
    }
    case "target": {
      const extra = onlyKeys(v, ["kind", "id", "type"], "scope");
      if (extra) return fail(extra);
      const id = text(v.id, "scope.id", HOLD_LIMITS.id);
      if (typeof id !== "string") return fail(id);
      if (v.type === undefined) return { ok: true, scope: { kind: "target", id } };
      const type = text(v.type, "scope.type", HOLD_LIMITS.type);
      return typeof type === "string" ? { ok: true, scope: { kind: "target", type, id } } : fail(type);
    }
  }
}

/** Checks a hold's or a release's reason: a non-blank string of at most HOLD_LIMITS.reason characters. */
export function checkHoldReason(v: unknown, path = "reason"): { ok: true; reason: string } | { ok: false; problem: HoldProblem } {
  const r = text(v, path, HOLD_LIMITS.reason);
  return typeof r === "string" ? { ok: true, reason: r } : { ok: false, problem: r };
}

/** A scope in a line a person reads ("the whole tenant", "actor u1", …): the console and error messages. */
export function describeHoldScope(scope: HoldScope): string {
  switch (scope.kind) {
    case "tenant":
      return "the whole tenant";
    case "time":
      return `entries received from ${scope.from} until ${scope.to}`;
    case "actor":
      return `actor ${scope.id}`;
    case "target":
      return scope.type === undefined ? `target ${scope.id}` : `target ${scope.type} ${scope.id}`;
  }
}

/** A retention change refused while holds are active: the first active hold is named. */
export type RetentionOnHold = {
  reason: "legal_hold_active";
  /** The period's setting (its wire name) and its values before and after the refused change. */
  setting: string;
  from: number;
  to: number;
  holdId: string;
  holdReason: string;
  activeHolds: number;
};

/**
 * The retention period may not be lowered while any hold is active (docs/design.md "Legal
 * holds"): raising it, or leaving it, is always allowed. `setting` is the period's wire name
 * (e.g. `retention_years`), `before`/`after` its values in one unit.
 */
export function retentionLoweringRefused(
  setting: string,
  before: number,
  after: number,
  active: readonly Hold[],
): RetentionOnHold | undefined {
  const first = active[0];
  if (first === undefined || after >= before) return undefined;
  return {
    reason: "legal_hold_active",
    setting,
    from: before,
    to: after,
    holdId: first.id,
    holdReason: first.reason,
    activeHolds: active.length,
  };
}
