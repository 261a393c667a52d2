import { describe, expect, it } from "vitest";
import { preferredDurability } from "../../src/worker/routes/events";
import { d1RefusesRowsOf } from "../durable/faults";
import { api, dbOf, event, logOf, mirrored, postEvent, tenantWithKeys } from "./helpers";

const d1Row = async (tenant: string, seq: number) =>
  (await dbOf(tenant)).prepare("SELECT seq FROM audit_events WHERE tenant_id = ? AND seq = ?").bind(tenant, seq).first<{ seq: number }>();

describe("Prefer: durability=mirrored", () => {
  it("parses as RFC 7240 says: case-insensitive token, optional quotes and parameters; other preferences ignored", () => {
    expect(preferredDurability("durability=mirrored")).toBe("mirrored");
    expect(preferredDurability('respond-async, DURABILITY="Mirrored"; strict')).toBe("mirrored");
    expect(preferredDurability("return=minimal")).toBeUndefined();
    expect(preferredDurability("durability=eventual")).toBeUndefined();
    expect(preferredDurability("durability")).toBeUndefined();
    expect(preferredDurability(undefined)).toBeUndefined();
  });

  it("answers 201 with Preference-Applied once D1 holds the entry; without it, no Preference-Applied", async () => {
    const { tenant, appendKey, base } = await tenantWithKeys();
    const res = await postEvent(tenant, appendKey, event(), { prefer: "durability=mirrored" });
    expect(res.status).toBe(201);
    expect(res.headers.get("preference-applied")).toBe("durability=mirrored");
    expect(await res.json()).toMatchObject({ seq: base });
    // Already in D1 when the receipt arrives: no waiting on the mirror here.
    expect(await d1Row(tenant, base)).toEqual({ seq: base });
    const batch = await postEvent(tenant, appendKey, { events: [event(), event()] }, { prefer: "durability=mirrored" });
    expect(batch.status).toBe(201);
    expect(batch.headers.get("preference-applied")).toBe("durability=mirrored");
    expect(await d1Row(tenant, base + 2)).toEqual({ seq: base + 2 });
    // An unknown value is ignored (RFC 7240 §2): the default acknowledgement, nothing applied.
    const plain = await postEvent(tenant, appendKey, event(), { prefer: "durability=eventual, return=minimal" });
    expect(plain.status).toBe(201);
    expect(plain.headers.get("preference-applied")).toBeNull();
  });

  it("with D1 failing: plain appends are acknowledged; a mirrored one answers 503 not_mirrored, yet is committed, and its retry gets the same receipt", async () => {
    const { tenant, appendKey, readKey, base } = await tenantWithKeys();
    await mirrored(tenant); // the keys' creation entries
    const lift = await d1RefusesRowsOf(await dbOf(tenant), tenant);
    expect((await postEvent(tenant, appendKey, event({ action: "a.plain" }))).status).toBe(201);
    const body = event({ action: "a.mirrored" });
    const headers = { prefer: "durability=mirrored", "idempotency-key": "m-1" };
    const refused = await postEvent(tenant, appendKey, body, headers);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("5");
    const error = ((await refused.json()) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe("not_mirrored");
    expect(error.message).toContain("committed");
    // Committed all the same: the log holds it (served from the Durable Object), D1 does not.
    const stats = await logOf(tenant).stats();
    expect(stats.size).toBe(base + 2);
    expect(stats.mirrored_to).toBe(base);
    const statsRes = await api(`/v1/tenants/${tenant}/stats`, { headers: { "x-api-key": readKey } });
    const http = (await statsRes.json()) as Record<string, unknown>;
    expect(http).toMatchObject({ mirror_lag: 2, mirror_lag_alert: false });
    expect(http.mirror_lag_ms).toEqual(expect.any(Number));
    const entry = await api(`/v1/tenants/${tenant}/events/${base + 1}`, { headers: { "x-api-key": readKey } });
    expect(await entry.json()).toMatchObject({ seq: base + 1, event: { action: "a.mirrored" } });
    expect(await d1Row(tenant, base + 1)).toBeNull();

    await lift();
    await mirrored(tenant);
    const size = (await logOf(tenant).stats()).size; // with the read's own access entry
    const retry = await postEvent(tenant, appendKey, body, headers);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("preference-applied")).toBe("durability=mirrored");
    expect(await retry.json()).toMatchObject({ seq: base + 1 });
    expect((await logOf(tenant).stats()).size).toBe(size); // nothing appended twice
    expect(await d1Row(tenant, base + 1)).toEqual({ seq: base + 1 });
  });
});
