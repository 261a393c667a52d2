/** Legal holds' scope checks and what each scope covers (src/core/holds.ts); runs in Node and workerd. */
import { describe, expect, it } from "vitest";
import {
  checkHoldReason,
  checkHoldScope,
  HOLD_LIMITS,
  holdCoversEntry,
  holdCoversSubject,
  holdCoveringEntry,
  parseRfc3339,
  type Hold,
  type HoldScope,
} from "../../src/core/holds";

const entry = (receivedAt: string, actorId = "u1", targets = [{ type: "doc", id: "d1" }]) => ({ receivedAt, actorId, targets });

describe("holdCoversEntry", () => {
  it("tenant covers every entry", () => {
    expect(holdCoversEntry({ kind: "tenant" }, entry("2020-01-01T00:00:00.000Z", "anyone", []))).toBe(true);
  });

  it("time covers received_at in [from, to), comparing instants whatever the offset", () => {
    const scope: HoldScope = { kind: "time", from: "2026-01-01T00:00:00.000Z", to: "2026-02-01T00:00:00.000Z" };
    expect(holdCoversEntry(scope, entry("2025-12-31T23:59:59.999Z"))).toBe(false);
    expect(holdCoversEntry(scope, entry("2026-01-01T00:00:00.000Z"))).toBe(true);
    expect(holdCoversEntry(scope, entry("2026-01-31T23:59:59.999Z"))).toBe(true);
    expect(holdCoversEntry(scope, entry("2026-02-01T00:00:00.000Z"))).toBe(false);
    const offset: HoldScope = { kind: "time", from: "2026-01-01T01:00:00+01:00", to: "2026-01-01T02:00:00+01:00" };
    expect(holdCoversEntry(offset, entry("2025-12-31T23:59:59.999Z"))).toBe(false);
    expect(holdCoversEntry(offset, entry("2026-01-01T00:00:00.000Z"))).toBe(true);
    expect(holdCoversEntry(offset, entry("2026-01-01T01:00:00.000Z"))).toBe(false);
  });

  it("an unreadable received_at is kept (covered) by a time hold", () => {
    expect(holdCoversEntry({ kind: "time", from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z" }, entry("garbage"))).toBe(true);
  });

  it("actor covers exactly that actor id", () => {
    expect(holdCoversEntry({ kind: "actor", id: "u1" }, entry("2026-01-01T00:00:00Z", "u1"))).toBe(true);
    expect(holdCoversEntry({ kind: "actor", id: "u1" }, entry("2026-01-01T00:00:00Z", "u10"))).toBe(false);
    expect(holdCoversEntry({ kind: "actor", id: "U1" }, entry("2026-01-01T00:00:00Z", "u1"))).toBe(false);
  });

  it("target covers any target with that id, and that type when the hold names one", () => {
    const e = entry("2026-01-01T00:00:00Z", "u1", [
      { type: "doc", id: "d1" },
      { type: "user", id: "u2" },
    ]);
    expect(holdCoversEntry({ kind: "target", id: "u2" }, e)).toBe(true);
    expect(holdCoversEntry({ kind: "target", type: "user", id: "u2" }, e)).toBe(true);
    expect(holdCoversEntry({ kind: "target", type: "doc", id: "u2" }, e)).toBe(false);
    expect(holdCoversEntry({ kind: "target", id: "u1" }, e)).toBe(false);
    expect(holdCoversEntry({ kind: "target", id: "d1" }, entry("2026-01-01T00:00:00Z", "u1", []))).toBe(false);
  });

  it("holdCoveringEntry names the first hold that covers an entry", () => {
    const hold = (id: string, scope: HoldScope): Hold => ({ id, reason: "r", scope, created_at: "", created_by: "x" });
    const holds = [hold("a", { kind: "actor", id: "zz" }), hold("b", { kind: "target", id: "d1" })];
    expect(holdCoveringEntry(holds, entry("2026-01-01T00:00:00Z"))?.id).toBe("b");
    expect(holdCoveringEntry(holds.slice(0, 1), entry("2026-01-01T00:00:00Z"))).toBeUndefined();
  });
});

describe("holdCoversSubject", () => {
  it("tenant and time holds cover everyone; actor and target holds their id", () => {
    expect(holdCoversSubject({ kind: "tenant" }, "anyone")).toBe(true);
    expect(holdCoversSubject({ kind: "time", from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z" }, "anyone")).toBe(true);
    expect(holdCoversSubject({ kind: "actor", id: "u1" }, "u1")).toBe(true);
    expect(holdCoversSubject({ kind: "actor", id: "u1" }, "u2")).toBe(false);
    expect(holdCoversSubject({ kind: "target", type: "user", id: "u1" }, "u1")).toBe(true);
    expect(holdCoversSubject({ kind: "target", id: "u1" }, "u2")).toBe(false);
  });
});

describe("checkHoldScope", () => {
  it("accepts each kind and returns the stored form (UTC ms times, from rounded down, to up)", () => {
    expect(checkHoldScope({ kind: "tenant" })).toEqual({ ok: true, scope: { kind: "tenant" } });
    expect(checkHoldScope({ kind: "actor", id: "u1" })).toEqual({ ok: true, scope: { kind: "actor", id: "u1" } });
    expect(checkHoldScope({ kind: "target", id: "d1" })).toEqual({ ok: true, scope: { kind: "target", id: "d1" } });
    expect(checkHoldScope({ kind: "target", type: "doc", id: "d1" })).toEqual({
      ok: true,
      scope: { kind: "target", type: "doc", id: "d1" },
    });
    expect(checkHoldScope({ kind: "time", from: "2026-01-01T01:00:00.0004+01:00", to: "2026-01-01T00:00:00.0001Z" })).toEqual({
      ok: true,
      scope: { kind: "time", from: "2026-01-01T00:00:00.000Z", to: "2026-01-01T00:00:00.001Z" },
    });
  });

  it.each([
    ["not an object", "tenant", "scope"],
    ["an unknown kind", { kind: "everything" }, "scope.kind"],
    ["no kind", { id: "u1" }, "scope.kind"],
    ["an extra field", { kind: "tenant", id: "u1" }, "scope.id"],
    ["an empty actor id", { kind: "actor", id: "" }, "scope.id"],
    ["a blank actor id", { kind: "actor", id: "   " }, "scope.id"],
    ["a missing target id", { kind: "target", type: "doc" }, "scope.id"],
    ["an empty target type", { kind: "target", type: "", id: "d1" }, "scope.type"],
    ["a huge id", { kind: "actor", id: "x".repeat(HOLD_LIMITS.id + 1) }, "scope.id"],
    ["a huge type", { kind: "target", type: "x".repeat(HOLD_LIMITS.type + 1), id: "d1" }, "scope.type"],
    ["a numeric id", { kind: "actor", id: 7 }, "scope.id"],
    ["to = from", { kind: "time", from: "2026-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z" }, "scope.to"],
    ["to < from", { kind: "time", from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z" }, "scope.to"],
    ["to = from written with another offset", { kind: "time", from: "2026-01-01T01:00:00+01:00", to: "2026-01-01T00:00:00Z" }, "scope.to"],
    ["an unparseable from", { kind: "time", from: "yesterday", to: "2026-01-01T00:00:00Z" }, "scope.from"],
    ["a date without time", { kind: "time", from: "2026-01-01", to: "2026-01-02T00:00:00Z" }, "scope.from"],
    ["no offset", { kind: "time", from: "2026-01-01T00:00:00", to: "2026-01-02T00:00:00Z" }, "scope.from"],
    ["February 30", { kind: "time", from: "2026-01-01T00:00:00Z", to: "2026-02-30T00:00:00Z" }, "scope.to"],
    ["a leap second", { kind: "time", from: "2016-12-31T23:59:60Z", to: "2017-01-02T00:00:00Z" }, "scope.from"],
    ["a numeric time", { kind: "time", from: 0, to: "2026-01-02T00:00:00Z" }, "scope.from"],
    ["a missing to", { kind: "time", from: "2026-01-01T00:00:00Z" }, "scope.to"],
    ["a huge time", { kind: "time", from: `2026-01-01T00:00:00.${"0".repeat(100)}Z`, to: "2027-01-01T00:00:00Z" }, "scope.from"],
  ])("refuses %s", (_name, scope, path) => {
    const r = checkHoldScope(scope);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem.path).toBe(path);
  });
});

describe("checkHoldReason and parseRfc3339", () => {
  it("a reason is a non-blank string within the limit", () => {
    expect(checkHoldReason("litigation 2026-17")).toEqual({ ok: true, reason: "litigation 2026-17" });
    expect(checkHoldReason("").ok).toBe(false);
    expect(checkHoldReason(" \n").ok).toBe(false);
    expect(checkHoldReason(null).ok).toBe(false);
    expect(checkHoldReason("x".repeat(HOLD_LIMITS.reason)).ok).toBe(true);
    expect(checkHoldReason("x".repeat(HOLD_LIMITS.reason + 1)).ok).toBe(false);
  });

  it("parses RFC 3339 as the instant it names", () => {
    expect(parseRfc3339("2026-11-30T07:51:06.123Z")).toBe(Date.UTC(2026, 10, 30, 7, 51, 6, 123));
    expect(parseRfc3339("2026-11-30t08:51:06-00:00")).toBe(Date.UTC(2026, 10, 30, 8, 51, 6));
    expect(parseRfc3339("2024-02-29T00:00:00Z")).toBe(Date.UTC(2024, 1, 29));
    expect(parseRfc3339("2025-02-29T00:00:00Z")).toBeUndefined();
    expect(parseRfc3339("2026-11-30T24:00:00Z")).toBeUndefined();
    expect(parseRfc3339("1969-12-31T23:59:59Z")).toBeUndefined();
  });
});
