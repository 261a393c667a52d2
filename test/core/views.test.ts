/** Views (src/core/views.ts): checking, membership, narrowing and intersection; runs in Node and workerd. */
import { describe, expect, it } from "vitest";
import { checkView, entryInView, entryTextInView, intersect, isWholeLog, narrows, type View, viewFactsOf } from "../../src/core/views";

const e = (receivedAt: string, action = "user.login", actorId = "u1", targets = [{ type: "doc", id: "d1" }]) => ({
  receivedAt,
  action,
  actorId,
  targets,
});

describe("checkView", () => {
  it("accepts the empty view (the whole log) and every field, normalizing times", () => {
    expect(checkView({})).toEqual({ ok: true, view: {} });
    expect(isWholeLog({})).toBe(true);
    const r = checkView({
      received_from: "2026-01-01T01:00:00+01:00",
      received_to: "2026-01-02T00:00:00.0005Z",
      action_prefix: "user",
      actor: "u1",
      target: { type: "org", id: "acme" },
    });
    expect(r).toEqual({
      ok: true,
      view: {
        received_from: "2026-01-01T00:00:00.000Z",
        received_to: "2026-01-02T00:00:00.001Z",
        action_prefix: "user",
        actor: "u1",
        target: { type: "org", id: "acme" },
      },
    });
  });

  it("refuses unknown fields, bad times, an empty window, bad prefixes and empty ids", () => {
    const bad = [
      null,
      [],
      "x",
      { foo: 1 },
      { received_from: "yesterday" },
      { received_to: 5 },
      { received_from: "2026-01-02T00:00:00Z", received_to: "2026-01-01T00:00:00Z" },
      { received_from: "2026-01-01T00:00:00Z", received_to: "2026-01-01T00:00:00Z" },
      { action_prefix: "user.*" },
      { action_prefix: "" },
      { action_prefix: "a".repeat(129) },
      { actor: "" },
      { actor: 1 },
      { target: { type: "org" } },
      { target: { id: "x", extra: 1 } },
      { target: "acme" },
    ];
    for (const v of bad) {
      const r = checkView(v);
      expect(r.ok, JSON.stringify(v)).toBe(false);
      if (!r.ok) expect(r.message).toMatch(/view/);
    }
  });
});

describe("entryInView", () => {
  it("the empty view holds every entry", () => {
    expect(entryInView({}, e("2026-01-01T00:00:00.000Z", "sealtrail.key.created", "x", []))).toBe(true);
  });

  it("received window: from inclusive, to exclusive, as instants", () => {
    const v: View = { received_from: "2026-01-01T00:00:00.000Z", received_to: "2026-01-02T00:00:00.000Z" };
    expect(entryInView(v, e("2025-12-31T23:59:59.999Z"))).toBe(false);
    expect(entryInView(v, e("2026-01-01T00:00:00.000Z"))).toBe(true);
    expect(entryInView(v, e("2026-01-01T23:59:59.999Z"))).toBe(true);
    expect(entryInView(v, e("2026-01-02T00:00:00.000Z"))).toBe(false);
    expect(entryInView(v, e("garbage"))).toBe(false);
  });

  it("action prefix matches the name and names under it, never a longer word", () => {
    const v: View = { action_prefix: "user" };
    expect(entryInView(v, e("2026-01-01T00:00:00Z", "user"))).toBe(true);
    expect(entryInView(v, e("2026-01-01T00:00:00Z", "user.login"))).toBe(true);
    expect(entryInView(v, e("2026-01-01T00:00:00Z", "username.set"))).toBe(false);
    expect(entryInView(v, e("2026-01-01T00:00:00Z", "doc.user"))).toBe(false);
  });

  it("actor and target (type when given) must match", () => {
    expect(entryInView({ actor: "u1" }, e("2026-01-01T00:00:00Z"))).toBe(true);
    expect(entryInView({ actor: "u2" }, e("2026-01-01T00:00:00Z"))).toBe(false);
    expect(entryInView({ target: { id: "d1" } }, e("2026-01-01T00:00:00Z"))).toBe(true);
    expect(entryInView({ target: { type: "doc", id: "d1" } }, e("2026-01-01T00:00:00Z"))).toBe(true);
    expect(entryInView({ target: { type: "org", id: "d1" } }, e("2026-01-01T00:00:00Z"))).toBe(false);
    expect(entryInView({ target: { id: "d1" } }, e("2026-01-01T00:00:00Z", "a", "u1", []))).toBe(false);
  });

  it("reads the facts from an entry's text; an unreadable entry is only in the whole log", () => {
    const text = JSON.stringify({
      event: { action: "user.login", actor: { id: "u1", type: "user" }, targets: [{ type: "org", id: "acme" }] },
      received_at: "2026-01-01T00:00:00.000Z",
    });
    expect(viewFactsOf(text)).toEqual({
      receivedAt: "2026-01-01T00:00:00.000Z",
      action: "user.login",
      actorId: "u1",
      targets: [{ type: "org", id: "acme" }],
    });
    expect(entryTextInView({ target: { id: "acme" } }, text)).toBe(true);
    expect(entryTextInView({ target: { id: "other" } }, text)).toBe(false);
    expect(entryTextInView({ actor: "u1" }, "{not json")).toBe(false);
    expect(entryTextInView({}, "{not json")).toBe(true);
  });
});

describe("narrows", () => {
  const outer: View = {
    received_from: "2026-01-01T00:00:00.000Z",
    received_to: "2026-02-01T00:00:00.000Z",
    action_prefix: "user",
    target: { type: "org", id: "acme" },
  };

  it("anything narrows the whole log; the same view narrows itself", () => {
    expect(narrows(outer, {})).toBe(true);
    expect(narrows(outer, outer)).toBe(true);
    expect(narrows({}, {})).toBe(true);
  });

  it("a narrower view narrows; dropping or widening any field does not", () => {
    expect(narrows({ ...outer, received_from: "2026-01-10T00:00:00.000Z", action_prefix: "user.login", actor: "u1" }, outer)).toBe(true);
    expect(narrows({}, outer)).toBe(false);
    expect(narrows({ ...outer, received_from: "2025-12-31T00:00:00.000Z" }, outer)).toBe(false);
    expect(narrows({ ...outer, received_to: undefined }, outer)).toBe(false);
    expect(narrows({ ...outer, received_to: "2026-02-01T00:00:00.001Z" }, outer)).toBe(false);
    expect(narrows({ ...outer, action_prefix: "use" }, outer)).toBe(false);
    expect(narrows({ ...outer, action_prefix: undefined }, outer)).toBe(false);
    expect(narrows({ ...outer, target: { id: "acme" } }, outer)).toBe(false);
    expect(narrows({ ...outer, target: { type: "org", id: "other" } }, outer)).toBe(false);
    expect(narrows({ actor: "u1" }, { actor: "u2" })).toBe(false);
    expect(narrows({ target: { type: "org", id: "acme" } }, { target: { id: "acme" } })).toBe(true);
  });
});

describe("intersect", () => {
  it("takes the later start, the earlier end, the longer prefix and the shared actor/target", () => {
    const a: View = { received_from: "2026-01-01T00:00:00.000Z", received_to: "2026-03-01T00:00:00.000Z", action_prefix: "user" };
    const b: View = { received_from: "2026-02-01T00:00:00.000Z", action_prefix: "user.login", actor: "u1", target: { id: "acme" } };
    expect(intersect(a, b)).toEqual({
      received_from: "2026-02-01T00:00:00.000Z",
      received_to: "2026-03-01T00:00:00.000Z",
      action_prefix: "user.login",
      actor: "u1",
      target: { id: "acme" },
    });
    expect(intersect({}, {})).toEqual({});
    expect(intersect({ target: { id: "x" } }, { target: { type: "org", id: "x" } })).toEqual({ target: { type: "org", id: "x" } });
  });

  it("is null when nothing can be in both", () => {
    expect(intersect({ received_to: "2026-01-01T00:00:00.000Z" }, { received_from: "2026-01-01T00:00:00.000Z" })).toBeNull();
    expect(intersect({ action_prefix: "user" }, { action_prefix: "doc" })).toBeNull();
    expect(intersect({ action_prefix: "user" }, { action_prefix: "username" })).toBeNull();
    expect(intersect({ actor: "a" }, { actor: "b" })).toBeNull();
    expect(intersect({ target: { id: "a" } }, { target: { id: "b" } })).toBeNull();
    expect(intersect({ target: { type: "x", id: "a" } }, { target: { type: "y", id: "a" } })).toBeNull();
  });

  it("the intersection narrows both, and holds exactly the entries both hold", () => {
    const a: View = { received_from: "2026-01-01T00:00:00.000Z", action_prefix: "user", target: { id: "d1" } };
    const b: View = { received_to: "2026-01-03T00:00:00.000Z", actor: "u1" };
    const i = intersect(a, b)!;
    expect(narrows(i, a) && narrows(i, b)).toBe(true);
    for (const ent of [
      e("2026-01-02T00:00:00Z"),
      e("2026-01-04T00:00:00Z"),
      e("2025-01-02T00:00:00Z"),
      e("2026-01-02T00:00:00Z", "doc.x"),
      e("2026-01-02T00:00:00Z", "user.x", "u2"),
      e("2026-01-02T00:00:00Z", "user.x", "u1", [{ type: "doc", id: "d2" }]),
    ]) {
      expect(entryInView(i, ent)).toBe(entryInView(a, ent) && entryInView(b, ent));
    }
  });
});
