import { describe, expect, it } from "vitest";
import { api, bearer, createKey, event, logSize, postEvent, tenantWithKeys, dbOf } from "../worker/helpers";
import { runVerification } from "./log-helpers";

// The 10,000-event version of `npm run soak` (scripts/soak.mjs): 10 tenants, HTTP path,
// seals running, then a full verification of every tenant.
const TENANTS = 10;
const EVENTS_PER_TENANT = 1_000;

describe("soak (10,000 events)", () => {
  it("loses nothing, duplicates nothing, and every tenant verifies", async () => {
    const tenants = await Promise.all(
      Array.from({ length: TENANTS }, async () => {
        const t = await tenantWithKeys();
        const verifyKey = await createKey(t.owner, t.tenant, ["verify"]);
        // The keys' creation entries come before the events.
        return { ...t, verifyKey, base: await logSize(t.owner, t.tenant) };
      }),
    );
    // Interleave the tenants' batches, 4 in flight at a time; every event has an idempotency key.
    const batches = tenants.flatMap((t, ti) =>
      Array.from({ length: EVENTS_PER_TENANT / 100 }, (_, b) => ({
        t,
        events: Array.from({ length: 100 }, (_, i) =>
          event({ metadata: { t: ti, n: b * 100 + i }, idempotency_key: `soak-${ti}-${b}-${i}` }),
        ),
      })),
    );
    for (let i = 0; i < batches.length; i += 4) {
      await Promise.all(
        batches.slice(i, i + 4).map(async ({ t, events }) => {
          const res = await postEvent(t.tenant, t.appendKey, { events });
          expect(res.status).toBe(201);
        }),
      );
      // Send a few batches twice, as a client that lost a response would.
      if (i % 20 === 0)
        expect((await postEvent(batches[i]!.t.tenant, batches[i]!.t.appendKey, { events: batches[i]!.events })).status).toBe(201);
    }
    for (const t of tenants) {
      expect((await api(`/v1/tenants/${t.tenant}/seal`, { method: "POST", headers: bearer(t.owner) })).status).toBe(200);
      const counts = await (await dbOf(t.tenant))
        .prepare("SELECT count(*) AS n, count(DISTINCT idempotency_key) AS keys, max(seq) AS top FROM audit_events WHERE tenant_id = ?")
        .bind(t.tenant)
        .first<{ n: number; keys: number; top: number }>();
      expect(counts).toEqual({ n: t.base + EVENTS_PER_TENANT, keys: EVENTS_PER_TENANT, top: t.base + EVENTS_PER_TENANT - 1 });
      const job = await runVerification(t.tenant, t.verifyKey);
      expect(job.report).toMatchObject({ ok: true, checked: { entries: t.base + EVENTS_PER_TENANT } });
    }
  });
});
