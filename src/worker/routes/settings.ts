/**
 * /v1/tenants/:t/settings: seal interval, retention and legal hold. Reading needs any
 * permission of the tenant; changing needs `admin`, and every change is appended to the
 * tenant's log in the same transaction that applies it.
 */
import { Hono } from "hono";
import { z } from "zod";
import type { TenantSettings } from "../../durable/log-store";
import { SEAL_INTERVAL_MAX_MS, SEAL_INTERVAL_MIN_MS } from "../../durable/sealer";
import { principalEvent } from "../access-log";
import type { AppEnv } from "../app-env";
import { Failure } from "../errors";
import { provenance } from "../provenance";
import { parseWith, readJsonBody } from "../request";
import { requirePermission } from "../tenant-access";
import { tenantLog } from "../tenant-log";

export const RETENTION_YEARS_MIN = 1;
export const RETENTION_YEARS_MAX = 100;

const SettingsPatch = z
  .strictObject({
    seal_interval_seconds: z.number().int().min(SEAL_INTERVAL_MIN_MS / 1000).max(SEAL_INTERVAL_MAX_MS / 1000).optional(),
    retention_years: z.number().int().min(RETENTION_YEARS_MIN).max(RETENTION_YEARS_MAX).optional(),
    legal_hold: z.boolean().optional(),
    max_clock_skew_seconds: z.number().int().min(1).max(86_400).optional(),
  })
  .refine((p) => Object.keys(p).length > 0, "change at least one setting");

const view = (s: TenantSettings) => ({
  seal_interval_seconds: s.sealIntervalMs / 1000,
  retention_years: s.retentionYears,
  legal_hold: s.legalHold,
  max_clock_skew_seconds: s.maxClockSkewMs / 1000,
});

export const settings = new Hono<AppEnv>()
  .get("/stats", requirePermission("read", "verify", "admin"), async (c) => {
    const s = await tenantLog(c).stats();
    return c.json({
      size: s.size,
      mirrored_to: s.mirrored_to,
      mirror_lag: s.size - s.mirrored_to,
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
    });
  })
  .get("/settings", requirePermission("read", "verify", "admin", "append"), async (c) => {
    return c.json(view(await tenantLog(c).settings(c.var.access.tenantId)));
  })
  .put("/settings", requirePermission("admin"), async (c) => {
    const patch = parseWith(SettingsPatch, await readJsonBody(c), "invalid_settings");
    const tenant = c.var.access.tenantId;
    const log = tenantLog(c);
    const before = await log.settings(tenant);
    const after: TenantSettings = {
      sealIntervalMs: patch.seal_interval_seconds !== undefined ? patch.seal_interval_seconds * 1000 : before.sealIntervalMs,
      retentionYears: patch.retention_years ?? before.retentionYears,
      legalHold: patch.legal_hold ?? before.legalHold,
      maxClockSkewMs: patch.max_clock_skew_seconds !== undefined ? patch.max_clock_skew_seconds * 1000 : before.maxClockSkewMs,
    };
    const event = principalEvent(c, "sealtrail.settings.updated", { id: tenant, type: "tenant" }, { before: view(before), after: view(after) });
    const result = await log.updateSettings(tenant, after, event, provenance(c));
    if (!result.ok) throw new Failure(result.error);
    return c.json({ settings: view(after), receipt: result.receipts[0] });
  });
