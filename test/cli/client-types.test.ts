import { describe, expect, expectTypeOf, it } from "vitest";
import type { z } from "zod";
import type { AuditEvent, ReceiptError } from "../../src/client/index";
import type { TlogProofError } from "../../src/core/tlog-proof";
import { Event } from "../../src/worker/event-schema";

// The SDK's types are written out (its dist/client.d.ts imports nothing); these checks hold
// them to the server's schema and the core's failures.
describe("sealtrail/client types", () => {
  it("AuditEvent is what the server's zod schema takes, no more and no less", () => {
    // Each assignable to the other (the checks run in `npm run typecheck`).
    expectTypeOf<AuditEvent>().toExtend<z.input<typeof Event>>();
    expectTypeOf<z.input<typeof Event>>().toExtend<AuditEvent>();
    // …with the same fields (an extra optional one would pass the two checks above).
    expectTypeOf<keyof AuditEvent>().toEqualTypeOf<keyof z.input<typeof Event>>();
    expectTypeOf<keyof AuditEvent["actor"]>().toEqualTypeOf<keyof z.input<typeof Event>["actor"]>();
    const sample: AuditEvent = { action: "user.login", actor: { id: "u_42", type: "user" }, outcome: "success" };
    expect(Event.safeParse(sample).success).toBe(true);
  });

  it("every failure the core reports is a ReceiptError", () => {
    expectTypeOf<TlogProofError>().toExtend<ReceiptError>();
  });
});
