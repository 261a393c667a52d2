/**
 * Issue #17.1: retention really expires data, verifiably. A tenant with a 1-day period, its
 * clock moved forward: old bodies leave D1, DO storage, R2 seal bundles and R2 entry tiles (the
 * raw stores are searched), every proof still verifies, a full verification passes and reports
 * the pruned range; a body missing above the floor is still tampering; a held entry keeps its
 * bundle, its tile and its rows.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { entryLeafHash, type JsonObject } from "../../src/core/entry";
import { parseVerifierKey } from "../../src/core/note";
import { sealKeys } from "../../src/core/seal";
import { verifyTlogProof } from "../../src/core/tlog-proof";
import { TILE_WIDTH } from "../../src/core/tiles";
import { LogStore } from "../../src/durable/log-store";
import type { Log, TenantLog } from "../../src/durable/tenant-log";
import type { HoldScope } from "../../src/core/holds";
import { scheduledSweepEvent } from "../../src/durable/retention";
import { tileKey } from "../../src/durable/tiles";
import { api, bearer, bucketOf, createKey, dbOf, event, logOf, tenantWithKeys } from "../worker/helpers";
import { withLog } from "./faults";
import { runVerification, tamperD1 } from "./log-helpers";
import { SEARCH_SEQ_SPAN } from "../../src/durable/search-index";

const DAY = 86_400_000;
const origin = (tenant: string) => `sealtrail.localhost/${tenant}`;

async function logVerifier(tenant: string) {
  const { keys } = (await (await api(`/v1/keys?tenant=${tenant}`)).json()) as { keys: { verifier_key: string }[] };
  const v = parseVerifierKey(keys[0]!.verifier_key);
  if (!v.ok) throw new Error("bad key");
  return v.value;
}

/** Appends `n` events marked `marker-<i>` in one commit through the log's parts (its clock is the test's). */
async function appendMarked(log: Log, tenant: string, marker: string, n: number, actor = "someone") {
  const items = Array.from({ length: n }, (_, i) => ({
    event: event({ actor: { id: actor, type: "user" }, metadata: { marker: `${marker}-${i}` } }) as JsonObject,
  }));
  const r = await log.commit.enqueue(tenant, { req: { items, provenance: { principal_type: "test", principal_id: "k" } } });
  expect(r.ok).toBe(true);
}

async function sealAll(log: Log, tenant: string) {
  await log.mirror.copy();
  expect((await log.sealer.seal(tenant, true)).ok).toBe(true);
  await log.mirror.copy();
  await log.tiles.sync(tenant);
}

/**
 * A tenant with retention_days = 1 and, at the test's clock: seal 0 = [0, 150), seal 1 =
 * [150, 300), seal 2 = [300, 520) (entry tiles 0 and 1 full in R2); then, two days later, seal
 * 3 = [520, 1040) of new events (entry tiles 2 and 3 full in R2). `hold`: a legal hold created (HoldStore) before the sweep.
 */
async function oldLog(hold?: HoldScope, heldActorAt?: number, bucket?: (real: R2Bucket) => R2Bucket, scheduled = false) {
  const t = await tenantWithKeys();
  const verifyKey = await createKey(t.owner, t.tenant, ["verify", "read"]);
  const put = await api(`/v1/tenants/${t.tenant}/settings`, {
    method: "PUT",
    headers: { "content-type": "application/json", ...bearer(t.owner) },
    body: JSON.stringify({ retention_days: 1 }),
  });
  expect(put.status).toBe(200);
  let clock = Date.now();
  const stub = logOf(t.tenant);
  const base = (await stub.stats()).size;
  const wrapped = bucket ? { bucket: bucket(await bucketOf(t.tenant)) } : {};
  const sweep = await withLog(stub, t.tenant, { now: () => clock, ...wrapped }, async (log) => {
    // Entries 0..149 (the keys' creation and settings first), 150..299, 300..519.
    await appendMarked(log, t.tenant, "old-a", 150 - base);
    await sealAll(log, t.tenant);
    if (heldActorAt !== undefined) {
      await appendMarked(log, t.tenant, "old-b", heldActorAt - 150);
      await appendMarked(log, t.tenant, "held", 1, "held-actor");
      await appendMarked(log, t.tenant, "old-b2", 300 - heldActorAt - 1);
    } else {
      await appendMarked(log, t.tenant, "old-b", 150);
    }
    await sealAll(log, t.tenant);
    await appendMarked(log, t.tenant, "old-c", 220);
    await sealAll(log, t.tenant);
    expect(log.tiles.writtenTo).toBe(512);
    clock += 2 * DAY;
    await appendMarked(log, t.tenant, "new", 520);
    await sealAll(log, t.tenant);
    if (hold) expect(log.holds.create({ reason: "litigation", scope: hold, by: t.owner.userId }).ok).toBe(true);
    const s = scheduledSweepEvent(t.tenant);
    if (scheduled) {
      // The alarm's step: due (never ran), so it sweeps; run again at once, it is not due and changes nothing.
      await log.retention.scheduled(t.tenant, s.event, s.provenance);
      const first = log.retention.stats();
      clock += 1000;
      await log.retention.scheduled(t.tenant, s.event, s.provenance);
      expect(log.retention.stats()).toEqual(first);
      return {
        pruned: null,
        floor: first.retention_floor,
        held_kept: 0,
        cleaned: first.retention_cleaned_to === first.retention_floor,
        error: null,
      };
    }
    return log.retention.sweep(t.tenant, s.event, s.provenance);
  });
  return { ...t, verifyKey, sweep };
}

/** Every object under the tenant's R2 prefix, and whether any of them contains `needle`. */
async function r2Search(tenant: string, needle: string): Promise<{ keys: string[]; hits: string[] }> {
  const bucket = await bucketOf(tenant);
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix: `tenants/${tenant}/`, ...(cursor ? { cursor } : {}) });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  const hits: string[] = [];
  for (const key of keys) if ((await (await bucket.get(key))!.text()).includes(needle)) hits.push(key);
  return { keys, hits };
}

describe("retention sweep (issue #17.1)", () => {
  it("a 1-day period, the clock moved forward: old bodies leave D1, DO storage, R2 bundles and entry tiles; proofs and a full verification pass", async () => {
    const { tenant, owner, readKey, verifyKey, sweep } = await oldLog();
    // Every seal older than a day: the floor is seal 2's end.
    expect(sweep).toMatchObject({ pruned: { from: 0, to: 520, checkpoint: { size: 520 } }, floor: 520, held_kept: 0, cleaned: true });
    const prunedSeq = sweep.pruned!.seq;

    // The entry recording it, in the log, from the schedule.
    const logged = (await (await api(`/v1/tenants/${tenant}/events/${prunedSeq}`, { headers: bearer(owner) })).json()) as {
      event: { action: string; actor: unknown; metadata: Record<string, unknown> };
    };
    expect(logged.event).toMatchObject({
      action: "sealtrail.retention.pruned",
      actor: { id: "schedule", type: "system" },
      metadata: { from: 0, to: 520, by: "schedule", checkpoint: { size: 520, root: sweep.pruned!.checkpoint.root } },
    });
    expect(Date.parse(String(logged.event.metadata.cutoff))).toBeGreaterThan(Date.now());

    // D1: no row below the floor, in either table; every row above it.
    const db = await dbOf(tenant);
    const count = async (sql: string) => (await db.prepare(sql).bind(tenant).first<{ n: number }>())!.n;
    expect(await count("SELECT count(*) AS n FROM audit_events WHERE tenant_id = ? AND seq < 520")).toBe(0);
    expect(await count("SELECT count(*) AS n FROM audit_event_targets WHERE tenant_id = ? AND seq < 520")).toBe(0);
    expect(await count("SELECT count(*) AS n FROM audit_events WHERE tenant_id = ? AND seq >= 520")).toBe(prunedSeq + 1 - 520);
    expect(
      await count("SELECT count(*) AS n FROM audit_events WHERE tenant_id = ? AND (entry LIKE '%old-a-%' OR entry LIKE '%old-b-%')"),
    ).toBe(0);
    // The full-text index (search-index.ts) holds no pruned entry, and still the kept ones.
    const indexed = async (cmp: string) =>
      (await db
        .prepare(
          `SELECT count(*) AS n FROM search_index WHERE rowid - (SELECT num * ${SEARCH_SEQ_SPAN} FROM search_tenants WHERE tenant_id = ?) ${cmp}`,
        )
        .bind(tenant)
        .first<{ n: number }>())!.n;
    expect(await indexed("BETWEEN 0 AND 519")).toBe(0);
    expect(await indexed("BETWEEN 520 AND 1000000")).toBeGreaterThan(0);
    // DO storage: no body below the floor; every leaf hash kept.
    const dō = await runInDurableObject(logOf(tenant), async (_: TenantLog, state) => ({
      entries: Number(state.storage.sql.exec("SELECT count(*) AS n FROM entries WHERE seq < 520").one().n),
      marked: Number(
        state.storage.sql.exec("SELECT count(*) AS n FROM entries WHERE entry LIKE '%old-a-%' OR entry LIKE '%old-b-%'").one().n,
      ),
      leaves: Number(state.storage.sql.exec("SELECT count(*) AS n FROM tree_nodes WHERE level = 0 AND idx < 520").one().n),
    }));
    expect(dō).toEqual({ entries: 0, marked: 0, leaves: 520 });
    // R2: seal bundles 0 to 2 and entry tiles 0 and 1 are gone; manifests, checkpoints, hash tiles stay.
    const r2 = await r2Search(tenant, "old-a-");
    expect(r2.hits).toEqual([]);
    expect((await r2Search(tenant, "old-b-")).hits).toEqual([]);
    // Entries 512..519 are pruned but share entry tile 2 ([512, 768)) with kept ones: that tile stays
    // until the floor passes its end (tiles are create-only; their bytes never change).
    expect((await r2Search(tenant, "old-c-")).hits).toEqual([tileKey(tenant, { level: "entries", index: 2, width: TILE_WIDTH })]);
    for (const id of [0, 1, 2]) {
      expect(r2.keys).not.toContain(sealKeys(tenant, id).bundle);
      expect(r2.keys).toContain(sealKeys(tenant, id).manifest);
      expect(r2.keys).toContain(sealKeys(tenant, id).checkpoint);
    }
    expect(r2.keys).toContain(sealKeys(tenant, 3).bundle);
    for (const index of [0, 1]) expect(r2.keys).not.toContain(tileKey(tenant, { level: "entries", index, width: TILE_WIDTH }));
    for (const index of [2, 3]) expect(r2.keys).toContain(tileKey(tenant, { level: "entries", index, width: TILE_WIDTH }));
    for (const index of [0, 1, 2, 3]) expect(r2.keys).toContain(tileKey(tenant, { level: 0, index, width: TILE_WIDTH }));
    expect((await r2Search(tenant, "new-")).hits.length).toBeGreaterThan(0);

    // A pruned entry: 410 with the floor; its proof still verifies (its leaf hash is kept).
    const gone = await api(`/v1/tenants/${tenant}/events/200`, { headers: { "x-api-key": readKey } });
    expect(gone.status).toBe(410);
    expect(gone.headers.get("sealtrail-retention-floor")).toBe("520");
    expect(await gone.json()).toMatchObject({ error: { code: "entry_pruned" } });
    const verifier = await logVerifier(tenant);
    const [leaf200] = await logOf(tenant).leavesAt(tenant, [200]);
    const proof = await api(`/v1/tenants/${tenant}/events/200/proof`, { headers: { "x-api-key": readKey } });
    expect(proof.status).toBe(200);
    const leafBytes = Uint8Array.from(atob(leaf200!), (ch) => ch.charCodeAt(0));
    expect(verifyTlogProof(await proof.text(), leafBytes, origin(tenant), [verifier]).ok).toBe(true);
    // An entry above the floor: read, and its proof verifies against its bytes.
    const kept = (await (await api(`/v1/tenants/${tenant}/events/600`, { headers: { "x-api-key": readKey } })).json()) as { entry: string };
    const keptProof = await (await api(`/v1/tenants/${tenant}/events/600/proof`, { headers: { "x-api-key": readKey } })).text();
    expect(verifyTlogProof(keptProof, entryLeafHash(kept.entry), origin(tenant), [verifier]).ok).toBe(true);

    // #17.4: the list and the exports say the range is pruned (the list starts at the floor).
    const list = (await (await api(`/v1/tenants/${tenant}/events?limit=3`, { headers: { "x-api-key": readKey } })).json()) as {
      events: { seq: number }[];
      pruned: unknown;
    };
    expect(list.pruned).toEqual({ below: 520, recorded_by: prunedSeq });
    expect(list.events.map((e) => e.seq)).toEqual([520, 521, 522]);
    for (const format of ["jsonl", "csv"]) {
      const exp = await api(`/v1/tenants/${tenant}/export?format=${format}`, { headers: { "x-api-key": readKey } });
      expect(exp.status).toBe(200);
      expect(exp.headers.get("sealtrail-retention-floor")).toBe("520");
      expect(exp.headers.get("sealtrail-pruned")).toBe(`entries [0, 520) were pruned by retention (entry ${prunedSeq})`);
      const text = await exp.text();
      expect(text).not.toContain("old-");
      expect(text).toContain("new-0");
    }

    // A full verification passes and reports the pruned range, under the entry and checkpoint.
    const job = await runVerification(tenant, verifyKey, { mode: "full" });
    expect(job.report!.failures).toEqual([]);
    expect(job.report).toMatchObject({ ok: true, pruned: { from: 0, to: 520, under: prunedSeq, checkpoint: { size: 520 } } });
    expect(job.report!.checked).toMatchObject({ pruned: 520 });
    const stats = (await (await api(`/v1/tenants/${tenant}/stats`, { headers: bearer(owner) })).json()) as Record<string, unknown>;
    expect(stats).toMatchObject({
      retention_floor: 520,
      retention_cleaned_to: 520,
      retention_error: null,
      last_full_verification: { ok: true, pruned: { to: 520, under: prunedSeq } },
    });

    // A second sweep has nothing to do and changes nothing.
    const again = await api(`/v1/tenants/${tenant}/retention/sweep`, { method: "POST", headers: bearer(owner) });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ pruned: null, floor: 520, cleaned: true });
  });

  it("a body missing ABOVE the floor is still tampering: D1 row, seal bundle and entry tile", async () => {
    const { tenant, verifyKey } = await oldLog();
    await tamperD1("DELETE FROM audit_events WHERE tenant_id = ? AND seq = 600", tenant);
    const bucket = await bucketOf(tenant);
    await bucket.delete(sealKeys(tenant, 3).bundle);
    await bucket.delete(tileKey(tenant, { level: "entries", index: 3, width: TILE_WIDTH }));
    const job = await runVerification(tenant, verifyKey, { mode: "full" });
    expect(job.report!.ok).toBe(false);
    expect(job.report!.failures).toEqual(
      expect.arrayContaining([
        { kind: "entry_missing", seq: 600 },
        { kind: "seal_missing", key: sealKeys(tenant, 3).bundle },
        expect.objectContaining({ kind: "tile_mismatch", key: tileKey(tenant, { level: "entries", index: 3, width: TILE_WIDTH }) }),
      ]),
    );
    // Only above the floor: nothing below it is named.
    expect(job.report!.failures.filter((f) => "seq" in f && typeof f.seq === "number" && f.seq < 520)).toEqual([]);
  });

  it("a legal hold on an actor: its entry keeps its D1 rows, its seal bundle and its entry tile; the rest of the range is pruned", async () => {
    const { tenant, readKey, verifyKey, sweep } = await oldLog({ kind: "actor", id: "held-actor" }, 200);
    expect(sweep).toMatchObject({ pruned: { to: 520 }, floor: 520, held_kept: 1, cleaned: true });
    const db = await dbOf(tenant);
    // The held entry (seq 200) keeps its D1 rows; every other row below the floor is gone.
    const rows = await db.prepare("SELECT seq FROM audit_events WHERE tenant_id = ? AND seq < 520").bind(tenant).all<{ seq: number }>();
    expect(rows.results.map((r) => r.seq)).toEqual([200]);
    // Its seal bundle (seal 1 = [150, 300)) and entry tile 0 ([0, 256)) are kept whole; seal 0's bundle is gone.
    const r2 = await r2Search(tenant, "held-0");
    expect(r2.hits.sort()).toEqual([sealKeys(tenant, 1).bundle, tileKey(tenant, { level: "entries", index: 0, width: TILE_WIDTH })].sort());
    expect(r2.keys).not.toContain(sealKeys(tenant, 0).bundle);
    expect((await api(`/v1/tenants/${tenant}/events/200`, { headers: { "x-api-key": readKey } })).status).toBe(200);
    expect((await api(`/v1/tenants/${tenant}/events/199`, { headers: { "x-api-key": readKey } })).status).toBe(410);
    // A full verification checks the kept bodies and passes.
    const job = await runVerification(tenant, verifyKey, { mode: "full" });
    expect(job.report).toMatchObject({ ok: true, failures: [], pruned: { to: 520 } });

    // The triggers in the tenant's own shard: at or above the floor refused (test/worker/no-update-path.test.ts has the rest).
    const del = await db
      .prepare("DELETE FROM audit_events WHERE tenant_id = ? AND seq = 520")
      .bind(tenant)
      .run()
      .then(
        () => "ok",
        (e: unknown) => String(e),
      );
    expect(del).toMatch(/append-only above the retention floor/);

    // D1 lost below the floor (allowed there), then rebuilt: the held entry comes back, nothing pruned does.
    await db.batch([
      db.prepare("DELETE FROM audit_event_targets WHERE tenant_id = ? AND seq < 520").bind(tenant),
      db.prepare("DELETE FROM audit_events WHERE tenant_id = ? AND seq < 520").bind(tenant),
    ]);
    const rebuilt = await logOf(tenant).rebuildD1(tenant, 0, 60_000);
    expect(rebuilt).toMatchObject({ ok: true, value: { done: true } });
    const after = await db.prepare("SELECT seq FROM audit_events WHERE tenant_id = ? AND seq < 520").bind(tenant).all<{ seq: number }>();
    expect(after.results.map((r) => r.seq)).toEqual([200]);
  });

  it("a tenant-wide legal hold stops the sweep: no floor, nothing deleted", async () => {
    const { tenant, sweep } = await oldLog({ kind: "tenant" });
    expect(sweep).toMatchObject({ pruned: null, floor: 0 });
    const db = await dbOf(tenant);
    expect(
      (await db.prepare("SELECT count(*) AS n FROM audit_events WHERE tenant_id = ? AND seq < 300").bind(tenant).first<{ n: number }>())!.n,
    ).toBe(300);
    expect((await r2Search(tenant, "old-a-")).hits.length).toBeGreaterThan(0);
  });

  it("an R2 bucket lock refuses the deletes: the sweep reports it, keeps its place, and a later run finishes", async () => {
    let locked = true;
    const lockedBucket = (real: R2Bucket) =>
      new Proxy(real, {
        get(target, prop) {
          if (prop === "delete") {
            return async (key: string) => {
              if (locked) throw new Error(`delete: object is locked by a bucket lock rule: ${key}`);
              return target.delete(key);
            };
          }
          const value = Reflect.get(target, prop) as unknown;
          return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    const { tenant, owner, sweep } = await oldLog(undefined, undefined, lockedBucket);
    // The floor rose (the entry is logged) and D1 is done; R2 refused: reported, not lost.
    expect(sweep).toMatchObject({ pruned: { to: 520 }, floor: 520, cleaned: false, error: expect.stringMatching(/locked/) });
    const stats = async () =>
      (await (await api(`/v1/tenants/${tenant}/stats`, { headers: bearer(owner) })).json()) as Record<string, unknown>;
    expect(await stats()).toMatchObject({ retention_floor: 520, retention_cleaned_to: 0 });
    expect((await r2Search(tenant, "old-a-")).hits).toContain(sealKeys(tenant, 0).bundle);
    // The lock is lifted (its period over): the next run (here the route) finishes from the same place.
    locked = false;
    const again = await api(`/v1/tenants/${tenant}/retention/sweep`, { method: "POST", headers: bearer(owner) });
    expect(await again.json()).toMatchObject({ pruned: null, floor: 520, cleaned: true, error: null });
    expect((await r2Search(tenant, "old-a-")).hits).toEqual([]);
    expect(await stats()).toMatchObject({ retention_floor: 520, retention_cleaned_to: 520, retention_error: null });
  });

  it("the schedule (a step of the log's alarm) sweeps once a day", async () => {
    const { tenant, owner, sweep } = await oldLog(undefined, undefined, undefined, true);
    expect(sweep).toMatchObject({ floor: 520, cleaned: true });
    const logged = (await (
      await api(`/v1/tenants/${tenant}/events?action=sealtrail.retention.pruned`, { headers: bearer(owner) })
    ).json()) as { events: { event: { actor: unknown; metadata: unknown } }[] };
    expect(logged.events).toHaveLength(1);
    expect(logged.events[0]!.event).toMatchObject({
      actor: { id: "schedule", type: "system" },
      metadata: { from: 0, to: 520, by: "schedule" },
    });
  });

  it("a small log is pruned too: the entry bundle reaching below the floor is never written, its hash tiles are, and verification passes", async () => {
    const t = await tenantWithKeys();
    const verifyKey = await createKey(t.owner, t.tenant, ["verify", "read"]);
    const put = await api(`/v1/tenants/${t.tenant}/settings`, {
      method: "PUT",
      headers: { "content-type": "application/json", ...bearer(t.owner) },
      body: JSON.stringify({ retention_days: 1 }),
    });
    expect(put.status).toBe(200);
    let clock = Date.now();
    const { floor, tilesTo } = await withLog(logOf(t.tenant), t.tenant, { now: () => clock }, async (log) => {
      await appendMarked(log, t.tenant, "small-old", 20);
      await sealAll(log, t.tenant);
      clock += 2 * DAY;
      await appendMarked(log, t.tenant, "small-new", 5);
      await sealAll(log, t.tenant);
      const s = scheduledSweepEvent(t.tenant);
      const swept = await log.retention.sweep(t.tenant, s.event, s.provenance);
      // The log grows past a full tile: its hash tiles are written, its entry bundle (bodies pruned) is not.
      await appendMarked(log, t.tenant, "small-later", 300);
      await sealAll(log, t.tenant);
      return { floor: swept.floor, tilesTo: log.tiles.writtenTo };
    });
    expect(floor).toBeGreaterThan(20);
    expect(tilesTo).toBe(256);
    const r2 = await r2Search(t.tenant, "small-old");
    expect(r2.hits).toEqual([]);
    expect(r2.keys).toContain(tileKey(t.tenant, { level: 0, index: 0, width: TILE_WIDTH }));
    expect(r2.keys).not.toContain(tileKey(t.tenant, { level: "entries", index: 0, width: TILE_WIDTH }));
    expect((await logOf(t.tenant).stats()).tiles_error).toBeNull();
    const job = await runVerification(t.tenant, verifyKey, { mode: "full" });
    expect(job.report).toMatchObject({ ok: true, failures: [], pruned: { to: floor } });
  });

  it("a period stored in years (before retention_days) becomes 365 days a year", async () => {
    const { tenant, owner } = await tenantWithKeys();
    const put = await api(`/v1/tenants/${tenant}/settings`, {
      method: "PUT",
      headers: { "content-type": "application/json", ...bearer(owner) },
      body: JSON.stringify({ retention_years: 3 }),
    });
    expect(put.status).toBe(200);
    const days = await runInDurableObject(logOf(tenant), async (_: TenantLog, state) => {
      // The object as an older version left it: no retention_days column, 3 years stored.
      state.storage.sql.exec("ALTER TABLE settings DROP COLUMN retention_days");
      state.storage.sql.exec("UPDATE settings SET retention_years = 3");
      return new LogStore(state.storage.sql).settings().retentionDays;
    });
    expect(days).toBe(1095);
  });
});
