import { describe, expect, it } from "vitest";
import { sealKeys } from "../../src/core/seal";
import { api, bearer, createKey, event, postEvent, tenantWithKeys, mirroredDbOf, bucketOf } from "../worker/helpers";
import { runVerification } from "./log-helpers";

/** The tenant's D1 rows, once the mirror holds every acknowledged entry. */
async function rows(tenant: string) {
  const db = await mirroredDbOf(tenant);
  const { results } = await db.prepare("SELECT * FROM audit_events WHERE tenant_id = ? ORDER BY seq").bind(tenant).all();
  const { results: targets } = await db
    .prepare("SELECT * FROM audit_event_targets WHERE tenant_id = ? ORDER BY seq, position")
    .bind(tenant)
    .all();
  return { results, targets };
}

async function wipeD1(tenant: string) {
  const db = await mirroredDbOf(tenant);
  await db.batch([
    db.prepare("DROP TRIGGER audit_events_no_delete"),
    db.prepare("DROP TRIGGER audit_event_targets_no_delete"),
    db.prepare("DELETE FROM audit_events WHERE tenant_id = ?").bind(tenant),
    db.prepare("DELETE FROM audit_event_targets WHERE tenant_id = ?").bind(tenant),
    db.prepare(
      "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    ),
    db.prepare(
      "CREATE TRIGGER audit_event_targets_no_delete BEFORE DELETE ON audit_event_targets BEGIN SELECT RAISE(ABORT, 'audit_event_targets is append-only'); END",
    ),
  ]);
}

describe("reconstruction of D1 rows", () => {
  it("rebuilds a wiped tenant byte for byte from R2 bundles and the log's unsealed entries; it then verifies ok", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const verifyKey = await createKey(owner, tenant, ["verify"]);
    const seal = () => api(`/v1/tenants/${tenant}/seal`, { method: "POST", headers: bearer(owner) });
    for (const n of [40, 25]) {
      await postEvent(tenant, appendKey, {
        events: Array.from({ length: n }, (_, i) => event({ metadata: { i }, idempotency_key: `k-${n}-${i}` })),
      });
      expect((await seal()).status).toBe(200);
    }
    await postEvent(tenant, appendKey, { events: Array.from({ length: 7 }, (_, i) => event({ action: "tail.event", metadata: { i } })) });
    const before = await rows(tenant);
    expect(before.results.length).toBeGreaterThanOrEqual(72);

    await wipeD1(tenant);
    expect((await rows(tenant)).results).toHaveLength(0);
    const res = await api(`/v1/tenants/${tenant}/rebuild`, { method: "POST", headers: bearer(owner) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ done: true, next_seal: 2 });

    // The rebuild logged itself (one more entry); everything before it is as it was.
    const after = await rows(tenant);
    expect(after.results.slice(0, before.results.length)).toEqual(before.results);
    expect(after.targets.slice(0, before.targets.length)).toEqual(before.targets);

    expect((await runVerification(tenant, verifyKey)).report).toMatchObject({ ok: true });
  });

  it("refuses to restore from a bundle that is not the sealed one", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    await postEvent(tenant, appendKey, { events: Array.from({ length: 5 }, () => event()) });
    expect((await api(`/v1/tenants/${tenant}/seal`, { method: "POST", headers: bearer(owner) })).status).toBe(200);
    const key = sealKeys(tenant, 0).bundle;
    const bundle = (await (await (await bucketOf(tenant)).get(key))!.text()).replace("user.login", "user.logon");
    await (await bucketOf(tenant)).delete(key);
    await (await bucketOf(tenant)).put(key, bundle);
    await wipeD1(tenant);
    const res = await api(`/v1/tenants/${tenant}/rebuild`, { method: "POST", headers: bearer(owner) });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ error: { code: "rebuild_refused" } });
    expect((await rows(tenant)).results.filter((r) => (r.seq as number) < 5)).toHaveLength(0);
  });
});
