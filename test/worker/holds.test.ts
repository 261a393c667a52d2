/**
 * Legal holds through the API (routes/holds.ts → TenantLog.createHold / releaseHold): what is
 * stored, what the log records in the same commit, who may do what, and the retention rule.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Hold } from "../../src/core/holds";
import { LEGAL_HOLD_SETTING_HOLD_ID } from "../../src/durable/hold-changes";
import { LogStore } from "../../src/durable/log-store";
import { openLog, type TenantLog } from "../../src/durable/tenant-log";
import { api, bearer, createKey, createTenant, entriesOf, join, logOf, signUp, type Session } from "./helpers";

const json = { "content-type": "application/json" };
const auth = (who: Session | string) => (typeof who === "string" ? { "x-api-key": who } : bearer(who));
const post = (who: Session | string, path: string, body: unknown) =>
  api(path, { method: "POST", headers: { ...json, ...auth(who) }, body: JSON.stringify(body) });
const createHold = (who: Session | string, tenant: string, body: unknown) => post(who, `/v1/tenants/${tenant}/holds`, body);
const releaseHold = (who: Session | string, tenant: string, id: string, body: unknown) =>
  post(who, `/v1/tenants/${tenant}/holds/${encodeURIComponent(id)}/release`, body);
const listHolds = (who: Session | string, tenant: string) => api(`/v1/tenants/${tenant}/holds`, { headers: auth(who) });
const storedHolds = async (tenant: string) => logOf(tenant).holds(tenant);
const size = async (tenant: string) => (await logOf(tenant).stats()).size;
const putSettings = (who: Session, tenant: string, patch: unknown) =>
  api(`/v1/tenants/${tenant}/settings`, { method: "PUT", headers: { ...json, ...bearer(who) }, body: JSON.stringify(patch) });
const settingsOf = async (who: Session, tenant: string) =>
  (await (await api(`/v1/tenants/${tenant}/settings`, { headers: bearer(who) })).json()) as {
    retention_days: number;
    legal_hold: boolean;
  };

async function ownedTenant() {
  const owner = await signUp();
  const tenant = await createTenant(owner);
  return { owner, tenant };
}

describe("legal holds", () => {
  it("an owner creates a hold: 201 with it, stored, and logged as sealtrail.hold.created (who, why, scope) in that commit", async () => {
    const { owner, tenant } = await ownedTenant();
    const res = await createHold(owner, tenant, {
      reason: "Litigation: Doe v. Acme",
      scope: { kind: "time", from: "2026-01-01T01:00:00+01:00", to: "2026-07-01T00:00:00Z" },
    });
    expect(res.status).toBe(201);
    const { hold, receipt } = (await res.json()) as { hold: Hold; receipt: { seq: number } };
    expect(hold).toEqual({
      id: hold.id,
      reason: "Litigation: Doe v. Acme",
      scope: { kind: "time", from: "2026-01-01T00:00:00.000Z", to: "2026-07-01T00:00:00.000Z" },
      created_at: hold.created_at,
      created_by: `user:${owner.userId}`,
    });
    expect(await storedHolds(tenant)).toEqual([hold]);
    const [logged, ...more] = await entriesOf(owner, tenant, "sealtrail.hold.created");
    expect(more).toEqual([]);
    expect(logged!.seq).toBe(receipt.seq);
    expect(logged!.event).toMatchObject({
      action: "sealtrail.hold.created",
      actor: { id: owner.userId, type: "user" },
      targets: [{ id: hold.id, type: "legal_hold" }],
      outcome: "success",
      metadata: { hold_id: hold.id, reason: "Litigation: Doe v. Acme", scope: hold.scope },
    });
    const listed = (await (await listHolds(owner, tenant)).json()) as { holds: Hold[]; active: number };
    expect(listed).toEqual({ holds: [hold], active: 1 });
  });

  it("releasing logs sealtrail.hold.released with who and why; a second release is 409 and changes nothing; an unknown id is 404", async () => {
    const { owner, tenant } = await ownedTenant();
    const admin = await signUp("Grace");
    await join(owner, tenant, admin, "admin");
    const { hold } = (await (await createHold(owner, tenant, { reason: "case 17", scope: { kind: "actor", id: "u-42" } })).json()) as {
      hold: Hold;
    };
    const res = await releaseHold(admin, tenant, hold.id, { reason: "case settled" });
    expect(res.status).toBe(200);
    const released = (await res.json()) as { hold: Hold; receipt: { seq: number } };
    expect(released.hold).toEqual({
      ...hold,
      released_at: released.hold.released_at,
      released_by: `user:${admin.userId}`,
      release_reason: "case settled",
    });
    expect(await storedHolds(tenant)).toEqual([released.hold]);
    const [logged, ...more] = await entriesOf(owner, tenant, "sealtrail.hold.released");
    expect(more).toEqual([]);
    expect(logged!.seq).toBe(released.receipt.seq);
    expect(logged!.event).toMatchObject({
      actor: { id: admin.userId, type: "user" },
      targets: [{ id: hold.id, type: "legal_hold" }],
      metadata: {
        hold_id: hold.id,
        reason: "case settled",
        scope: { kind: "actor", id: "u-42" },
        hold_reason: "case 17",
        created_by: `user:${owner.userId}`,
        created_at: hold.created_at,
      },
    });

    const logged2 = await size(tenant);
    const again = await releaseHold(owner, tenant, hold.id, { reason: "again" });
    expect(again.status).toBe(409);
    const body = (await again.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("hold_already_released");
    expect(body.error.message).toContain(hold.id);
    expect(await storedHolds(tenant)).toEqual([released.hold]);

    const unknown = await releaseHold(owner, tenant, "hold_nope", { reason: "x" });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe("hold_not_found");
    expect(await size(tenant)).toBe(logged2);
    expect(await entriesOf(owner, tenant, "sealtrail.hold.released")).toHaveLength(1);
  });

  it("two concurrent releases of one hold: exactly one succeeds and is logged, the other is 409", async () => {
    const { owner, tenant } = await ownedTenant();
    const { hold } = (await (await createHold(owner, tenant, { reason: "r", scope: { kind: "tenant" } })).json()) as { hold: Hold };
    const answers = await Promise.all(["first", "second", "third"].map((reason) => releaseHold(owner, tenant, hold.id, { reason })));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409]);
    const won = (await answers.find((a) => a.status === 200)!.json()) as { hold: Hold };
    const logged = await entriesOf(owner, tenant, "sealtrail.hold.released");
    expect(logged).toHaveLength(1);
    expect((logged[0]!.event.metadata as { reason: string }).reason).toBe(won.hold.release_reason);
    expect(await storedHolds(tenant)).toEqual([won.hold]);
  });

  it.each([
    ["an empty actor id", { reason: "r", scope: { kind: "actor", id: "" } }, "invalid_hold"],
    ["to before from", { reason: "r", scope: { kind: "time", from: "2026-02-01T00:00:00Z", to: "2026-01-01T00:00:00Z" } }, "invalid_hold"],
    [
      "to equal to from",
      { reason: "r", scope: { kind: "time", from: "2026-01-01T01:00:00+01:00", to: "2026-01-01T00:00:00Z" } },
      "invalid_hold",
    ],
    ["an unparseable time", { reason: "r", scope: { kind: "time", from: "last tuesday", to: "2026-01-01T00:00:00Z" } }, "invalid_hold"],
    [
      "an impossible date",
      { reason: "r", scope: { kind: "time", from: "2026-02-30T00:00:00Z", to: "2026-03-01T00:00:00Z" } },
      "invalid_hold",
    ],
    ["an unknown kind", { reason: "r", scope: { kind: "everything" } }, "invalid_hold"],
    ["a huge target id", { reason: "r", scope: { kind: "target", id: "x".repeat(10_000) } }, "invalid_hold"],
    ["a huge reason", { reason: "x".repeat(100_000), scope: { kind: "tenant" } }, "invalid_hold"],
    ["no reason", { scope: { kind: "tenant" } }, "invalid_hold"],
    ["a blank reason", { reason: "   ", scope: { kind: "tenant" } }, "invalid_hold"],
    ["an extra scope field", { reason: "r", scope: { kind: "tenant", id: "u1" } }, "unknown_field"],
  ])("refuses %s with 400 and stores and logs nothing", async (_name, body, code) => {
    const { owner, tenant } = await ownedTenant();
    const before = await size(tenant);
    const res = await createHold(owner, tenant, body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    expect(await storedHolds(tenant)).toEqual([]);
    expect(await size(tenant)).toBe(before);
  });

  it("a blank release reason is 400 and the hold stays active", async () => {
    const { owner, tenant } = await ownedTenant();
    const { hold } = (await (await createHold(owner, tenant, { reason: "r", scope: { kind: "tenant" } })).json()) as { hold: Hold };
    const res = await releaseHold(owner, tenant, hold.id, { reason: " " });
    expect(res.status).toBe(400);
    expect(await storedHolds(tenant)).toEqual([hold]);
  });

  it("admins create and release; auditors (verify) list but cannot change; readers and writers cannot list", async () => {
    const { owner, tenant } = await ownedTenant();
    const auditor = await signUp("Ida");
    const member = await signUp("Max");
    await join(owner, tenant, auditor, "auditor");
    await join(owner, tenant, member, "member");
    const adminKey = await createKey(owner, tenant, ["admin"], "admin");
    const verifyKey = await createKey(owner, tenant, ["verify"], "verifier");
    const appendKey = await createKey(owner, tenant, ["append"], "writer");

    const viaKey = await createHold(adminKey, tenant, { reason: "by key", scope: { kind: "target", type: "doc", id: "d1" } });
    expect(viaKey.status).toBe(201);
    const { hold } = (await viaKey.json()) as { hold: Hold };
    expect(hold.created_by).toMatch(/^api_key:/);
    for (const who of [auditor, member, verifyKey, appendKey]) {
      expect((await createHold(who, tenant, { reason: "r", scope: { kind: "tenant" } })).status).toBe(403);
      expect((await releaseHold(who, tenant, hold.id, { reason: "r" })).status).toBe(403);
    }
    expect((await listHolds(auditor, tenant)).status).toBe(200);
    expect((await listHolds(verifyKey, tenant)).status).toBe(200);
    expect((await listHolds(member, tenant)).status).toBe(403);
    expect((await listHolds(appendKey, tenant)).status).toBe(403);
    expect((await listHolds(await signUp("Eve"), tenant)).status).toBe(404);
    expect(await storedHolds(tenant)).toEqual([hold]);
  });

  it("the retention period cannot be lowered while a hold is active: 409 naming the hold, nothing changed or logged", async () => {
    const { owner, tenant } = await ownedTenant();
    expect((await putSettings(owner, tenant, { retention_days: 3650 })).status).toBe(200);
    const { hold } = (await (
      await createHold(owner, tenant, { reason: "SEC inquiry 2026-04", scope: { kind: "actor", id: "cfo" } })
    ).json()) as {
      hold: Hold;
    };
    await createHold(owner, tenant, { reason: "second", scope: { kind: "tenant" } });
    expect(await settingsOf(owner, tenant)).toMatchObject({ retention_days: 3650, legal_hold: true });
    const before = await size(tenant);
    for (const patch of [{ retention_days: 3285 }, { retention_days: 365, seal_interval_seconds: 30 }]) {
      const res = await putSettings(owner, tenant, patch);
      expect(res.status, JSON.stringify(patch)).toBe(409);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe("legal_hold_active");
      expect(error.message).toContain(hold.id);
      expect(error.message).toContain("SEC inquiry 2026-04");
      expect(error.message).toContain("and 1 more");
    }
    expect(await size(tenant)).toBe(before);
    expect(await settingsOf(owner, tenant)).toMatchObject({ retention_days: 3650, seal_interval_seconds: 60 });
    // Raising it is allowed; after every hold is released, lowering is too.
    expect((await putSettings(owner, tenant, { retention_days: 4380 })).status).toBe(200);
    for (const h of await storedHolds(tenant)) expect((await releaseHold(owner, tenant, h.id, { reason: "done" })).status).toBe(200);
    expect(await settingsOf(owner, tenant)).toMatchObject({ retention_days: 4380, legal_hold: false });
    expect((await putSettings(owner, tenant, { retention_days: 1095 })).status).toBe(200);
    expect(await settingsOf(owner, tenant)).toMatchObject({ retention_days: 1095 });
  });

  it("a hold created concurrently with a lowering: the lowering is refused exactly when the hold committed first", async () => {
    const { owner, tenant } = await ownedTenant();
    const [held, lower] = await Promise.all([
      createHold(owner, tenant, { reason: "race", scope: { kind: "tenant" } }),
      putSettings(owner, tenant, { retention_days: 730 }),
    ]);
    expect(held.status).toBe(201);
    const holdSeq = ((await held.json()) as { receipt: { seq: number } }).receipt.seq;
    const changes = await entriesOf(owner, tenant, "sealtrail.settings.updated");
    if (lower.status === 200) {
      expect(changes).toHaveLength(1);
      expect(changes[0]!.seq).toBeLessThan(holdSeq);
      expect((await settingsOf(owner, tenant)).retention_days).toBe(730);
    } else {
      expect(lower.status).toBe(409);
      expect(changes).toHaveLength(0);
      expect((await settingsOf(owner, tenant)).retention_days).toBe(2555);
    }
  });

  it("legal_hold is no longer a setting: a PUT naming it is 400 and changes nothing; GET shows whether a hold is active", async () => {
    const { owner, tenant } = await ownedTenant();
    const before = await size(tenant);
    for (const patch of [{ legal_hold: true }, { legal_hold: false, retention_days: 3285 }]) {
      const res = await putSettings(owner, tenant, patch);
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe("legal_hold_not_a_setting");
      expect(error.message).toContain("/holds");
    }
    expect(await size(tenant)).toBe(before);
    expect(await settingsOf(owner, tenant)).toMatchObject({ legal_hold: false, retention_days: 2555 });
    expect(await storedHolds(tenant)).toEqual([]);
  });

  it("/stats counts the active holds", async () => {
    const { owner, tenant } = await ownedTenant();
    const stats = async () =>
      ((await (await api(`/v1/tenants/${tenant}/stats`, { headers: bearer(owner) })).json()) as { active_holds: number }).active_holds;
    expect(await stats()).toBe(0);
    const { hold } = (await (await createHold(owner, tenant, { reason: "a", scope: { kind: "tenant" } })).json()) as { hold: Hold };
    await createHold(owner, tenant, { reason: "b", scope: { kind: "actor", id: "u" } });
    expect(await stats()).toBe(2);
    await releaseHold(owner, tenant, hold.id, { reason: "done" });
    expect(await stats()).toBe(1);
  });

  it("a former legal_hold: true setting becomes a whole-tenant hold when the object starts, once", async () => {
    const { owner, tenant } = await ownedTenant();
    expect((await putSettings(owner, tenant, { retention_days: 3650 })).status).toBe(200);
    // As an object written before holds existed: the setting stored true.
    await runInDurableObject(logOf(tenant), async (_log: TenantLog, state) => {
      const store = new LogStore(state.storage.sql);
      store.writeSettings({ ...store.settings(), legalHold: true });
      // The object starting again over the same storage (openLog is what its constructor runs).
      const log = openLog(state, env);
      await log.start(undefined);
      expect(log.store.settings().legalHold).toBe(false);
      expect(log.holds.active()).toMatchObject([
        { id: LEGAL_HOLD_SETTING_HOLD_ID, scope: { kind: "tenant" }, created_by: "sealtrail:settings" },
      ]);
      // Starting again converts nothing more.
      await openLog(state, env).start(undefined);
      expect(log.holds.all()).toHaveLength(1);
    });
    // The running object obeys the converted hold, which is released like any other.
    const res = await putSettings(owner, tenant, { retention_days: 1825 });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain(LEGAL_HOLD_SETTING_HOLD_ID);
    expect((await releaseHold(owner, tenant, LEGAL_HOLD_SETTING_HOLD_ID, { reason: "matter closed" })).status).toBe(200);
    expect((await putSettings(owner, tenant, { retention_days: 1825 })).status).toBe(200);
  });
});
