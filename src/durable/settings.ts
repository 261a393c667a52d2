/**
 * A tenant's settings change, as the TenantLog applies it: to its current settings, inside the
 * transaction that appends the `sealtrail.settings.updated` entry recording it (issue #13: a
 * read in the Worker and a write in the object let concurrent changes undo each other). Pure:
 * no storage, no clock.
 */
import { retentionLoweringRefused, type Hold, type RetentionOnHold } from "../core/holds";
import type { TenantSettings } from "./log-store";
import type { WitnessConfig } from "./witness-config";

/** Bounds of the per-tenant seal interval. */
export const SEAL_INTERVAL_MIN_MS = 10_000;
export const SEAL_INTERVAL_MAX_MS = 86_400_000;

/** The wire form of a change (PUT /v1/tenants/:t/settings, validated by the route). */
export interface SettingsPatch {
  seal_interval_seconds?: number;
  retention_days?: number;
  max_clock_skew_seconds?: number;
  /** The tenant's witnesses (validated by the route); null: back to the deployment's default. */
  witnesses?: WitnessConfig[] | null;
  /** Cosignatures verification requires; null: the default (1 when there is a witness, else 0). */
  witness_quorum?: number | null;
  public_log?: boolean;
  /** Scheduled audits: incremental verification every N hours, full every N days (audit-schedule.ts). */
  audit_interval_hours?: number;
  full_audit_interval_days?: number;
  /** Declared personal fields (validated by the route: src/core/personal-fields.ts). */
  personal_fields?: string[];
  /** The longest just-in-time elevation a member may ask for, in seconds. */
  max_elevation_seconds?: number;
}

/** The wire form of the settings (GET /settings, and `before`/`after` in the logged entry; a JSON object). */
export type SettingsView = {
  seal_interval_seconds: number;
  retention_days: number;
  /** True while any legal hold is active (read-only: holds are their own resource, /v1/tenants/:t/holds). */
  legal_hold: boolean;
  max_clock_skew_seconds: number;
  witnesses: WitnessConfig[] | null;
  witness_quorum: number | null;
  public_log: boolean;
  audit_interval_hours: number;
  full_audit_interval_days: number;
  personal_fields: string[];
  max_elevation_seconds: number;
};

export type SettingsError = RetentionOnHold | { reason: "witness_quorum_unreachable"; quorum: number; witnesses: number };

/** The settings' wire form; `activeHolds`: how many legal holds are active (holds.ts). */
export const settingsView = (s: TenantSettings, activeHolds: number): SettingsView => ({
  seal_interval_seconds: s.sealIntervalMs / 1000,
  retention_days: s.retentionDays,
  legal_hold: activeHolds > 0,
  max_clock_skew_seconds: s.maxClockSkewMs / 1000,
  witnesses: s.witnesses,
  witness_quorum: s.witnessQuorum,
  public_log: s.publicLog,
  audit_interval_hours: s.auditIntervalMs / 3_600_000,
  full_audit_interval_days: s.fullAuditIntervalMs / 86_400_000,
  personal_fields: s.personalFields,
  max_elevation_seconds: s.maxElevationSeconds,
});

/**
 * `before` with `patch` applied. The retention period is never lowered while a legal hold is
 * active (`activeHolds`, holds.ts; the refusal names the first one): releasing a hold is a change
 * (and an entry) of its own. A witness quorum is never larger than the witnesses it counts (the tenant's, or the
 * deployment's `defaultWitnesses` when the tenant names none).
 */
export function applySettingsPatch(
  before: TenantSettings,
  patch: SettingsPatch,
  defaultWitnesses = 0,
  activeHolds: readonly Hold[] = [],
): { ok: true; after: TenantSettings } | { ok: false; error: SettingsError } {
  const after: TenantSettings = {
    sealIntervalMs: patch.seal_interval_seconds !== undefined ? patch.seal_interval_seconds * 1000 : before.sealIntervalMs,
    retentionDays: patch.retention_days ?? before.retentionDays,
    legalHold: before.legalHold,
    maxClockSkewMs: patch.max_clock_skew_seconds !== undefined ? patch.max_clock_skew_seconds * 1000 : before.maxClockSkewMs,
    witnesses: patch.witnesses !== undefined ? patch.witnesses : before.witnesses,
    witnessQuorum: patch.witness_quorum !== undefined ? patch.witness_quorum : before.witnessQuorum,
    publicLog: patch.public_log ?? before.publicLog,
    auditIntervalMs: patch.audit_interval_hours !== undefined ? patch.audit_interval_hours * 3_600_000 : before.auditIntervalMs,
    fullAuditIntervalMs:
      patch.full_audit_interval_days !== undefined ? patch.full_audit_interval_days * 86_400_000 : before.fullAuditIntervalMs,
    personalFields: patch.personal_fields ?? before.personalFields,
    maxElevationSeconds: patch.max_elevation_seconds ?? before.maxElevationSeconds,
  };
  const count = after.witnesses?.length ?? defaultWitnesses;
  if (after.witnessQuorum !== null && after.witnessQuorum > count) {
    return { ok: false, error: { reason: "witness_quorum_unreachable", quorum: after.witnessQuorum, witnesses: count } };
  }
  const held = retentionLoweringRefused("retention_days", before.retentionDays, after.retentionDays, activeHolds);
  if (held) return { ok: false, error: held };
  return { ok: true, after };
}
