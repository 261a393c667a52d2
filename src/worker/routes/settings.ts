/**
 * /v1/tenants/:t/settings: seal interval, retention, witnesses, public log. `legal_hold` is shown
 * (true while any legal hold is active) but is no longer a setting: holds are their own resource
 * (routes/holds.ts), and a PUT naming it is refused. Reading needs any
 * permission of the tenant; changing needs `admin`. The route sends the change itself (the
 * patch): the TenantLog applies it to its current settings and appends the entry recording it
 * (before and after) in one transaction, so concurrent changes never undo each other.
 */
import { Hono } from "hono";
import { z } from "zod";
import { ALERT_KINDS } from "../../durable/alert-types";
import { AUDIT_FULL_INTERVAL_MAX_DAYS, AUDIT_INTERVAL_MAX_HOURS } from "../../durable/audit-schedule";
import { isLocalDev, OUTBOUND_MAX_URL_LENGTH } from "../../durable/outbound";
import { JURISDICTIONS } from "../../durable/placement";
import { SEAL_INTERVAL_MAX_MS, SEAL_INTERVAL_MIN_MS } from "../../durable/settings";
import { MAX_WITNESSES, witnessListProblem } from "../../durable/witness-config";
import { principalEvent } from "../access-log";
import type { AppEnv } from "../app-env";
import { Failure } from "../errors";
import { provenance } from "../provenance";
import { readJsonBody } from "../request";
import { bodyOf, LOG_APPEND, LOG_CALL, queryOf, route } from "../route-spec";
import { requirePermission } from "../tenant-access";
import { awaitMirror, logAudit, tenantLog } from "../tenant-log";
import { Receipt } from "./events";
import { tenantData } from "../placement";
import { forgetPublicLog } from "./tiles";
import { StreamStats, streamStats } from "./streams";
import { MAX_PERSONAL_FIELDS, personalFieldsProblem } from "../../core/personal-fields";
import { subjectKeysAvailable } from "../../durable/personal-fields";
import { PrunedRangeSchema } from "./verify";

/** The retention period in days (issue #17): one day to 100 years. */
export const RETENTION_DAYS_MIN = 1;
export const RETENTION_DAYS_MAX = 36_500;
/** `retention_years`, the field `retention_days` replaced: still accepted in a change, as 365 days a year. */
export const RETENTION_YEARS_MIN = 1;
export const RETENTION_YEARS_MAX = 100;

/** A witness: its c2sp.org/tlog-witness submission prefix and its vkey (checked by witness-config.ts after the schema). */
const WitnessSchema = z.strictObject({
  url: z.string().min(1).max(OUTBOUND_MAX_URL_LENGTH).describe("submission prefix: the log POSTs <url>/add-checkpoint"),
  key: z.string().min(1).max(4096).describe("verifier key name+hexid+base64(type||public key), type 0x04 Ed25519 or 0x06 ML-DSA-44"),
});

const SettingsPatch = z
  .strictObject({
    seal_interval_seconds: z
      .number()
      .int()
      .min(SEAL_INTERVAL_MIN_MS / 1000)
      .max(SEAL_INTERVAL_MAX_MS / 1000)
      .optional(),
    retention_days: z
      .number()
      .int()
      .min(RETENTION_DAYS_MIN)
      .max(RETENTION_DAYS_MAX)
      .optional()
      .describe("entries older than this are pruned by the retention sweep (whole sealed bundles)"),
    retention_years: z
      .number()
      .int()
      .min(RETENTION_YEARS_MIN)
      .max(RETENTION_YEARS_MAX)
      .optional()
      .describe("deprecated: retention_days = 365 × retention_years"),
    max_clock_skew_seconds: z.number().int().min(1).max(86_400).optional(),
    witnesses: z.array(WitnessSchema).max(MAX_WITNESSES).nullable().optional().describe("null: the deployment's default witnesses"),
    witness_quorum: z
      .number()
      .int()
      .min(0)
      .max(MAX_WITNESSES)
      .nullable()
      .optional()
      .describe("cosignatures verification requires; null: 1 when there is a witness, else 0"),
    public_log: z.boolean().optional().describe("anyone may read the checkpoint and hash tiles under /logs/<tenant>/ (never entries)"),
    audit_interval_hours: z
      .number()
      .int()
      .min(1)
      .max(AUDIT_INTERVAL_MAX_HOURS)
      .optional()
      .describe("scheduled incremental verification every N hours"),
    full_audit_interval_days: z
      .number()
      .int()
      .min(1)
      .max(AUDIT_FULL_INTERVAL_MAX_DAYS)
      .optional()
      .describe("scheduled full verification every N days"),
    personal_fields: z
      .array(z.string())
      .max(MAX_PERSONAL_FIELDS)
      .superRefine((paths, ctx) => {
        const problem = personalFieldsProblem(paths);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      })
      .optional()
      .describe("paths encrypted per subject before they are stored: actor.name, targets[].name, context.<key>, metadata.<key>[.<key>…]"),
    max_elevation_seconds: z
      .number()
      .int()
      .min(60)
      .max(7 * 86_400)
      .optional()
      .describe("the longest just-in-time elevation a member may ask for (default 4 hours)"),
  })
  .refine((p) => Object.keys(p).length > 0, "change at least one setting")
  .refine((p) => p.retention_days === undefined || p.retention_years === undefined, "give retention_days or retention_years, not both");

/** Activity chart ranges: how many buckets of how long, ending at the current bucket. */
export const ACTIVITY_RANGES = {
  "24h": { buckets: 24, bucketMs: 3_600_000 },
  "7d": { buckets: 7, bucketMs: 86_400_000 },
  "30d": { buckets: 30, bucketMs: 86_400_000 },
} as const;

const Settings = z.object({
  seal_interval_seconds: z.number().int(),
  retention_days: z.number().int(),
  legal_hold: z.boolean().describe("true while any legal hold is active (read-only; see /v1/tenants/{t}/holds)"),
  max_clock_skew_seconds: z.number().int(),
  witnesses: z.array(z.object({ url: z.string(), key: z.string() })).nullable(),
  witness_quorum: z.number().int().nullable(),
  public_log: z.boolean(),
  audit_interval_hours: z.number(),
  full_audit_interval_days: z.number(),
  personal_fields: z.array(z.string()),
  max_elevation_seconds: z.number().int(),
});
const Range = z.object({ from: z.number().int(), to: z.number().int() }).describe("entries [from, to)");
const Stats = z.object({
  size: z.number().int(),
  mirrored_to: z.number().int(),
  mirror_lag: z.number().int().describe("entries committed but not yet in D1"),
  mirror_lag_ms: z.number().int().describe("ms since the oldest entry not yet in D1 was committed (0: D1 holds every entry)"),
  mirror_lag_alert: z.boolean().describe("mirror_lag_ms is past the alert threshold (30 s)"),
  mirror_failures: z.number().int(),
  sealed_to: z.number().int(),
  latest_seal: z.record(z.string(), z.unknown()).nullable(),
  seal_failures: z.number().int(),
  last_seal_error: z.string().nullable(),
  refusing_writes: z.boolean(),
  skewed_events: z.number().int(),
  last_received_at: z.string().nullable(),
  usual_gap_ms: z.number().int(),
  ingest_stalled: z.boolean(),
  witnesses: z.array(
    z.object({
      url: z.string(),
      key: z.string(),
      cosigned_size: z.number().int(),
      failures: z.number().int(),
      last_error: z.string().nullable(),
    }),
  ),
  witness_quorum: z.number().int(),
  witnessed_size: z.number().int().describe("the largest tree size whose checkpoint has the witness quorum of cosignatures"),
  witness_alert_count: z.number().int(),
  witness_round_ms: z.number().int().nullable().describe("how long the last submission to every witness took (ms)"),
  witness_alerts: z
    .array(
      z.object({
        at: z.string(),
        witness: z.string(),
        key: z.string(),
        reason: z.enum(["witness_ahead", "witness_inconsistent"]),
        size: z.number().int(),
        detail: z.string(),
      }),
    )
    .describe("possible split views: a witness cosigned a larger tree (409) or found a checkpoint inconsistent (422); newest first"),
  tiles_to: z.number().int().describe("entries covered by full c2sp.org/tlog-tiles tiles written to R2"),
  tiles_error: z.string().nullable().describe("the tile writer's last error, null when it caught up"),
  active_holds: z.number().int().describe("legal holds active now (/v1/tenants/{t}/holds)"),
  retention_floor: z.number().int().describe("entries below it are pruned by retention (bodies deleted; leaves, proofs, checkpoints kept)"),
  retention_cleaned_to: z.number().int().describe("retention's deletions are done below this (below the floor: being retried)"),
  retention_error: z.string().nullable().describe("the last retention deletion error (e.g. an R2 bucket lock), null when none"),
  retention_last_sweep_at: z.string().nullable(),
  placement: z
    .object({ jurisdiction: z.enum(JURISDICTIONS), shard: z.number().int() })
    .describe('where the tenant\'s data lives: its jurisdiction and D1 shard (docs/design.md "Shards and jurisdictions")'),
  sources: z
    .object({
      tracked: z.number().int(),
      reporting: z.number().int().describe("tracked sources not silent"),
      silent: z.number().int().describe("sources past their declared cadence"),
      with_cadence: z.number().int(),
      with_gaps: z.number().int(),
      open_gaps: z.number().int().describe("open missing ranges, over every source"),
      missing: z.number().int().describe("numbers missing in them"),
      untracked_events: z.number().int().describe("events of sources past the per-tenant cap (stored, not tracked)"),
    })
    .describe('numbered sources (README "Missed events: gaps and silence"); GET …/sources lists them with their ranges'),
  last_full_verification: z
    .object({
      job_id: z.string(),
      ok: z.boolean(),
      failures: z.number().int(),
      finished_at: z.string(),
      range: Range,
      pruned: PrunedRangeSchema.nullable(),
    })
    .nullable()
    .describe("the tenant's verification status: its last finished full run (range runs never count)"),
  open_alerts: z
    .array(z.object({ kind: z.enum(ALERT_KINDS), key: z.string(), since: z.string() }))
    .describe('incidents open now, oldest first (each is a sealtrail.alert.raised entry; README "Alerts")'),
  recent_incidents: z
    .array(
      z.object({
        kind: z.enum(ALERT_KINDS),
        key: z.string(),
        started_at: z.string(),
        raised_at: z.string(),
        ended_at: z.string().nullable(),
        detail: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
      }),
    )
    .describe("the newest incidents, open (ended_at null) or ended, newest first"),
  streams: z.array(StreamStats).describe("log streams: lag (entries, seconds behind the head), paused, last error"),
});

export const SETTINGS_ROUTES = {
  stats: route({
    method: "get",
    path: "/v1/tenants/{t}/stats",
    summary: "The log's state: size, D1 mirror lag, seals, refusal, clock-skew and stalled-ingest flags, last full verification",
    permissions: ["read", "verify", "admin"],
    response: Stats,
    errors: LOG_CALL,
  }),
  activity: route({
    method: "get",
    path: "/v1/tenants/{t}/stats/activity",
    summary: "Entries per hour (24h) or per day (7d, 30d), counted in D1",
    permissions: ["read", "verify", "admin"],
    query: z.strictObject({ range: z.enum(["24h", "7d", "30d"]).default("24h") }),
    response: z.object({
      range: z.string(),
      bucket_seconds: z.number().int(),
      buckets: z.array(z.object({ start: z.string(), count: z.number().int() })),
    }),
    errors: LOG_CALL,
  }),
  read: route({
    method: "get",
    path: "/v1/tenants/{t}/settings",
    summary: "Seal interval, retention, witnesses; legal_hold: whether any legal hold is active",
    permissions: ["read", "verify", "admin", "append"],
    response: Settings,
    errors: LOG_CALL,
  }),
  update: route({
    method: "put",
    path: "/v1/tenants/{t}/settings",
    summary: "Change settings (logged, applied to the current settings in the same transaction)",
    permissions: ["admin"],
    body: SettingsPatch,
    invalid: "invalid_settings",
    response: z.object({ settings: Settings, receipt: Receipt }),
    errors: [
      "legal_hold_active",
      "legal_hold_not_a_setting",
      "invalid_witness",
      "witness_quorum_unreachable",
      "personal_fields_unavailable",
      ...LOG_APPEND,
    ],
  }),
};

const { stats, activity, read, update } = SETTINGS_ROUTES;

export const settings = new Hono<AppEnv>()
  .get("/stats", requirePermission(...stats.permissions), async (c) => {
    const [s, lastFull, data] = await Promise.all([tenantLog(c).stats(), logAudit(c).lastFullVerification(), tenantData(c)]);
    return c.json({
      size: s.size,
      mirrored_to: s.mirrored_to,
      mirror_lag: s.size - s.mirrored_to,
      mirror_lag_ms: s.mirror_lag_ms,
      mirror_lag_alert: s.mirror_lag_alert,
      mirror_failures: s.mirror_failures,
      sealed_to: s.sealed_to,
      latest_seal: s.latest_seal,
      seal_failures: s.seal_failures,
      last_seal_error: s.last_seal_error,
      refusing_writes: s.refusal !== null,
      skewed_events: s.skewed_events,
      last_received_at: s.last_received_at,
      usual_gap_ms: s.usual_gap_ms,
      ingest_stalled: s.ingest_stalled,
      witnesses: s.witnesses,
      witness_quorum: s.witness_quorum,
      witnessed_size: s.witnessed_size,
      witness_alert_count: s.witness_alert_count,
      witness_round_ms: s.witness_round_ms,
      witness_alerts: s.witness_alerts,
      tiles_to: s.tiles_to,
      tiles_error: s.tiles_error,
      active_holds: s.active_holds,
      retention_floor: s.retention_floor,
      retention_cleaned_to: s.retention_cleaned_to,
      retention_error: s.retention_error,
      retention_last_sweep_at: s.retention_last_sweep_at,
      placement: { jurisdiction: data.placement.jurisdiction, shard: data.placement.shard },
      sources: s.sources,
      // The tenant's verification status: its last full run (range runs never count).
      last_full_verification: lastFull,
      open_alerts: s.open_alerts,
      recent_incidents: s.recent_incidents,
      streams: await streamStats(c, { size: s.size, mirroredTo: s.mirrored_to, mirrorLagMs: s.mirror_lag_ms }),
    } satisfies z.infer<typeof Stats>);
  })
  // Entries per time bucket, counted in D1 on the (tenant_id, received_at, seq) index, once D1
  // holds what was acknowledged before this read (at most READ_MIRROR_WAIT_MS; not while D1
  // fails: entries the mirror has not copied yet are then not counted, `mirror_lag` says how many).
  .get("/stats/activity", requirePermission(...activity.permissions), async (c) => {
    const { range } = queryOf(c, activity);
    await awaitMirror(c);
    const { buckets, bucketMs } = ACTIVITY_RANGES[range];
    const end = (Math.floor(Date.now() / bucketMs) + 1) * bucketMs;
    const start = end - buckets * bucketMs;
    const { results } = await (await tenantData(c)).db
      .prepare(
        "SELECT CAST((received_at - ?1) / ?2 AS INTEGER) AS bucket, count(*) AS n FROM audit_events WHERE tenant_id = ?3 AND received_at >= ?1 AND received_at < ?4 GROUP BY bucket",
      )
      .bind(start, bucketMs, c.var.access.tenantId, end)
      .all<{ bucket: number; n: number }>();
    const counts = new Array<number>(buckets).fill(0);
    // D1 binds JS numbers as REAL: the CAST keeps bucket an integer index.
    for (const r of results) if (r.bucket >= 0 && r.bucket < buckets) counts[r.bucket] = r.n;
    return c.json({
      range,
      bucket_seconds: bucketMs / 1000,
      buckets: counts.map((count, i) => ({ start: new Date(start + i * bucketMs).toISOString(), count })),
    });
  })
  .get("/settings", requirePermission(...read.permissions), async (c) => {
    return c.json((await tenantLog(c).settingsView(c.var.access.tenantId)) satisfies z.infer<typeof Settings>);
  })
  .put("/settings", requirePermission(...update.permissions), async (c) => {
    const body = await readJsonBody(c);
    // The former boolean: holds are their own resource now (routes/holds.ts), each logged with a reason and scope.
    if (typeof body === "object" && body !== null && !Array.isArray(body) && "legal_hold" in body) {
      throw new Failure({ reason: "legal_hold_not_a_setting" });
    }
    const { retention_years, ...rest } = bodyOf(update, body);
    // retention_years (replaced by retention_days) is still accepted: 365 days a year.
    const patch = retention_years === undefined ? rest : { ...rest, retention_days: retention_years * 365 };
    // Witness URLs are tenant input for outbound calls: the same rules as every such call.
    const problem = patch.witnesses ? witnessListProblem(patch.witnesses, isLocalDev(c.env)) : undefined;
    if (problem) throw new Failure({ reason: "invalid_witness", ...problem });
    // Personal fields need the subject key secret (durable/personal-fields.ts): refused before anything is stored.
    if (patch.personal_fields?.length && !subjectKeysAvailable(c.env)) throw new Failure({ reason: "personal_fields_unavailable" });
    const tenant = c.var.access.tenantId;
    // The object adds metadata.before and .after, read in the transaction that applies the change.
    const event = principalEvent(c, "sealtrail.settings.updated", { id: tenant, type: "tenant" });
    const result = await tenantLog(c).updateSettings(tenant, patch, event, provenance(c));
    if (!result.ok) throw new Failure(result.error);
    // Other isolates follow within PUBLIC_CACHE_MS (routes/tiles.ts).
    if (patch.public_log !== undefined) forgetPublicLog(tenant);
    return c.json({ settings: result.settings, receipt: result.receipts[0] });
  });
