/**
 * Views (docs/design.md "Views"): the slice of a tenant's log a credential may read. A view is a
 * conjunction: every present field narrows, and an empty view `{}` is the whole log. Pure: the
 * Worker applies a view to list/export queries (SQL, so paging stays right) and refuses single
 * reads (entry, proof, entry tiles) of entries outside it; a viewer token's view must narrow the
 * key's that minted it (`narrows`).
 *
 * Fields:
 * - `received_from` (inclusive) and `received_to` (exclusive): RFC 3339, compared as instants;
 *   stored as `received_at` writes them (UTC, milliseconds; from rounded down, to up).
 * - `action_prefix`: a dotted name; matches that action and every action under it
 *   (`user` matches `user` and `user.login`, never `username`).
 * - `actor`: `event.actor.id`, exactly.
 * - `target`: some target of the event has this `id` (and this `type`, when given).
 */
import { formatTimestamp } from "./entry";
import { parseRfc3339, readEntryFacts } from "./holds";

export interface View {
  received_from?: string; // RFC 3339, inclusive
  received_to?: string; // RFC 3339, exclusive
  action_prefix?: string;
  actor?: string; // event.actor.id
  target?: { type?: string; id: string };
}

/** What a view looks at in an entry. */
export interface ViewFacts {
  receivedAt: string;
  action: string;
  actorId: string;
  targets: { type: string; id: string }[];
}

/** Bounds of a view's fields (UTF-16 code units), the event's own limits (src/worker/event-schema.ts FIELD_LIMITS). */
export const VIEW_LIMITS = { action: 128, id: 256, type: 64, time: 64 } as const;

const ACTION_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const VIEW_KEYS = ["received_from", "received_to", "action_prefix", "actor", "target"];

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const instant = (t: string): number => parseRfc3339(t) ?? Number.NaN;

function text(v: unknown, path: string, max: number): string | { message: string } {
  if (typeof v !== "string") return { message: `${path} must be a string` };
  if (v.length === 0) return { message: `${path} must not be empty` };
  if (v.length > max) return { message: `${path} must be at most ${max} characters` };
  return v;
}

/**
 * Checks a proposed view (JSON from a request) and returns it in stored form: known fields only,
 * times normalized (UTC, ms; `received_from` rounded down, `received_to` up, so the stored window
 * never covers less than the one asked for), `received_to` after `received_from`.
 */
export function checkView(v: unknown): { ok: true; view: View } | { ok: false; message: string } {
  const fail = (message: string) => ({ ok: false as const, message });
  if (!isRecord(v)) return fail("view must be an object");
  const extra = Object.keys(v).find((k) => !VIEW_KEYS.includes(k));
  if (extra !== undefined) return fail(`view.${extra} is not a view field`);
  const view: View = {};
  let from: number | undefined;
  let to: number | undefined;
  if (v.received_from !== undefined) {
    from = typeof v.received_from === "string" && v.received_from.length <= VIEW_LIMITS.time ? parseRfc3339(v.received_from) : undefined;
    if (from === undefined) return fail("view.received_from must be an RFC 3339 timestamp");
    view.received_from = formatTimestamp(from);
  }
  if (v.received_to !== undefined) {
    to = typeof v.received_to === "string" && v.received_to.length <= VIEW_LIMITS.time ? parseRfc3339(v.received_to, Math.ceil) : undefined;
    if (to === undefined) return fail("view.received_to must be an RFC 3339 timestamp");
    view.received_to = formatTimestamp(to);
  }
  if (from !== undefined && to !== undefined && to <= from) return fail("view.received_to must be after view.received_from");
  if (v.action_prefix !== undefined) {
    const p = text(v.action_prefix, "view.action_prefix", VIEW_LIMITS.action);
    if (typeof p !== "string") return fail(p.message);
    if (!ACTION_PREFIX.test(p)) return fail("view.action_prefix must be a dotted name (letters, digits, _ and -)");
    view.action_prefix = p;
  }
  if (v.actor !== undefined) {
    const a = text(v.actor, "view.actor", VIEW_LIMITS.id);
    if (typeof a !== "string") return fail(a.message);
    view.actor = a;
  }
  if (v.target !== undefined) {
    const t = v.target;
    if (!isRecord(t)) return fail("view.target must be an object");
    const extraT = Object.keys(t).find((k) => k !== "id" && k !== "type");
    if (extraT !== undefined) return fail(`view.target.${extraT} is not a target field`);
    const id = text(t.id, "view.target.id", VIEW_LIMITS.id);
    if (typeof id !== "string") return fail(id.message);
    if (t.type === undefined) view.target = { id };
    else {
      const type = text(t.type, "view.target.type", VIEW_LIMITS.type);
      if (typeof type !== "string") return fail(type.message);
      view.target = { type, id };
    }
  }
  return { ok: true, view };
}

/** True when the view has no field: it is the whole log. */
export const isWholeLog = (v: View): boolean =>
  v.received_from === undefined &&
  v.received_to === undefined &&
  v.action_prefix === undefined &&
  v.actor === undefined &&
  v.target === undefined;

/** True when `action` is `prefix` or under it (`prefix.` …). */
export const actionUnder = (action: string, prefix: string): boolean => action === prefix || action.startsWith(`${prefix}.`);

/** True when the entry is in the view. An unreadable `received_at` is outside any time window (fail closed). */
export function entryInView(
  view: View,
  e: { receivedAt: string; action: string; actorId: string; targets: { type: string; id: string }[] },
): boolean {
  if (view.received_from !== undefined || view.received_to !== undefined) {
    const at = instant(e.receivedAt);
    if (Number.isNaN(at)) return false;
    if (view.received_from !== undefined && at < instant(view.received_from)) return false;
    if (view.received_to !== undefined && at >= instant(view.received_to)) return false;
  }
  if (view.action_prefix !== undefined && !actionUnder(e.action, view.action_prefix)) return false;
  if (view.actor !== undefined && e.actorId !== view.actor) return false;
  const target = view.target;
  if (target !== undefined && !e.targets.some((t) => t.id === target.id && (target.type === undefined || t.type === target.type))) {
    return false;
  }
  return true;
}

/**
 * True when `inner` sees nothing `outer` does not: every field `outer` has, `inner` has too, at
 * least as narrow. (Conservative: an inner view that happens to be empty for other reasons may
 * still be refused.)
 */
export function narrows(inner: View, outer: View): boolean {
  if (outer.received_from !== undefined) {
    if (inner.received_from === undefined || instant(inner.received_from) < instant(outer.received_from)) return false;
  }
  if (outer.received_to !== undefined) {
    if (inner.received_to === undefined || instant(inner.received_to) > instant(outer.received_to)) return false;
  }
  if (outer.action_prefix !== undefined) {
    if (inner.action_prefix === undefined || !actionUnder(inner.action_prefix, outer.action_prefix)) return false;
  }
  if (outer.actor !== undefined && inner.actor !== outer.actor) return false;
  if (outer.target !== undefined) {
    const it = inner.target;
    if (it === undefined || it.id !== outer.target.id) return false;
    if (outer.target.type !== undefined && it.type !== outer.target.type) return false;
  }
  return true;
}

/** The view both `a` and `b` allow (a request's filters within a credential's view), or null when nothing can be in both. */
export function intersect(a: View, b: View): View | null {
  const out: View = {};
  const froms = [a.received_from, b.received_from].filter((t): t is string => t !== undefined);
  const tos = [a.received_to, b.received_to].filter((t): t is string => t !== undefined);
  if (froms.length > 0) out.received_from = froms.reduce((x, y) => (instant(y) > instant(x) ? y : x));
  if (tos.length > 0) out.received_to = tos.reduce((x, y) => (instant(y) < instant(x) ? y : x));
  if (out.received_from !== undefined && out.received_to !== undefined && instant(out.received_to) <= instant(out.received_from)) {
    return null;
  }
  if (a.action_prefix !== undefined && b.action_prefix !== undefined) {
    if (actionUnder(a.action_prefix, b.action_prefix)) out.action_prefix = a.action_prefix;
    else if (actionUnder(b.action_prefix, a.action_prefix)) out.action_prefix = b.action_prefix;
    else return null;
  } else {
    const p = a.action_prefix ?? b.action_prefix;
    if (p !== undefined) out.action_prefix = p;
  }
  if (a.actor !== undefined && b.actor !== undefined && a.actor !== b.actor) return null;
  const actor = a.actor ?? b.actor;
  if (actor !== undefined) out.actor = actor;
  if (a.target !== undefined && b.target !== undefined) {
    // Two target conditions on one event could be met by two different targets, but a view keeps
    // one: when the ids differ the narrower answer is "nothing" (conservative; never wider).
    if (a.target.id !== b.target.id) return null;
    if (a.target.type !== undefined && b.target.type !== undefined && a.target.type !== b.target.type) return null;
    const type = a.target.type ?? b.target.type;
    out.target = type === undefined ? { id: a.target.id } : { type, id: a.target.id };
  } else {
    const t = a.target ?? b.target;
    if (t !== undefined) out.target = t.type === undefined ? { id: t.id } : { type: t.type, id: t.id };
  }
  return out;
}

/**
 * The facts a view looks at, read from an entry's stored text (docs/design.md "Entry bytes":
 * `received_at`, `event.action`, `event.actor.id`, `event.targets`), or undefined when they cannot
 * be read: a caller must then treat the entry as outside any view but the whole log.
 */
export function viewFactsOf(entry: string): ViewFacts | undefined {
  const read = readEntryFacts(entry);
  const action = read?.event.action;
  if (read === undefined || typeof action !== "string") return undefined;
  return { ...read.facts, action };
}

/** True when the entry text is in the view (the whole log sees every entry, even unreadable ones). */
export function entryTextInView(view: View, entry: string): boolean {
  if (isWholeLog(view)) return true;
  const facts = viewFactsOf(entry);
  return facts !== undefined && entryInView(view, facts);
}
