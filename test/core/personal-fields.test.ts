/** src/core/personal-fields.ts: declared paths, the encrypted-field form and its length, the subject. */
import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../src/core/entry";
import {
  encryptedFieldLength,
  encryptedFields,
  formatEncryptedField,
  parseEncryptedField,
  personalFieldsProblem,
  personalPaths,
  replaceAt,
  subjectHash,
  subjectOf,
} from "../../src/core/personal-fields";

describe("personal fields (pure)", () => {
  it("accepts the documented paths and refuses the rest with a reason", () => {
    expect(personalFieldsProblem(["actor.name", "targets[].name", "context.ip", "metadata.a", "metadata.a.b.c"])).toBeUndefined();
    for (const bad of [
      ["actor.id"],
      ["actor.email"],
      ["metadata"],
      ["metadata."],
      ["context.a.b"],
      ["event.x"],
      ["metadata.a[0]"],
      ["x".repeat(300)],
    ]) {
      expect(personalFieldsProblem(bad), bad[0]).toBeTypeOf("string");
    }
    expect(personalFieldsProblem(["actor.name", "actor.name"])).toContain("twice");
    expect(personalFieldsProblem(Array.from({ length: 33 }, (_, i) => `metadata.k${i}`))).toContain("at most 32");
  });

  it("finds the concrete paths an event holds, in declaration order, and replaces them without touching the input", () => {
    const event: JsonObject = {
      actor: { id: "u1", type: "user", name: "Ada" },
      targets: [
        { id: "d", type: "doc", name: "Notes" },
        { id: "e", type: "doc" },
      ],
      metadata: { profile: { phone: 5 } },
    };
    const paths = personalPaths(event, ["metadata.profile.phone", "targets[].name", "actor.name", "metadata.absent", "context.ip"]);
    expect(paths).toEqual([
      ["metadata", "profile", "phone"],
      ["targets", 0, "name"],
      ["actor", "name"],
    ]);
    const out = replaceAt(
      event,
      paths.map((path) => ({ path, value: "X" })),
    );
    expect(out).toEqual({
      actor: { id: "u1", type: "user", name: "X" },
      targets: [
        { id: "d", type: "doc", name: "X" },
        { id: "e", type: "doc" },
      ],
      metadata: { profile: { phone: "X" } },
    });
    expect((event.actor as JsonObject).name).toBe("Ada");
    // A path read back from its shown form (numbers for numeric keys) still finds object keys.
    expect(replaceAt({ metadata: { "0": "a" } }, [{ path: ["metadata", 0], value: "b" }])).toEqual({ metadata: { "0": "b" } });
  });

  it("the encrypted-field form round-trips, is recognised anywhere in an event, and has the length entry-size.ts counts", () => {
    for (const n of [0, 1, 2, 3, 100, 1000]) {
      const sealed = new Uint8Array(n + 16).fill(1);
      const text = formatEncryptedField("0123456789abcdef", new Uint8Array(12).fill(2), sealed);
      expect(text.length).toBe(encryptedFieldLength(n));
      expect(parseEncryptedField(text)).toEqual({ kid: "0123456789abcdef", nonce: new Uint8Array(12).fill(2), sealed });
      expect(encryptedFields({ a: [1, { b: text }], c: "sealtrail:enc:v1:nothex:AAAA" }).map((f) => f.path)).toEqual([["a", 1, "b"]]);
    }
    expect(parseEncryptedField("sealtrail:enc:v1:0123456789abcdef:AAAA")).toBeUndefined();
    expect(parseEncryptedField("Ada")).toBeUndefined();
  });

  it("the subject is `subject`, else actor.id; its hash is bound to the tenant", () => {
    expect(subjectOf({ actor: { id: "u1", type: "user" } })).toBe("u1");
    expect(subjectOf({ subject: "p7", actor: { id: "u1", type: "user" } })).toBe("p7");
    expect(subjectHash("t1", "u1")).toMatch(/^[0-9a-f]{64}$/);
    expect(subjectHash("t1", "u1")).not.toBe(subjectHash("t2", "u1"));
  });
});
