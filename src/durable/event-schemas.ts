/**
 * Event schemas per action (issue #19.3): a tenant may declare a JSON Schema (draft 2020-12) for
 * the `metadata` of one action; every declaration is a new version, and the latest version
 * applies. Kept in the tenant's Durable Object (table `event_schemas`, docs/storage-schema.md),
 * so the check of an append and the declaration of a schema are ordered by the same commit queue:
 * an append committed after a declaration was checked against it, exactly (no cache to go stale).
 *
 * Where the check runs: inside the commit's transaction (group-commit.ts `prepare`), before the
 * group is sequenced. A request with one non-matching event is refused whole (`schema_violation`,
 * naming the event's index, the instance path and the schema version) and stores nothing; the
 * other requests of the group commit as usual. Events of actions without a schema pass as before
 * (one primary-key lookup per distinct action of a request). Validation is @cfworker/json-schema
 * (no code generation: Workers refuse `new Function`), compiled once per (action, version) and
 * kept per object, bounded.
 *
 * A declared schema is checked before it is stored (`checkEventSchema`): an object, at most
 * SCHEMA_LIMITS.bytes as canonical JSON and SCHEMA_LIMITS.depth deep, references local only
 * (`$ref: "#…"`, no `$id`, `$dynamicRef`, remote `$schema`), no reference cycle that does not
 * descend into the instance, keyword values of the right types, `pattern`s that compile and have
 * no nested quantifier (catastrophic backtracking would stall the commit), and a validator that
 * builds. Each declaration is appended as `sealtrail.schema.changed` (action, version, sha256 of
 * the canonical schema) in the transaction that stores it.
 */
import { Validator, type Schema } from "@cfworker/json-schema";
import { formatTimestamp, type JsonObject } from "../core/entry";
import { canonicalize, type JsonValue } from "../core/jcs";
import { sha256Base64 } from "../core/manifest";

const TABLE = `
CREATE TABLE IF NOT EXISTS event_schemas (
  action TEXT NOT NULL,
  version INTEGER NOT NULL,
  schema TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  PRIMARY KEY (action, version)
) WITHOUT ROWID;
`;

export const SCHEMA_LIMITS = {
  /** A schema as canonical JSON, in bytes. */
  bytes: 16 * 1024,
  /** Nesting of objects and arrays inside a schema (the request body, {"schema": …}, may nest 12: LIMITS.maxBodyDepth). */
  depth: 10,
  /** Actions with a schema, per tenant (compiled validators are kept per object). */
  actions: 1_000,
  /** One `pattern` (or `patternProperties` key), in characters. */
  pattern: 256,
} as const;

/** The draft a schema is read as; `$schema`, if present, must name it. */
export const SCHEMA_DRAFT_URI = "https://json-schema.org/draft/2020-12/schema";

/** Compiled validators kept per object (an LRU over (action, version)). */
const COMPILED_MAX = 256;

export type SchemaError =
  | { reason: "invalid_event_schema"; path: string; message: string }
  | { reason: "too_many_event_schemas"; limit: number }
  | { reason: "schema_violation"; action: string; version: number; index: number; path: string; message: string };

export interface EventSchemaView {
  action: string;
  version: number;
  sha256: string;
  created_at: string;
  created_by: string;
  /** The schema as canonical JSON text (RPC results carry no recursive JSON types; the route parses it). */
  schema: string;
}

export type EventSchemaSummary = Omit<EventSchemaView, "schema"> & { versions: number };

type Checked = { ok: true; schema: JsonObject } | { ok: false; path: string; message: string };

const SUBSCHEMA = ["additionalProperties", "unevaluatedProperties", "items", "additionalItems", "unevaluatedItems"];
const SUBSCHEMA_HERE = ["not", "if", "then", "else"];
const SUBSCHEMA_DOWN = ["contains", "propertyNames", ...SUBSCHEMA];
const SUBSCHEMA_ARRAYS_HERE = ["allOf", "anyOf", "oneOf"];
const SUBSCHEMA_MAPS_DOWN = ["properties", "patternProperties"];
const SUBSCHEMA_MAPS_HERE = ["dependentSchemas"];
const DEFINITIONS = ["$defs", "definitions"];
const REFUSED = ["$id", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor"];
const TYPES = new Set(["array", "boolean", "integer", "null", "number", "object", "string"]);
const NON_NEGATIVE = ["minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "minContains", "maxContains"];
const NUMBERS = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function depthOf(v: unknown): number {
  if (v === null || typeof v !== "object") return 0;
  let deepest = 0;
  for (const child of Object.values(v)) deepest = Math.max(deepest, depthOf(child));
  return deepest + 1;
}

/** JSON pointer token escaping (RFC 6901). */
const token = (s: string) => s.replace(/~/g, "~0").replace(/\//g, "~1");

/**
 * A quantifier applied to a group that itself contains a quantifier (`(a+)+`, `(\w*)*`,
 * `(a|a?){2,}`), or a back-reference: the shapes that make a backtracking engine exponential.
 * Conservative: some harmless patterns are refused too; the message says why.
 */
export function riskyPattern(p: string): boolean {
  if (/\\[1-9]|\\k</.test(p)) return true;
  const stack: boolean[] = [];
  let quantifiedInside = false;
  for (let i = 0; i < p.length; i++) {
    const ch = p[i]!;
    if (ch === "\\") {
      i++;
      continue;
    }
    if (ch === "[") {
      // Skip a character class: quantifier characters inside it are literals.
      for (i++; i < p.length && p[i] !== "]"; i++) if (p[i] === "\\") i++;
      continue;
    }
    if (ch === "(") {
      stack.push(quantifiedInside);
      quantifiedInside = false;
      continue;
    }
    const quantifier = ch === "*" || ch === "+" || ch === "{" || (ch === "?" && p[i - 1] !== "(");
    if (ch === ")") {
      const inner: boolean = quantifiedInside;
      quantifiedInside = stack.pop() ?? false;
      const next = p[i + 1];
      if (inner && (next === "*" || next === "+" || next === "{" || next === "?")) return true;
      quantifiedInside ||= inner;
      continue;
    }
    if (quantifier) quantifiedInside = true;
  }
  return false;
}

function checkPattern(p: unknown, path: string): string | undefined {
  if (typeof p !== "string") return `${path}: a pattern is a string`;
  if (p.length > SCHEMA_LIMITS.pattern) return `${path}: patterns are at most ${SCHEMA_LIMITS.pattern} characters`;
  try {
    new RegExp(p, "u");
  } catch {
    return `${path}: not a valid regular expression`;
  }
  if (riskyPattern(p)) return `${path}: nested quantifiers and back-references are refused (catastrophic backtracking)`;
  return undefined;
}

/** Resolves a local `$ref` ("#", "#/a/b") against the root; undefined if it names nothing. */
function resolveLocal(root: unknown, ref: string): unknown {
  if (ref === "#") return root;
  if (!ref.startsWith("#/")) return undefined;
  let at: unknown = root;
  for (const raw of ref.slice(2).split("/")) {
    let part: string;
    try {
      part = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    } catch {
      return undefined;
    }
    if (Array.isArray(at)) at = at[Number(part)];
    else if (isObject(at)) at = Object.hasOwn(at, part) ? at[part] : undefined;
    else return undefined;
    if (at === undefined) return undefined;
  }
  return at;
}

/**
 * Every check of a declared schema but the validator's own construction. `here` collects, per
 * subschema, the subschemas evaluated at the same instance location (applicators and `$ref`):
 * a cycle among them never ends, whatever the event.
 */
function walk(root: unknown, node: unknown, path: string, here: Map<unknown, unknown[]>): string | undefined {
  if (typeof node === "boolean") return undefined;
  if (!isObject(node)) return `${path || "/"}: a schema is an object or a boolean`;
  const same: unknown[] = [];
  here.set(node, same);
  for (const k of REFUSED) if (k in node) return `${path}/${k}: not allowed (schemas are self-contained)`;
  if ("$schema" in node && node.$schema !== SCHEMA_DRAFT_URI) return `${path}/$schema: only ${SCHEMA_DRAFT_URI} is supported`;
  if ("$ref" in node) {
    const ref = node.$ref;
    if (typeof ref !== "string" || !ref.startsWith("#")) return `${path}/$ref: only local references ("#/…") are allowed`;
    const target = resolveLocal(root, ref);
    if (target === undefined || (typeof target !== "boolean" && !isObject(target))) return `${path}/$ref: ${ref} names no schema`;
    same.push(target);
  }
  if ("type" in node) {
    const types = Array.isArray(node.type) ? node.type : [node.type];
    if (types.length === 0 || !types.every((t) => typeof t === "string" && TYPES.has(t))) return `${path}/type: unknown type`;
  }
  if ("required" in node && !(Array.isArray(node.required) && node.required.every((r) => typeof r === "string"))) {
    return `${path}/required: an array of property names`;
  }
  if ("enum" in node && !Array.isArray(node.enum)) return `${path}/enum: an array`;
  if ("format" in node && typeof node.format !== "string") return `${path}/format: a string`;
  for (const k of NON_NEGATIVE) {
    const v = node[k];
    if (k in node && !(typeof v === "number" && Number.isInteger(v) && v >= 0)) return `${path}/${k}: a non-negative integer`;
  }
  for (const k of NUMBERS) if (k in node && typeof node[k] !== "number") return `${path}/${k}: a number`;
  if ("multipleOf" in node && !((node.multipleOf as number) > 0)) return `${path}/multipleOf: greater than 0`;
  if ("pattern" in node) {
    const bad = checkPattern(node.pattern, `${path}/pattern`);
    if (bad) return bad;
  }
  if ("dependentRequired" in node && !isObject(node.dependentRequired)) return `${path}/dependentRequired: an object`;
  const sub = (child: unknown, at: string, sameLocation: boolean): string | undefined => {
    if (sameLocation && (typeof child === "boolean" || isObject(child))) same.push(child);
    return walk(root, child, at, here);
  };
  for (const k of SUBSCHEMA_DOWN)
    if (k in node && !Array.isArray(node[k])) {
      const bad = sub(node[k], `${path}/${k}`, false);
      if (bad) return bad;
    }
  if (Array.isArray(node.items)) return `${path}/items: use prefixItems for tuples (draft 2020-12)`;
  for (const k of SUBSCHEMA_HERE)
    if (k in node) {
      const bad = sub(node[k], `${path}/${k}`, true);
      if (bad) return bad;
    }
  for (const k of [...SUBSCHEMA_ARRAYS_HERE, "prefixItems"]) {
    if (!(k in node)) continue;
    const list = node[k];
    if (!Array.isArray(list) || list.length === 0) return `${path}/${k}: a non-empty array of schemas`;
    for (const [i, child] of list.entries()) {
      const bad = sub(child, `${path}/${k}/${i}`, k !== "prefixItems");
      if (bad) return bad;
    }
  }
  for (const k of [...SUBSCHEMA_MAPS_DOWN, ...SUBSCHEMA_MAPS_HERE, ...DEFINITIONS]) {
    if (!(k in node)) continue;
    const map = node[k];
    if (!isObject(map)) return `${path}/${k}: an object of schemas`;
    for (const [name, child] of Object.entries(map)) {
      if (k === "patternProperties") {
        const bad = checkPattern(name, `${path}/${k}/${token(name)}`);
        if (bad) return bad;
      }
      const bad = sub(child, `${path}/${k}/${token(name)}`, SUBSCHEMA_MAPS_HERE.includes(k));
      if (bad) return bad;
    }
  }
  return undefined;
}

/** A cycle in the same-location graph: evaluation that never descends into the instance. */
function hasLoop(here: Map<unknown, unknown[]>): boolean {
  const state = new Map<unknown, 1 | 2>();
  const visit = (n: unknown): boolean => {
    const s = state.get(n);
    if (s === 1) return true;
    if (s === 2) return false;
    state.set(n, 1);
    for (const next of here.get(n) ?? []) if (visit(next)) return true;
    state.set(n, 2);
    return false;
  };
  for (const n of here.keys()) if (visit(n)) return true;
  return false;
}

const utf8Length = (s: string) => new TextEncoder().encode(s).length;

/** Checks a declared schema (see the module comment); the schema as it will be stored. */
export function checkEventSchema(schema: unknown): Checked {
  if (!isObject(schema)) return { ok: false, path: "schema", message: "a JSON Schema object" };
  if (depthOf(schema) > SCHEMA_LIMITS.depth) {
    return { ok: false, path: "schema", message: `nesting deeper than ${SCHEMA_LIMITS.depth} levels` };
  }
  const canonical = canonicalize(schema as JsonValue);
  if (utf8Length(canonical) > SCHEMA_LIMITS.bytes) {
    return { ok: false, path: "schema", message: `larger than ${SCHEMA_LIMITS.bytes} bytes as canonical JSON` };
  }
  const here = new Map<unknown, unknown[]>();
  const bad = walk(schema, schema, "", here);
  if (bad) {
    const slash = bad.indexOf(": ");
    return { ok: false, path: `schema${bad.slice(0, slash)}`, message: bad.slice(slash + 2) };
  }
  if (hasLoop(here)) return { ok: false, path: "schema", message: "a $ref cycle that never descends into the event" };
  try {
    new Validator(schema as Schema, "2020-12").validate({});
  } catch (e) {
    return { ok: false, path: "schema", message: `the validator refuses it (${String(e instanceof Error ? e.message : e).slice(0, 200)})` };
  }
  return { ok: true, schema: JSON.parse(canonical) as JsonObject };
}

/** "#/a/0/b" (the library's instance location) → "/metadata/a/0/b". */
const metadataPath = (location: string) => `/metadata${location.replace(/^#/, "")}`;

interface Row extends Record<string, SqlStorageValue> {
  action: string;
  version: number;
  schema: string;
  sha256: string;
  created_at: number;
  created_by: string;
}

const view = (r: Row): EventSchemaView => ({
  action: r.action,
  version: r.version,
  sha256: r.sha256,
  created_at: formatTimestamp(r.created_at),
  created_by: r.created_by,
  schema: r.schema,
});

export class EventSchemaStore {
  readonly #sql: SqlStorage;
  readonly #now: () => number;
  /** Compiled validators by "<version> <action>", least recently used first. */
  readonly #compiled = new Map<string, Validator>();

  constructor(sql: SqlStorage, now: () => number) {
    this.#sql = sql;
    this.#now = now;
    this.#sql.exec(TABLE);
  }

  /** The latest version of every action's schema, by action, with its number of versions. */
  list(): EventSchemaSummary[] {
    return this.#sql
      .exec<Row & { versions: number }>(
        `SELECT s.action, s.version, s.schema, s.sha256, s.created_at, s.created_by, m.versions
           FROM event_schemas s JOIN (SELECT action, MAX(version) AS latest, COUNT(*) AS versions
                                        FROM event_schemas GROUP BY action) m
             ON s.action = m.action AND s.version = m.latest
          ORDER BY s.action`,
      )
      .toArray()
      .map((r) => {
        const { schema: _schema, ...summary } = view(r);
        return { ...summary, versions: r.versions };
      });
  }

  /** One version of an action's schema (the latest without `version`). */
  get(action: string, version?: number): EventSchemaView | undefined {
    const rows =
      version === undefined
        ? this.#sql.exec<Row>("SELECT * FROM event_schemas WHERE action = ? ORDER BY version DESC LIMIT 1", action)
        : this.#sql.exec<Row>("SELECT * FROM event_schemas WHERE action = ? AND version = ?", action, version);
    const r = rows.toArray()[0];
    return r ? view(r) : undefined;
  }

  #latestVersion(action: string): number | undefined {
    const r = this.#sql.exec<{ version: number }>("SELECT MAX(version) AS version FROM event_schemas WHERE action = ?", action).one();
    return r.version ?? undefined;
  }

  /**
   * Stores `schema` as the action's next version (call it inside the transaction that appends its
   * `sealtrail.schema.changed` entry). Checks it again; a refused schema stores nothing.
   */
  put<E = never>(
    action: string,
    schema: unknown,
    by: string,
    fits: (v: EventSchemaView) => E | undefined = () => undefined,
  ): { ok: true; value: EventSchemaView } | { ok: false; error: SchemaError | E } {
    const checked = checkEventSchema(schema);
    if (!checked.ok) return { ok: false, error: { reason: "invalid_event_schema", path: checked.path, message: checked.message } };
    const latest = this.#latestVersion(action);
    if (latest === undefined) {
      const actions = this.#sql.exec<{ n: number }>("SELECT COUNT(DISTINCT action) AS n FROM event_schemas").one().n;
      if (actions >= SCHEMA_LIMITS.actions) return { ok: false, error: { reason: "too_many_event_schemas", limit: SCHEMA_LIMITS.actions } };
    }
    const text = canonicalize(checked.schema);
    const row: Row = {
      action,
      version: (latest ?? 0) + 1,
      schema: text,
      sha256: sha256Base64(text),
      created_at: this.#now(),
      created_by: by,
    };
    // Checked before the row is written: a refusal stores nothing.
    const refused = fits(view(row));
    if (refused) return { ok: false, error: refused };
    this.#sql.exec(
      "INSERT INTO event_schemas (action, version, schema, sha256, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)",
      row.action,
      row.version,
      row.schema,
      row.sha256,
      row.created_at,
      row.created_by,
    );
    return { ok: true, value: view(row) };
  }

  #validator(action: string, version: number): Validator {
    const key = `${version} ${action}`;
    let v = this.#compiled.get(key);
    if (v) {
      this.#compiled.delete(key);
    } else {
      const stored = this.get(action, version)!;
      v = new Validator(JSON.parse(stored.schema) as Schema, "2020-12");
      if (this.#compiled.size >= COMPILED_MAX) this.#compiled.delete(this.#compiled.keys().next().value!);
    }
    this.#compiled.set(key, v);
    return v;
  }

  /**
   * Checks one request's events against the latest schemas of their actions, as this transaction
   * sees them: the first event that does not match refuses the whole request. Never throws (a
   * validator that fails on an event refuses that event).
   */
  check(items: readonly { event: { action?: JsonValue; metadata?: JsonValue } }[]): SchemaError | undefined {
    const versions = new Map<string, number | undefined>();
    for (const [index, item] of items.entries()) {
      const action = item.event.action;
      if (typeof action !== "string") continue;
      if (!versions.has(action)) versions.set(action, this.#latestVersion(action));
      const version = versions.get(action);
      if (version === undefined) continue;
      const metadata = item.event.metadata ?? {};
      let result: { valid: boolean; errors: { instanceLocation: string; error: string }[] };
      try {
        result = this.#validator(action, version).validate(metadata);
      } catch (e) {
        const message = `the schema could not be evaluated (${String(e instanceof Error ? e.message : e).slice(0, 120)})`;
        return { reason: "schema_violation", action, version, index, path: "/metadata", message };
      }
      if (result.valid) continue;
      // The most specific location of the first failure (the library lists outer keywords first).
      const deepest = result.errors.reduce((a, b) => (b.instanceLocation.length >= a.instanceLocation.length ? b : a));
      return { reason: "schema_violation", action, version, index, path: metadataPath(deepest.instanceLocation), message: deepest.error };
    }
    return undefined;
  }
}
