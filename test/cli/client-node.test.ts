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

describe("sealtrail/client source numbering on Node", () => {
  type Sent = { events: { source?: { id: string; seq: number }; idempotency_key: string }[] };
  const load = async () => (await import("../../dist/client.mjs" as string)) as typeof import("../../src/client/index");
  /** A server stand-in that fails the first `failures` requests (network errors) and records every body. */
  const flaky = (failures: number) => {
    const bodies: Sent[] = [];
    const f: typeof fetch = async (_url, init) => {
      const body = JSON.parse(String(init?.body)) as Sent;
      bodies.push(body);
      if (bodies.length <= failures) throw new TypeError("network down");
      const receipts = body.events.map((_, i) => ({ seq: i, leaf_hash: "", received_at: "", tree_size: 0 }));
      return new Response(JSON.stringify({ receipts }), { status: 201 });
    };
    return { f, bodies };
  };
  const event = { action: "a.b", actor: { id: "u", type: "user" }, outcome: "success" } as const;

  it("numbers a source's events 0, 1, 2 …, keeps the counter in a file a new client continues from, and retries reuse the numbers", async () => {
    const { SealtrailClient, fileCounterStore } = await load();
    const { mkdtempSync, readFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const file = `${mkdtempSync(`${tmpdir()}/sealtrail-counter-`)}/counter.json`;
    const first = flaky(1);
    const opts = { baseUrl: "http://sealtrail.invalid", tenant: "t", key: "st_x", maxBatchDelayMs: 1, sleep: async () => {} };
    const a = new SealtrailClient({ ...opts, fetch: first.f, source: "billing", counterStore: fileCounterStore(file) });
    await Promise.all([a.log(event), a.log(event), a.log(event)]);
    // The failed attempt and its retry carry the same numbers and keys.
    expect(first.bodies).toHaveLength(2);
    expect(first.bodies[0]).toEqual(first.bodies[1]);
    expect(first.bodies[0]!.events.map((e) => e.source)).toEqual([0, 1, 2].map((seq) => ({ id: "billing", seq })));
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ billing: 3 });
    // A process that restarts with the same file goes on from 3; an event that names its own source keeps it.
    const second = flaky(0);
    const b = new SealtrailClient({ ...opts, fetch: second.f, source: "billing", counterStore: fileCounterStore(file) });
    expect(b.nextSourceSeq).toBe(3);
    await Promise.all([b.log(event), b.log({ ...event, source: { id: "other", seq: 7 } })]);
    expect(second.bodies[0]!.events.map((e) => e.source)).toEqual([
      { id: "billing", seq: 3 },
      { id: "other", seq: 7 },
    ]);
    expect(b.nextSourceSeq).toBe(4);
  });

  it("without a store that persists, a new client starts at 0 again (the log counts a restart, not a gap)", async () => {
    const { SealtrailClient } = await load();
    const opts = { baseUrl: "http://sealtrail.invalid", tenant: "t", key: "st_x", maxBatchDelayMs: 1, source: "s" };
    const one = flaky(0);
    await new SealtrailClient({ ...opts, fetch: one.f }).log(event);
    const two = flaky(0);
    await new SealtrailClient({ ...opts, fetch: two.f }).log(event);
    expect([one.bodies[0]!.events[0]!.source, two.bodies[0]!.events[0]!.source]).toEqual([
      { id: "s", seq: 0 },
      { id: "s", seq: 0 },
    ]);
  });
});
