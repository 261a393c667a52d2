/**
 * What a log stream sends for each entry, per format (README "Log streams", docs/streams.md):
 *   native       the stored entry bytes as they are (a string), with `seq` and `leaf_hash`: a
 *                receiver can check each against the log's tree (leaf hash = SHA-256(0x00 ‖ bytes));
 *   cloudevents  CloudEvents 1.0 structured JSON (github.com/cloudevents/spec, spec.md and
 *                json-format.md; batches as application/cloudevents-batch+json);
 *   ocsf         OCSF 1.1.0 events: API Activity (6003), Account Change (3001) and Authentication
 *                (3002), chosen from the action by `ocsfClassOf` (docs/streams.md has the table).
 * Pure: the streams object (src/durable/stream-*.ts) reads entries and sends what this returns.
 * The non-native formats are built from a reader's view of the entry (an object), never from
 * personal fields the log stores encrypted: the caller decides that view (stream-delivery.ts
 * `readerViewForStream`).
 */
import type { JsonObject } from "./entry";
import type { JsonValue } from "./jcs";

export const STREAM_FORMATS = ["native", "cloudevents", "ocsf"] as const;
export type StreamFormat = (typeof STREAM_FORMATS)[number];

/** One entry as the streams object reads it from the tenant's D1 shard. */
export interface StreamEntry {
  seq: number;
  /** The stored entry bytes (RFC 8785 JSON text), verbatim. */
  entry: string;
  /** Its RFC 6962 leaf hash, as stored (base64). */
  leafHash: string;
  receivedAtMs: number;
  action: string;
}

/** The fields of an entry the non-native formats use (docs/design.md "Entry bytes"). */
export interface EntryView {
  tenant: string;
  seq: number;
  received_at: string;
  event: JsonObject;
  provenance: JsonObject;
}

/** The native record: the stored bytes untouched, so the receiver can hash them. */
export const nativeRecord = (e: StreamEntry): JsonObject => ({ seq: e.seq, leaf_hash: e.leafHash, entry: e.entry });

const str = (v: JsonValue | undefined): string | undefined => (typeof v === "string" ? v : undefined);
const obj = (v: JsonValue | undefined): JsonObject | undefined =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : undefined;

/**
 * CloudEvents 1.0 structured mode (json-format.md §3): required `specversion`, `id` (unique per
 * source: `<tenant>:<seq>`), `source` (a URI-reference: the log's origin), `type` (the entry's
 * action, the tenant's vocabulary); optional `time` (received_at, RFC 3339), `subject` (the first
 * target's id), `datacontenttype` and `data` (the entry: event, provenance, seq, leaf hash), and
 * the `sequence` extension (extensions/sequence.md: a string that orders events of one source).
 */
export function cloudEvent(e: StreamEntry, view: EntryView, origin: string): JsonObject {
  const target = obj((view.event.targets as JsonValue[] | undefined)?.[0]);
  const subject = str(target?.id);
  return {
    specversion: "1.0",
    id: `${view.tenant}:${e.seq}`,
    source: origin,
    type: e.action,
    time: view.received_at,
    ...(subject !== undefined ? { subject } : {}),
    datacontenttype: "application/json",
    sequence: String(e.seq),
    data: { seq: e.seq, received_at: view.received_at, leaf_hash: e.leafHash, event: view.event, provenance: view.provenance },
  };
}

/** OCSF classes used (schema.ocsf.io 1.1.0): uid, name, category. */
export const OCSF_CLASSES = {
  api_activity: { uid: 6003, name: "API Activity", category_uid: 6, category_name: "Application Activity" },
  account_change: { uid: 3001, name: "Account Change", category_uid: 3, category_name: "Identity & Access Management" },
  authentication: { uid: 3002, name: "Authentication", category_uid: 3, category_name: "Identity & Access Management" },
} as const;
export type OcsfClass = keyof typeof OCSF_CLASSES;

const AUTH =
  /(^|[._-])(login|logout|logon|logoff|signin|sign_in|sign-in|signout|sign_out|sign-out|authenticate|authenticated|mfa|sso)([._-]|$)/i;
const ACCOUNT = /^(user|users|account|accounts|member|members|membership|role|roles|password|group|groups|identity)\./i;

/**
 * The OCSF class of an action. Clients' actions: authentication words (login, logout, sign_in,
 * mfa, sso …) → Authentication; `user.`, `account.`, `member.`, `role.`, `password.`, `group.` →
 * Account Change; everything else → API Activity. The service's own entries: `sealtrail.member.*`
 * (joins, removals, role changes) → Account Change; every other `sealtrail.*` (keys, settings,
 * streams, exports, alerts …) → API Activity.
 */
export function ocsfClassOf(action: string): OcsfClass {
  if (action.startsWith("sealtrail.")) return action.startsWith("sealtrail.member.") ? "account_change" : "api_activity";
  if (AUTH.test(action)) return "authentication";
  if (ACCOUNT.test(action)) return "account_change";
  return "api_activity";
}

const lastWord = (action: string) => (action.split(".").pop() ?? "").toLowerCase();

/** OCSF activity_id for the class, from the action's last word (99: Other). */
export function ocsfActivity(cls: OcsfClass, action: string): { id: number; name: string } {
  const word = lastWord(action);
  const has = (...w: string[]) => w.some((x) => word.includes(x));
  if (cls === "authentication") {
    if (has("logout", "logoff", "signout", "sign_out")) return { id: 2, name: "Logoff" };
    if (has("login", "logon", "signin", "sign_in", "authenticate", "sso", "mfa")) return { id: 1, name: "Logon" };
    return { id: 99, name: "Other" };
  }
  if (cls === "account_change") {
    if (has("create", "invite", "join", "signup", "sign_up", "register", "add")) return { id: 1, name: "Create" };
    if (has("enable", "unlock", "restore")) return { id: 2, name: "Enable" };
    if (has("password_changed", "password_change")) return { id: 3, name: "Password Change" };
    if (has("reset")) return { id: 4, name: "Password Reset" };
    if (has("disable", "suspend")) return { id: 5, name: "Disable" };
    if (has("delete", "remove", "left", "leave")) return { id: 6, name: "Delete" };
    if (has("lock")) return { id: 9, name: "Lock" };
    return { id: 99, name: "Other" };
  }
  if (has("create", "add", "insert", "invite", "post")) return { id: 1, name: "Create" };
  if (has("read", "get", "view", "list", "download", "export", "access")) return { id: 2, name: "Read" };
  if (has("update", "change", "edit", "modify", "patch", "set", "resume", "pause")) return { id: 3, name: "Update" };
  if (has("delete", "remove", "revoke", "destroy")) return { id: 4, name: "Delete" };
  return { id: 99, name: "Other" };
}

/** OCSF status: 1 Success, 2 Failure, 0 Unknown (from the event's `outcome`). */
const ocsfStatus = (outcome: string | undefined) =>
  outcome === "success"
    ? { status_id: 1, status: "Success" }
    : outcome === "failure"
      ? { status_id: 2, status: "Failure" }
      : { status_id: 0, status: "Unknown" };

/**
 * One entry as an OCSF 1.1.0 event of its class (`ocsfClassOf`): class, category, activity and
 * `type_uid` (= class_uid × 100 + activity_id), `time` (ms), severity Informational, status from
 * `outcome`, `metadata` (product, version, the entry's `<tenant>:<seq>` as `uid`, the log origin),
 * `actor.user`, the client address as `src_endpoint.ip`, the action as `api.operation` (API
 * Activity) or the first target as `user` (Account Change, Authentication), and the whole entry
 * under `unmapped.sealtrail` (action, seq, leaf hash, targets, metadata).
 */
export function ocsfEvent(e: StreamEntry, view: EntryView, origin: string): JsonObject {
  const clsKey = ocsfClassOf(e.action);
  const cls = OCSF_CLASSES[clsKey];
  const activity = ocsfActivity(clsKey, e.action);
  const actor = obj(view.event.actor) ?? {};
  const target = obj((view.event.targets as JsonValue[] | undefined)?.[0]);
  const ip = str(view.provenance.ip) ?? str(obj(view.provenance.request)?.ip);
  const user = (o: JsonObject | undefined): JsonObject => ({
    ...(str(o?.id) !== undefined ? { uid: str(o?.id)! } : {}),
    ...(str(o?.name) !== undefined ? { name: str(o?.name)! } : {}),
    ...(str(o?.type) !== undefined ? { type: str(o?.type)! } : {}),
  });
  const specific: JsonObject =
    clsKey === "api_activity"
      ? { api: { operation: e.action, service: { name: "sealtrail" } } }
      : { user: user(clsKey === "authentication" ? (target ?? actor) : (target ?? {})) };
  return {
    class_uid: cls.uid,
    class_name: cls.name,
    category_uid: cls.category_uid,
    category_name: cls.category_name,
    activity_id: activity.id,
    activity_name: activity.name,
    type_uid: cls.uid * 100 + activity.id,
    time: e.receivedAtMs,
    severity_id: 1,
    severity: "Informational",
    ...ocsfStatus(str(view.event.outcome)),
    metadata: {
      version: "1.1.0",
      product: { name: "Sealtrail", vendor_name: "Sealtrail" },
      uid: `${view.tenant}:${e.seq}`,
      log_name: origin,
      sequence: e.seq,
    },
    actor: { user: user(actor) },
    ...(ip !== undefined ? { src_endpoint: { ip } } : {}),
    ...specific,
    unmapped: {
      sealtrail: {
        action: e.action,
        seq: e.seq,
        leaf_hash: e.leafHash,
        received_at: view.received_at,
        targets: (view.event.targets as JsonValue | undefined) ?? [],
        ...(view.event.metadata !== undefined ? { metadata: view.event.metadata } : {}),
      },
    },
  };
}

/** The records of one batch in `format`; `view` gives the reader's view of an entry (non-native formats). */
export function formatRecords(
  format: StreamFormat,
  entries: readonly StreamEntry[],
  view: (e: StreamEntry) => EntryView,
  origin: string,
): JsonObject[] {
  if (format === "native") return entries.map(nativeRecord);
  if (format === "cloudevents") return entries.map((e) => cloudEvent(e, view(e), origin));
  return entries.map((e) => ocsfEvent(e, view(e), origin));
}
