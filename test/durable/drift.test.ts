import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { LogStore } from "../../src/durable/log-store";
import { clockSkew } from "../../src/durable/sequencer";
import { STALL_FACTOR, STALL_MIN_MS } from "../../src/durable/group-commit";
import type { TenantLog } from "../../src/durable/tenant-log";
import { api, bearer, event, logOf, postEvent, tenantWithKeys } from "../worker/helpers";

describe("clock skew", () => {
  it("flags only events whose client time is further off than the limit, in either direction", () => {
    const now = Date.parse("2026-11-26T12:00:00Z");
    expect(clockSkew({ occurred_at: "2026-11-26T11:56:00Z" }, now, 300_000)).toBeUndefined();
    expect(clockSkew({ occurred_at: "2026-11-26T11:50:00Z" }, now, 300_000)).toBe(600_000);
    expect(clockSkew({ occurred_at: "2026-11-26T13:00:00+00:00" }, now, 300_000)).toBe(-3_600_000);
    expect(clockSkew({}, now, 300_000)).toBeUndefined();
  });

  it("a skewed event is stored as sent, flagged in its provenance, and counted in the stats", async () => {
    const { owner, tenant, appendKey, readKey, base } = await tenantWithKeys();
    const put = await api(`/v1/tenants/${tenant}/settings`, {
      method: "PUT",
      headers: { "content-type": "application/json", ...bearer(owner) },
      body: JSON.stringify({ max_clock_skew_seconds: 60 }),
    });
    expect(put.status).toBe(200);
    const old = new Date(Date.now() - 3_600_000).toISOString();
    expect((await postEvent(tenant, appendKey, event({ occurred_at: old }))).status).toBe(201);
    expect((await postEvent(tenant, appendKey, event({ occurred_at: new Date().toISOString() }))).status).toBe(201);
    const get = async (seq: number) =>
      (await (await api(`/v1/tenants/${tenant}/events/${seq}`, { headers: { "x-api-key": readKey } })).json()) as {
        event: { occurred_at: string };
        provenance: Record<string, unknown>;
      };
    // The settings change is entry `base`; the two events follow it.
    const flagged = await get(base + 1);
    expect(flagged.event.occurred_at).toBe(old);
    expect(flagged.provenance.clock_skew_ms).toBeGreaterThan(3_500_000);
    expect((await get(base + 2)).provenance.clock_skew_ms).toBeUndefined();
    const stats = (await (await api(`/v1/tenants/${tenant}/stats`, { headers: { "x-api-key": readKey } })).json()) as {
      skewed_events: number;
    };
    expect(stats.skewed_events).toBe(1);
  });
});

describe("stalled ingest", () => {
  it(`is flagged once no entry came for ${STALL_FACTOR} usual gaps (and at least a minute)`, async () => {
    const { tenant, appendKey } = await tenantWithKeys();
    for (let i = 0; i < 3; i++) expect((await postEvent(tenant, appendKey, event())).status).toBe(201);
    const stub = logOf(tenant);
    expect((await stub.stats()).ingest_stalled).toBe(false);
    // Make the last entry old, as if the tenant's senders had gone quiet.
    await runInDurableObject(stub, (_log: TenantLog, state) => {
      const store = new LogStore(state.storage.sql);
      store.setCounter("gap_ewma_ms", 1_000);
      state.storage.sql.exec("UPDATE log_head SET last_received_at = ?", Date.now() - STALL_MIN_MS - 5_000);
    });
    await (await import("cloudflare:test")).evictDurableObject(stub);
    expect((await stub.stats()).ingest_stalled).toBe(true);
    expect((await postEvent(tenant, appendKey, event())).status).toBe(201);
    expect((await stub.stats()).ingest_stalled).toBe(false);
  });
});
