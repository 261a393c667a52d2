import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CompactRange } from "../../src/core/merkle";
import { LogStore } from "../../src/durable/log-store";
import { writeToD1 } from "../../src/durable/audit-events";
import { sequenceGroup } from "../../src/durable/sequencer";
import { MAX_QUEUED_EVENTS } from "../../src/durable/group-commit";
import type { Log, TenantLog } from "../../src/durable/tenant-log";
import { toHttp } from "../../src/worker/errors";
import { event, logOf, postEvent, tenantWithKeys, dbOf, mirrored } from "../worker/helpers";
import { idempotencyWindowMs, IDEMPOTENCY_WINDOW_DEFAULT_MS } from "../../src/durable/tenant-log";
import { IDEMPOTENCY_SWEEP_CHUNK } from "../../src/durable/idempotency";
import { MIRROR_LAG_ALERT_MS, yieldToQueued } from "../../src/durable/mirror";
import type { JsonObject } from "../../src/core/entry";
import { afterCommitStorage, appendVia, blockingD1, failingD1, withLog } from "./faults";

const d1Count = async (tenant: string, table = "audit_events") =>
  (await (await dbOf(tenant)).prepare(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = ?`).bind(tenant).first<{ n: number }>())!.n;

async function d1Seqs(tenant: string): Promise<number[]> {
  const { results } = await (await dbOf(tenant))
    .prepare("SELECT seq FROM audit_events WHERE tenant_id = ? ORDER BY seq")
    .bind(tenant)
    .all<{ seq: number }>();
  return results.map((r) => r.seq);
}

describe("D1 has no update path", () => {
  it("UPDATE and DELETE of audit rows are aborted by triggers", async () => {
    const { tenant, appendKey } = await tenantWithKeys();
    expect((await postEvent(tenant, appendKey, event())).status).toBe(201);
    await mirrored(tenant);
    for (const sql of [
      "UPDATE audit_events SET entry = 'forged' WHERE tenant_id = ?",
      "DELETE FROM audit_events WHERE tenant_id = ?",
      "UPDATE audit_event_targets SET target_id = 'forged' WHERE tenant_id = ?",
      "DELETE FROM audit_event_targets WHERE tenant_id = ?",
    ]) {
      await expect((await dbOf(tenant)).prepare(sql).bind(tenant).run(), sql).rejects.toThrow(/append-only/);
    }
    const row = await (await dbOf(tenant))
      .prepare("SELECT entry FROM audit_events WHERE tenant_id = ? AND action = 'user.login'")
      .bind(tenant)
      .first<{ entry: string }>();
    expect(row!.entry).toContain('"action":"user.login"');
  });

  // REPLACE deletes the conflicting row without firing DELETE triggers (recursive_triggers is
  // off), so without a BEFORE INSERT trigger it rewrites a row past the UPDATE/DELETE triggers.
  it("INSERT OR REPLACE, REPLACE INTO and UPSERT DO UPDATE cannot rewrite an audit row", async () => {
    const { tenant, appendKey } = await tenantWithKeys();
    expect((await postEvent(tenant, appendKey, event(), { "idempotency-key": "replace-me" })).status).toBe(201);
    await mirrored(tenant);
    const snapshot = async () => ({
      events: (await (await dbOf(tenant)).prepare("SELECT * FROM audit_events WHERE tenant_id = ?").bind(tenant).all()).results,
      targets: (await (await dbOf(tenant)).prepare("SELECT * FROM audit_event_targets WHERE tenant_id = ?").bind(tenant).all()).results,
    });
    const before = await snapshot();
    const row = before.events[0] as Record<string, string | number | null>;
    const forged = String(row.entry).replace("user.login", "user.logon");
    const cols = "(tenant_id, seq, entry, leaf_hash, received_at, occurred_at, action, actor_id, actor_type, outcome, idempotency_key)";
    const values = [
      tenant,
      0,
      forged,
      row.leaf_hash,
      row.received_at,
      row.occurred_at,
      "user.logon",
      row.actor_id,
      row.actor_type,
      row.outcome,
      row.idempotency_key,
    ];
    for (const verb of ["INSERT OR REPLACE INTO", "REPLACE INTO"]) {
      const sql = `${verb} audit_events ${cols} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
      await expect(
        (await dbOf(tenant))
          .prepare(sql)
          .bind(...values)
          .run(),
        verb,
      ).rejects.toThrow(/append-only/);
      // A new seq that reuses the row's idempotency key would replace it through the UNIQUE index.
      await expect(
        (await dbOf(tenant))
          .prepare(sql)
          .bind(...[tenant, 1, ...values.slice(2)])
          .run(),
        `${verb} (unique key)`,
      ).rejects.toThrow(/append-only/);
      const target = `${verb} audit_event_targets (tenant_id, seq, position, target_id, target_type) VALUES (?, 0, 0, 'forged', 'application')`;
      await expect((await dbOf(tenant)).prepare(target).bind(tenant).run(), target).rejects.toThrow(/append-only/);
    }
    const upsert = `INSERT INTO audit_events ${cols} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, seq) DO UPDATE SET entry = excluded.entry`;
    await expect(
      (await dbOf(tenant))
        .prepare(upsert)
        .bind(...values)
        .run(),
    ).rejects.toThrow(/append-only/);
    expect(await snapshot()).toEqual(before);
  });

  it("a re-driven mirror still inserts idempotently: an identical row is skipped, a different one is refused", async () => {
    const { tenant, appendKey } = await tenantWithKeys();
    const res = await postEvent(tenant, appendKey, event());
    expect(res.status).toBe(201);
    // The entry under test (the keys' creation entries come before it).
    const { seq } = (await res.json()) as { seq: number };
    await mirrored(tenant);
    const rowOf = "SELECT * FROM audit_events WHERE tenant_id = ? AND seq = ?";
    const before = await (await dbOf(tenant)).prepare(rowOf).bind(tenant, seq).first<Record<string, string | number | null>>();
    const entries = await runInDurableObject(logOf(tenant), (_log: TenantLog, state) => new LogStore(state.storage.sql).entries(seq, 10));
    // The mirror's own write, repeated (as after a lost D1 reply): nothing changes, nothing fails.
    await writeToD1(await dbOf(tenant), entries);
    await writeToD1(await dbOf(tenant), entries);
    // A plain INSERT … ON CONFLICT DO NOTHING of the identical row (an older Worker's mirror) is skipped too.
    const cols = Object.keys(before!);
    const insert = `INSERT INTO audit_events (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")}) ON CONFLICT (tenant_id, seq) DO NOTHING`;
    await (await dbOf(tenant))
      .prepare(insert)
      .bind(...Object.values(before!))
      .run();
    // …but a different row under the same key is refused, even with DO NOTHING.
    const other = { ...before!, action: "user.logon" };
    await expect(
      (await dbOf(tenant))
        .prepare(insert)
        .bind(...Object.values(other))
        .run(),
    ).rejects.toThrow(/append-only/);
    expect(
      await (await dbOf(tenant))
        .prepare(rowOf)
        .bind(tenant, seq)
        .all()
        .then((r) => r.results),
    ).toEqual([before]);
    const targets = await (await dbOf(tenant))
      .prepare("SELECT count(*) AS n FROM audit_event_targets WHERE tenant_id = ? AND seq = ?")
      .bind(tenant, seq)
      .first<{ n: number }>();
    expect(targets?.n).toBe(1);
  });
});

describe("the D1 mirror and its outbox", () => {
  for (const mode of ["before", "after"] as const) {
    it(`re-drives the mirror after D1 fails ${mode} the write, losing nothing and duplicating nothing`, async () => {
      // Sizes count from `base`: the keys' creation entries come first.
      const { tenant, appendKey, base } = await tenantWithKeys();
      const stub = logOf(tenant);
      expect((await postEvent(tenant, appendKey, event())).status).toBe(201);
      await mirrored(tenant);
      // The log's parts over this object's storage, with a D1 that fails (faults.ts).
      await withLog(stub, tenant, { db: failingD1(await dbOf(tenant), mode) }, async (log) => {
        // D1 is failing: appends are acknowledged at the commit, from DO storage.
        for (let i = 0; i < 5; i++) {
          expect(await appendVia(log, tenant, event({ metadata: { i } }))).toMatchObject({ ok: true });
        }
        // The mirror's pass (it follows the acknowledgements) fails.
        expect(await log.mirror.copy()).toBe(false);
        expect(log.commit.head.size).toBe(base + 6);
        expect(log.mirror.mirroredTo).toBe(base + 1);
        expect(log.mirror.failures).toBeGreaterThan(0);
        expect(log.mirror.stats()).toMatchObject({ mirrored_to: base + 1, mirror_lag_alert: false });
        expect(await d1Count(tenant)).toBe(base + (mode === "before" ? 1 : 6));
        // An entry not yet in D1 is still readable: the Durable Object holds it.
        expect(log.reads.entry(base + 5)).toMatchObject({ seq: base + 5 });
      });

      // D1 recovers; the object restarts (withLog evicted it: nothing of that instance's memory
      // survives, the outbox is [mirrored_to, size) in storage) and the alarm re-drives it.
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      expect(await d1Seqs(tenant)).toEqual(Array.from({ length: base + 6 }, (_, i) => i));
      expect(await d1Count(tenant, "audit_event_targets")).toBe(base + 6);
      const after = await stub.stats();
      expect(after.mirrored_to).toBe(base + 6);
      expect(after.mirror_failures).toBe(0);
    });
  }

  // Invariant 3 (issue #15): the acknowledgement is the Durable Object's commit, not the D1 copy.
  it("acknowledges at the commit while D1 hangs; durability=mirrored answers only once D1 holds the entry", async () => {
    const { tenant, appendKey, base } = await tenantWithKeys();
    expect((await postEvent(tenant, appendKey, event())).status).toBe(201);
    await mirrored(tenant);
    const d1 = blockingD1(await dbOf(tenant));
    await withLog(logOf(tenant), tenant, { db: d1.db }, async (log) => {
      // D1 does not answer: the append is acknowledged all the same, from the commit.
      expect(await appendVia(log, tenant, event({ action: "a.fast" }))).toMatchObject({ ok: true, receipts: [{ seq: base + 1 }] });
      await d1.entered; // the mirror's pass is waiting on D1
      let answered = false;
      const slow = log.commit
        .enqueue(tenant, {
          req: { items: [{ event: event({ action: "a.mirrored" }) as JsonObject }], provenance: {} },
          durability: "mirrored",
        })
        .then((r) => {
          answered = true;
          return r;
        });
      for (let i = 0; i < 5; i++) await yieldToQueued();
      expect(log.commit.head.size).toBe(base + 3); // committed …
      expect(answered).toBe(false); // … but not answered while D1 does not hold it
      expect(await d1Count(tenant)).toBe(base + 1);
      d1.release();
      expect(await slow).toMatchObject({ ok: true, receipts: [{ seq: base + 2 }] });
      // Answered once D1 holds it.
      expect((await d1Seqs(tenant)).slice(-1)).toEqual([base + 2]);
    });
  });

  it("an object that dies after its commit sends no receipt; the retry with the same key lands exactly once", async () => {
    const { tenant, base } = await tenantWithKeys();
    const ev = event({ action: "payment.captured" }) as JsonObject;
    const req = { items: [{ event: ev, idempotencyKey: "pay-7" }], provenance: { principal_type: "test", principal_id: "k" } };
    const dying = (state: DurableObjectState) => ({
      storage: afterCommitStorage(state.storage, () => state.abort("injected abort after the commit, before the reply")),
    });
    let answer: unknown;
    const first = withLog(logOf(tenant), tenant, dying, async (log) => {
      answer = await log.commit.enqueue(tenant, { req });
    });
    await expect(first).rejects.toThrow();
    expect(answer).toBeUndefined(); // no receipt left the object
    // A stub whose object was aborted stays broken: the retries come through new ones.
    // Until the runtime has released the dead object's storage, a retry may be refused with 503
    // log_unavailable (invariant 8: refused, never dropped after a 2xx); a client retries again.
    let retry = await logOf(tenant).append(tenant, req.items, req.provenance);
    for (let i = 0; i < 50 && !retry.ok; i++) {
      expect(retry).toMatchObject({ ok: false, error: { reason: "log_unavailable" } });
      await new Promise((r) => setTimeout(r, 100));
      retry = await logOf(tenant).append(tenant, req.items, req.provenance);
    }
    expect(retry).toMatchObject({ ok: true, receipts: [{ seq: base }] });
    expect(await logOf(tenant).append(tenant, req.items, req.provenance)).toEqual(retry);
    expect((await logOf(tenant).stats()).size).toBe(base + 1);
    await mirrored(tenant);
    expect(await d1Seqs(tenant)).toEqual(Array.from({ length: base + 1 }, (_, i) => i));
  });

  it("mirror lag: entries and ms since the oldest entry not in D1 was committed, flagged past the threshold", async () => {
    const { tenant, base } = await tenantWithKeys();
    await mirrored(tenant);
    let clock = Date.now();
    await withLog(logOf(tenant), tenant, { db: failingD1(await dbOf(tenant), "before"), now: () => clock }, async (log) => {
      expect(log.mirror.stats()).toMatchObject({ mirrored_to: base, mirror_lag_ms: 0, mirror_lag_alert: false });
      await appendVia(log, tenant, event());
      clock += 1000;
      await appendVia(log, tenant, event());
      expect(await log.mirror.copy()).toBe(false);
      clock += MIRROR_LAG_ALERT_MS - 1000;
      expect(log.mirror.stats()).toMatchObject({ mirrored_to: base, mirror_lag_ms: MIRROR_LAG_ALERT_MS, mirror_lag_alert: false });
      clock += 1;
      expect(log.mirror.stats()).toMatchObject({ mirror_lag_ms: MIRROR_LAG_ALERT_MS + 1, mirror_lag_alert: true });
    });
  });

  it("arms an alarm at commit, so entries are re-driven even if nothing else happens", async () => {
    const { tenant, appendKey } = await tenantWithKeys();
    expect((await postEvent(tenant, appendKey, event())).status).toBe(201);
    const alarm = await runInDurableObject(logOf(tenant), (_log: TenantLog, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
  });
});

describe("atomic append", () => {
  it("a failure inside the commit stores nothing, answers 503, and leaves no gap", async () => {
    const { tenant, appendKey, base } = await tenantWithKeys();
    const stub = logOf(tenant);
    expect((await postEvent(tenant, appendKey, event())).status).toBe(201);
    // Inject a fault into the real storage: the idempotency insert, late in the transaction,
    // after the entries of the group were already inserted.
    await runInDurableObject(stub, (_log: TenantLog, state) => {
      state.storage.sql.exec("CREATE TRIGGER inject_fault BEFORE INSERT ON idempotency BEGIN SELECT RAISE(ABORT, 'injected'); END");
    });
    const res = await postEvent(tenant, appendKey, {
      events: [event({ action: "a.one" }), event({ action: "a.two", idempotency_key: "x" })],
    });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: { code: "log_unavailable" } });
    const entries = await runInDurableObject(
      stub,
      (_log: TenantLog, state) => state.storage.sql.exec("SELECT count(*) AS n FROM entries").one().n,
    );
    expect(entries).toBe(base + 1);
    expect((await stub.stats()).size).toBe(base + 1);

    await runInDurableObject(stub, (_log: TenantLog, state) => {
      state.storage.sql.exec("DROP TRIGGER inject_fault");
    });
    const next = await postEvent(tenant, appendKey, event());
    expect(((await next.json()) as { seq: number }).seq).toBe(base + 1);
    await mirrored(tenant);
    expect(await d1Seqs(tenant)).toEqual(Array.from({ length: base + 2 }, (_, i) => i));
  });
});

describe("server time", () => {
  it("received_at never goes below the previous entry's, even if the clock steps back", async () => {
    const stub = env.TENANT_LOG.get(env.TENANT_LOG.newUniqueId());
    await runInDurableObject(stub, (_log: TenantLog, state) => {
      const store = new LogStore(state.storage.sql);
      const head = { ...store.head(), lastReceivedAtMs: Date.parse("2026-01-01T00:00:10Z") };
      const req = { items: [{ event: { action: "a" } }], provenance: {} };
      const tree = new CompactRange();
      const group = state.storage.transactionSync(() => sequenceGroup(store, "t", head, tree, [req], Date.parse("2026-01-01T00:00:00Z")));
      const receipt = group.outcomes[0]!.ok ? group.outcomes[0]!.receipts[0]! : undefined;
      expect(receipt?.received_at).toBe("2026-01-01T00:00:10.000Z");
      expect(group.head.lastReceivedAtMs).toBe(Date.parse("2026-01-01T00:00:10Z"));
      const later = sequenceGroup(store, "t", group.head, tree, [req], Date.parse("2026-01-01T00:00:20Z"));
      expect(later.outcomes[0]).toMatchObject({ ok: true, receipts: [{ received_at: "2026-01-01T00:00:20.000Z" }] });
    });
  });
});

describe("back-pressure", () => {
  it("refuses appends beyond the queue limit with overloaded, and keeps every accepted one", async () => {
    const { tenant, base } = await tenantWithKeys();
    const stub = logOf(tenant);
    const batch = Array.from({ length: 100 }, (_, i) => ({ event: { ...event(), metadata: { i } } as never }));
    const calls = Math.floor(MAX_QUEUED_EVENTS / 100) + 2;
    const results = await runInDurableObject(stub, (log: TenantLog) =>
      Promise.all(Array.from({ length: calls }, () => log.append(tenant, batch, { principal_type: "test" }))),
    );
    // The queue holds MAX_QUEUED_EVENTS (or one request fewer if a first commit started already).
    const refused = results.filter((r) => !r.ok);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused.length).toBeLessThanOrEqual(2);
    for (const r of refused) expect(r).toEqual({ ok: false, error: { reason: "overloaded", retryAfterSeconds: 1 } });
    expect((await stub.stats()).size).toBe(base + (calls - refused.length) * 100);
    const http = toHttp(refused[0]!.ok ? { reason: "internal" } : refused[0]!.error);
    expect(http.status).toBe(503);
    expect(http.headers?.["Retry-After"]).toBe("1");
  });
});

describe("idempotency keys expire (invariant 7)", () => {
  it("the window is 24 h unless SEALTRAIL_IDEMPOTENCY_WINDOW_HOURS sets it", () => {
    expect(IDEMPOTENCY_WINDOW_DEFAULT_MS).toBe(86_400_000);
    expect(idempotencyWindowMs({})).toBe(86_400_000);
    expect(idempotencyWindowMs({ SEALTRAIL_IDEMPOTENCY_WINDOW_HOURS: "2" })).toBe(7_200_000);
    expect(idempotencyWindowMs({ SEALTRAIL_IDEMPOTENCY_WINDOW_HOURS: "0" })).toBe(86_400_000);
    expect(idempotencyWindowMs({ SEALTRAIL_IDEMPOTENCY_WINDOW_HOURS: "soon" })).toBe(86_400_000);
  });

  it("within the window a key answers its receipt; after it the same key is a new request, and its row leaves DO storage", async () => {
    const { tenant, base } = await tenantWithKeys();
    let clock = Date.now();
    const provenance = { principal_type: "test", principal_id: "k" };
    const send = (log: Log, ev: JsonObject, key: string) =>
      log.commit.enqueue(tenant, { req: { items: [{ event: ev, idempotencyKey: key }], provenance } });
    const a = event({ action: "a.one" }) as JsonObject;
    const b = event({ action: "a.two" }) as JsonObject;
    const rows = await withLog(logOf(tenant), tenant, { now: () => clock }, async (log, state) => {
      const first = await send(log, a, "k-1");
      expect(first).toMatchObject({ ok: true, receipts: [{ seq: base }] });
      clock += IDEMPOTENCY_WINDOW_DEFAULT_MS - 1000;
      expect(await send(log, a, "k-1")).toEqual(first); // a retry inside the window
      expect(await send(log, b, "k-1")).toMatchObject({ ok: false, error: { reason: "idempotency_conflict" } });
      clock += 2000; // past the window: the key is a new request, whatever its body
      expect(await send(log, b, "k-1")).toMatchObject({ ok: true, receipts: [{ seq: base + 1 }] });
      expect(await send(log, b, "k-1")).toMatchObject({ ok: true, receipts: [{ seq: base + 1 }] });
      // Many expired keys are swept in bounded chunks (after commits and from the alarm).
      for (let i = 0; i < IDEMPOTENCY_SWEEP_CHUNK + 10; i++) await send(log, event({ metadata: { i } }) as JsonObject, `bulk-${i}`);
      clock += IDEMPOTENCY_WINDOW_DEFAULT_MS + 1;
      const count = () => Number(state.storage.sql.exec("SELECT count(*) AS n FROM idempotency").one().n);
      const before = count();
      expect(log.keys.sweep()).toBe(IDEMPOTENCY_SWEEP_CHUNK);
      expect(count()).toBe(before - IDEMPOTENCY_SWEEP_CHUNK);
      log.keys.sweep();
      expect(count()).toBe(0);
      await log.mirror.copy();
      return Number(state.storage.sql.exec("SELECT count(*) AS n FROM entries").one().n);
    });
    expect(rows).toBeGreaterThanOrEqual(base + 2 + IDEMPOTENCY_SWEEP_CHUNK + 10);
    // D1 holds both uses of the key, each under its own value (a unique column there).
    await mirrored(tenant);
    const { results } = await (await dbOf(tenant))
      .prepare("SELECT seq, idempotency_key FROM audit_events WHERE tenant_id = ? AND idempotency_key LIKE ?")
      .bind(tenant, "% k-1 @%")
      .all<{ seq: number; idempotency_key: string }>();
    expect(results).toEqual([
      { seq: base, idempotency_key: `test:k k-1 @${base}` },
      { seq: base + 1, idempotency_key: `test:k k-1 @${base + 1}` },
    ]);
  });
});
