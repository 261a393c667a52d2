/** The tenant's legal holds in its Durable Object's SQLite (src/durable/holds.ts), over real DO storage. */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { HOLD_LIMITS } from "../../src/core/holds";
import { HoldStore } from "../../src/durable/holds";
import type { TenantLog } from "../../src/durable/tenant-log";

const T0 = Date.UTC(2026, 0, 1);
let objects = 0;

/** Runs `fn` inside a fresh TenantLog object with a HoldStore over its storage and a clock it controls. */
async function inObject<R>(fn: (holds: HoldStore, clock: { ms: number }, state: DurableObjectState) => R): Promise<R> {
  const stub = env.TENANT_LOG.get(env.TENANT_LOG.idFromName(`holds-store-${objects++}-${crypto.randomUUID()}`));
  return runInDurableObject(stub, (_log: TenantLog, state) => {
    const clock = { ms: T0 };
    return fn(new HoldStore(state.storage.sql, () => clock.ms), clock, state);
  });
}

describe("HoldStore", () => {
  it("creates holds that are active and listed, with their scope, reason, creator and time, and keeps them in storage", async () => {
    await inObject((holds, clock, state) => {
      expect(holds.active()).toEqual([]);
      const a = holds.create({ reason: "case 17", scope: { kind: "actor", id: "u1" }, by: "user-1" });
      clock.ms += 1000;
      const b = holds.create({
        reason: "audit",
        scope: { kind: "time", from: "2026-01-01T01:00:00+01:00", to: "2026-01-02T00:00:00Z" },
        by: "key-9",
      });
      expect(a.ok && b.ok).toBe(true);
      if (!a.ok || !b.ok) return;
      expect(a.hold).toEqual({
        id: a.hold.id,
        reason: "case 17",
        scope: { kind: "actor", id: "u1" },
        created_at: "2026-01-01T00:00:00.000Z",
        created_by: "user-1",
      });
      expect(a.hold.id).toMatch(/^hold_[0-9a-f-]{36}$/);
      // The stored scope is the checked form (UTC times).
      expect(b.hold.scope).toEqual({ kind: "time", from: "2026-01-01T00:00:00.000Z", to: "2026-01-02T00:00:00.000Z" });
      expect(b.hold.created_at).toBe("2026-01-01T00:00:01.000Z");
      // A second store over the same storage (the object restarted) sees the same rows.
      const again = new HoldStore(state.storage.sql, () => 0);
      expect(again.active()).toEqual([a.hold, b.hold]);
      expect(again.all()).toEqual([a.hold, b.hold]);
      expect(again.get(b.hold.id)).toEqual(b.hold);
    });
  });

  it("releases a hold once: it leaves active(), stays in all() with who, when and why; a second release changes nothing", async () => {
    await inObject((holds, clock) => {
      const created = holds.create({ id: "h1", reason: "case 17", scope: { kind: "tenant" }, by: "owner" });
      expect(created.ok).toBe(true);
      clock.ms += 60_000;
      const released = holds.release("h1", { reason: "case closed", by: "admin-2" });
      expect(released).toEqual({
        ok: true,
        hold: {
          id: "h1",
          reason: "case 17",
          scope: { kind: "tenant" },
          created_at: "2026-01-01T00:00:00.000Z",
          created_by: "owner",
          released_at: "2026-01-01T00:01:00.000Z",
          released_by: "admin-2",
          release_reason: "case closed",
        },
      });
      expect(holds.active()).toEqual([]);
      clock.ms += 60_000;
      expect(holds.release("h1", { reason: "again", by: "someone-else" })).toEqual({
        ok: false,
        error: { reason: "hold_already_released", id: "h1", releasedAt: "2026-01-01T00:01:00.000Z", releasedBy: "admin-2" },
      });
      expect(holds.all()).toEqual([released.ok ? released.hold : undefined]);
      expect(holds.release("nope", { reason: "x", by: "y" })).toEqual({ ok: false, error: { reason: "hold_not_found", id: "nope" } });
    });
  });

  it("refuses a bad scope or reason and stores nothing", async () => {
    await inObject((holds) => {
      const bad = [
        { reason: "r", scope: { kind: "actor", id: "" } },
        { reason: "r", scope: { kind: "time", from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z" } },
        { reason: "r", scope: { kind: "time", from: "soon", to: "2026-01-01T00:00:00Z" } },
        { reason: "r", scope: { kind: "everything" } },
        { reason: "r", scope: { kind: "target", id: "x".repeat(HOLD_LIMITS.id + 1) } },
        { reason: "", scope: { kind: "tenant" } },
        { reason: "x".repeat(HOLD_LIMITS.reason + 1), scope: { kind: "tenant" } },
      ];
      for (const b of bad) {
        const r = holds.create({ ...(b as { reason: string; scope: { kind: "tenant" } }), by: "u" });
        expect(r.ok, JSON.stringify(b).slice(0, 80)).toBe(false);
        if (!r.ok) expect(r.error.reason).toBe("invalid_hold");
      }
      expect(holds.all()).toEqual([]);
      holds.create({ id: "h", reason: "r", scope: { kind: "tenant" }, by: "u" });
      expect(holds.release("h", { reason: " ", by: "u" })).toMatchObject({ ok: false, error: { reason: "invalid_hold", path: "reason" } });
      expect(holds.active().map((h) => h.id)).toEqual(["h"]);
    });
  });

  it(`keeps at most ${HOLD_LIMITS.active} active holds; a released one frees a place`, async () => {
    await inObject((holds) => {
      for (let i = 0; i < HOLD_LIMITS.active; i++) {
        expect(holds.create({ id: `h${i}`, reason: "r", scope: { kind: "actor", id: `u${i}` }, by: "u" }).ok).toBe(true);
      }
      expect(holds.create({ reason: "r", scope: { kind: "tenant" }, by: "u" })).toEqual({
        ok: false,
        error: { reason: "too_many_holds", limit: HOLD_LIMITS.active },
      });
      expect(holds.all()).toHaveLength(HOLD_LIMITS.active);
      expect(holds.release("h0", { reason: "done", by: "u" }).ok).toBe(true);
      expect(holds.create({ id: "last", reason: "r", scope: { kind: "tenant" }, by: "u" }).ok).toBe(true);
      expect(holds.active()).toHaveLength(HOLD_LIMITS.active);
    });
  });

  it("a creation in a transaction that fails leaves no hold", async () => {
    await inObject((holds, _clock, state) => {
      expect(() =>
        state.storage.transactionSync(() => {
          holds.create({ id: "rolled-back", reason: "r", scope: { kind: "tenant" }, by: "u" });
          throw new Error("the entry could not be appended");
        }),
      ).toThrow(/could not be appended/);
      expect(holds.all()).toEqual([]);
    });
  });
});
