import { describe, expect, it } from "vitest";

// The bundled SDK (dist/client.mjs, built by `npm run build`) as a Node app would load it.
describe("sealtrail/client on Node", () => {
  it("loads from the bundle and batches events into one request with idempotency keys", async () => {
    const { SealtrailClient } = (await import("../../dist/client.mjs" as string)) as typeof import("../../src/client/index");
    const bodies: { events: { idempotency_key: string }[] }[] = [];
    const client = new SealtrailClient({
      baseUrl: "http://sealtrail.invalid",
      tenant: "t1",
      key: "st_test",
      maxBatchDelayMs: 5,
      fetch: async (_url, init) => {
        const body = JSON.parse(String(init?.body)) as { events: { idempotency_key: string }[] };
        bodies.push(body);
        const receipts = body.events.map((_, i) => ({ seq: i, leaf_hash: "", received_at: "", tree_size: body.events.length }));
        return new Response(JSON.stringify({ receipts }), { status: 201 });
      },
    });
    const receipts = await Promise.all(
      [1, 2, 3].map((i) => client.log({ action: "a.b", actor: { id: `u${i}`, type: "user" }, outcome: "success", targets: [] })),
    );
    expect(receipts.map((r) => r.seq)).toEqual([0, 1, 2]);
    expect(bodies).toHaveLength(1);
    expect(new Set(bodies[0]!.events.map((e) => e.idempotency_key)).size).toBe(3);
  });
});
