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
  })
  .refine((p) => Object.keys(p).length > 0, "change at least one setting");

const view = (s: TenantSettings) => ({
  seal_interval_seconds: s.sealIntervalMs / 1000,
  retention_years: s.retentionYears,
  legal_hold: s.legalHold,
});

export const settings = new Hono<AppEnv>()
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
    };
    const event = principalEvent(c, "sealtrail.settings.updated", { id: tenant, type: "tenant" }, { before: view(before), after: view(after) });
    const result = await log.updateSettings(tenant, after, event, provenance(c));
    if (!result.ok) throw new Failure(result.error);
    return c.json({ settings: view(after), receipt: result.receipts[0] });
  });
