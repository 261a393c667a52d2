/**
 * Shards and jurisdictions (docs/design.md "Shards and jurisdictions"): a tenant's placement is
 * chosen when it is created and never by a later request; its rows, seals and Durable Objects
 * are where its placement says and nowhere else, and reads consult only its shard.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { namespaceIn, PLACEMENT_BINDINGS, tenantObject, type Jurisdiction, type Placement } from "../../src/durable/placement";
import { sealPrefix } from "../../src/core/seal";
import { runVerification } from "../durable/log-helpers";
import {
  api,
  BASE,
  bearer,
  bucketOf,
  clientIp,
  createKey,
  createTenant,
  dbOf,
  event,
  placementOf,
  postEvent,
  signUp,
  type Session,
} from "./helpers";

/** Every D1 database the Worker is configured with, by binding name. */
const ALL_DBS = Object.values(PLACEMENT_BINDINGS).flatMap((j) => j.shards.map((b) => [b, env[b]] as const));
const ALL_BUCKETS = Object.values(PLACEMENT_BINDINGS).map((j) => [j.bucket, env[j.bucket]] as const);

const countIn = async (db: D1Database, table: string, tenant: string) =>
  (await db.prepare(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = ?`).bind(tenant).first<{ n: number }>())!.n;

/** Where the tenant's audit rows are: binding name → row count, for every database (after the mirror has copied everything). */
async function rowsByDb(tenant: string): Promise<Record<string, number>> {
  expect(await tenantObject(env.TENANT_LOG, await placementOf(tenant), tenant).drainMirror()).toBe(true);
  const out: Record<string, number> = {};
  for (const [name, db] of ALL_DBS) out[name] = await countIn(db, "audit_events", tenant);
  return out;
}

const bindingOf = (p: Placement) => PLACEMENT_BINDINGS[p.jurisdiction].shards[p.shard]!;

function createIn(owner: Session, body: Record<string, unknown>) {
  return api("/api/auth/organization/create", {
    method: "POST",
    headers: { "content-type": "application/json", origin: BASE, "cf-connecting-ip": clientIp(), ...bearer(owner) },
    body: JSON.stringify({ name: "Acme", slug: `acme-${crypto.randomUUID()}`, ...body }),
  });
}

async function tenantIn(owner: Session, jurisdiction: Jurisdiction): Promise<string> {
  const res = await createIn(owner, { jurisdiction });
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { id: string }).id;
}

describe("D1 shards", () => {
  it("16 tenants spread over 2 shards; each tenant's rows land only in its shard", async () => {
    const owner = await signUp("Spread");
    const tenants: { tenant: string; key: string }[] = [];
    for (let i = 0; i < 16; i++) {
      const tenant = await createTenant(owner, `Spread${i}`);
      tenants.push({ tenant, key: await createKey(owner, tenant, ["append"]) });
    }
    const placements = await Promise.all(tenants.map((t) => placementOf(t.tenant)));
    expect(placements.every((p) => p.jurisdiction === "default")).toBe(true);
    const perShard = [0, 1].map((s) => placements.filter((p) => p.shard === s).length);
    // The fewest-tenants rule: whatever other tests created before, these 16 reach both shards.
    expect(Math.min(...perShard)).toBeGreaterThanOrEqual(4);
    for (const { tenant, key } of tenants) {
      expect((await postEvent(tenant, key, { events: [event(), event({ action: "doc.read" })] })).status).toBe(201);
    }
    for (const [i, { tenant }] of tenants.entries()) {
      const rows = await rowsByDb(tenant);
      const home = bindingOf(placements[i]!);
      // The key's creation and the two events, in the home shard only.
      expect(rows[home]).toBe(3);
      expect(Object.entries(rows).filter(([b, n]) => b !== home && n > 0)).toEqual([]);
    }
    // Across all tenants ever placed here, the two default shards differ by at most one tenant.
    const { results } = await env.DB.prepare(
      "SELECT shard, count(*) AS n FROM tenant_placement WHERE jurisdiction = 'default' GROUP BY shard",
    )
      .bind()
      .all<{ shard: number; n: number }>();
    const totals = [0, 1].map((s) => results.find((r) => r.shard === s)?.n ?? 0);
    expect(Math.abs(totals[0]! - totals[1]!)).toBeLessThanOrEqual(1);
  });

  it("a tenant's reads consult only its shard: rows planted in another shard are never served", async () => {
    const owner = await signUp("Planted");
    // One tenant on each default shard (consecutive creations alternate, whoever came before).
    const a = await createTenant(owner, "PlantA");
    const b = await createTenant(owner, "PlantB");
    const [pa, pb] = [await placementOf(a), await placementOf(b)];
    expect(new Set([pa.shard, pb.shard])).toEqual(new Set([0, 1]));
    for (const [tenant, placement] of [
      [a, pa],
      [b, pb],
    ] as const) {
      const key = await createKey(owner, tenant, ["append", "read", "verify"]);
      expect((await postEvent(tenant, key, event())).status).toBe(201);
      await rowsByDb(tenant); // Mirrored: the row to copy is in D1.
      const home = await dbOf(tenant);
      // A row the tenant's log never wrote, planted in the other default shard (far past its head).
      const other = env[PLACEMENT_BINDINGS.default.shards[1 - placement.shard]!];
      const row = await home.prepare("SELECT * FROM audit_events WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1").bind(tenant).first();
      expect(row).not.toBeNull();
      await other
        .prepare(
          "INSERT INTO audit_events (tenant_id, seq, entry, leaf_hash, received_at, action, actor_id, actor_type, outcome) " +
            "VALUES (?, 900, ?, ?, ?, 'planted.row', 'a', 'user', 'success')",
        )
        .bind(tenant, String(row!.entry), String(row!.leaf_hash), Date.now())
        .run();
      await other
        .prepare(
          "INSERT INTO verification_reports (tenant_id, job_id, mode, ok, failures, report, created_at, from_seq, to_seq) " +
            "VALUES (?, 'planted-job', 'full', 1, 0, '{}', ?, 0, 1)",
        )
        .bind(tenant, Date.now())
        .run();
      const get = (path: string) => api(`/v1/tenants/${tenant}${path}`, { headers: { "x-api-key": key } });
      const listed = (await (await get("/events?action=planted.row")).json()) as { events: unknown[] };
      expect(listed.events).toEqual([]);
      expect((await get("/events/900")).status).toBe(404);
      const exported = await (await get("/export?format=jsonl&action=planted.row")).text();
      expect(exported).toBe("");
      const reports = (await (await get("/verify")).json()) as { reports: { job_id: string }[] };
      expect(reports.reports.map((r) => r.job_id)).not.toContain("planted-job");
      const activity = (await (await get("/stats/activity?range=24h")).json()) as { buckets: { count: number }[] };
      // It counts its own shard's rows (at least the key creation and the event), never the planted one.
      const counted = activity.buckets.reduce((n, x) => n + x.count, 0);
      expect(counted).toBeGreaterThanOrEqual(2);
      expect(counted).toBeLessThanOrEqual((await rowsByDb(tenant))[bindingOf(placement)]!);
    }
  });
});

describe("jurisdictions", () => {
  for (const jurisdiction of ["eu", "fedramp"] as const) {
    it(`a tenant created in ${jurisdiction}: its rows, seals, reports, rebuild and Durable Objects are only in ${jurisdiction}'s bindings`, async () => {
      const owner = await signUp("Resident");
      const tenant = await tenantIn(owner, jurisdiction);
      const placement = await placementOf(tenant);
      expect(placement).toEqual({ jurisdiction, shard: 0 });
      const key = await createKey(owner, tenant, ["append", "read", "verify"]);
      // /stats says where the data lives.
      const stats = (await (await api(`/v1/tenants/${tenant}/stats`, { headers: { "x-api-key": key } })).json()) as { placement: unknown };
      expect(stats.placement).toEqual({ jurisdiction, shard: 0 });
      expect((await postEvent(tenant, key, { events: [event(), event(), event()] })).status).toBe(201);
      const read = await api(`/v1/tenants/${tenant}/events`, { headers: { "x-api-key": key } });
      expect(((await read.json()) as { events: unknown[] }).events).toHaveLength(4);
      expect((await api(`/v1/tenants/${tenant}/seal`, { method: "POST", headers: bearer(owner) })).status).toBe(200);
      const job = await runVerification(tenant, key);
      expect(job.report).toMatchObject({ ok: true });

      const home = PLACEMENT_BINDINGS[jurisdiction];
      const rows = await rowsByDb(tenant);
      expect(rows[home.shards[0]]).toBeGreaterThanOrEqual(5);
      expect(Object.entries(rows).filter(([b, n]) => b !== home.shards[0] && n > 0)).toEqual([]);
      for (const [name, db] of ALL_DBS) {
        const reports = await countIn(db, "verification_reports", tenant);
        expect([name, reports]).toEqual([name, name === home.shards[0] ? 1 : 0]);
      }
      for (const [name, bucket] of ALL_BUCKETS) {
        const objects = (await bucket.list({ prefix: sealPrefix(tenant) })).objects.length;
        expect([name, objects > 0]).toEqual([name, name === home.bucket]);
      }
      expect(await bucketOf(tenant)).toBe(env[home.bucket]);

      // A rebuild restores the rows into the jurisdiction's shard, from its bucket and objects.
      const shard = env[home.shards[0]];
      const before = (await shard.prepare("SELECT * FROM audit_events WHERE tenant_id = ? ORDER BY seq").bind(tenant).all()).results;
      await shard.batch([
        shard.prepare("DROP TRIGGER audit_events_no_delete"),
        shard.prepare("DROP TRIGGER audit_event_targets_no_delete"),
        shard.prepare("DELETE FROM audit_events WHERE tenant_id = ?").bind(tenant),
        shard.prepare("DELETE FROM audit_event_targets WHERE tenant_id = ?").bind(tenant),
        shard.prepare("CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'append-only'); END"),
        shard.prepare(
          "CREATE TRIGGER audit_event_targets_no_delete BEFORE DELETE ON audit_event_targets BEGIN SELECT RAISE(ABORT, 'append-only'); END",
        ),
      ]);
      expect((await api(`/v1/tenants/${tenant}/rebuild`, { method: "POST", headers: bearer(owner) })).status).toBe(200);
      const after = (await shard.prepare("SELECT * FROM audit_events WHERE tenant_id = ? ORDER BY seq").bind(tenant).all()).results;
      expect(after.slice(0, before.length)).toEqual(before);
      const rebuilt = await rowsByDb(tenant);
      expect(Object.entries(rebuilt).filter(([b, n]) => b !== home.shards[0] && n > 0)).toEqual([]);

      // Its objects come from the jurisdiction's namespace (workerd's local stand-in: its own
      // objects, named `<jurisdiction>:<tenant>`); the default namespace's object of that name holds nothing.
      const inJurisdiction = tenantObject(env.TENANT_LOG, placement, tenant);
      expect((await inJurisdiction.stats()).size).toBeGreaterThanOrEqual(5);
      expect((await env.TENANT_LOG.get(env.TENANT_LOG.idFromName(tenant)).stats()).size).toBe(0);
      const audit = tenantObject(env.LOG_AUDIT, placement, tenant);
      expect((await audit.lastFullVerification())?.job_id).toBe(job.job_id);
      expect(await env.LOG_AUDIT.get(env.LOG_AUDIT.idFromName(tenant)).lastFullVerification()).toBeNull();
    });
  }

  it("on Cloudflare, a jurisdiction's objects come from namespace.jurisdiction(...)", () => {
    // workerd has no jurisdictions; this namespace records what it is asked for and answers with the real one.
    const asked: string[] = [];
    const recording = new Proxy(env.TENANT_LOG, {
      get(target, prop) {
        if (prop === "jurisdiction")
          return (j: string) => {
            asked.push(j);
            return target;
          };
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    expect(namespaceIn(recording, "eu")).toBe(env.TENANT_LOG);
    expect(namespaceIn(recording, "default")).toBe(recording);
    expect(asked).toEqual(["eu"]);
  });
});

describe("placement is chosen once, at creation", () => {
  it("an unknown jurisdiction is refused (400) and creates nothing", async () => {
    const owner = await signUp("Mars");
    for (const jurisdiction of ["mars", "default", 7, { eu: true }]) {
      const res = await createIn(owner, { jurisdiction });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_jurisdiction");
    }
    const orgs = await env.DB.prepare("SELECT count(*) AS n FROM member WHERE user_id = ?").bind(owner.userId).first<{ n: number }>();
    expect(orgs!.n).toBe(0);
  });

  it("no later request changes a tenant's placement; the table refuses UPDATE and DELETE", async () => {
    const owner = await signUp("Fixed");
    const tenant = await createTenant(owner, "Fixed");
    const before = await placementOf(tenant);
    const update = await api("/api/auth/organization/update", {
      method: "POST",
      headers: { "content-type": "application/json", origin: BASE, ...bearer(owner) },
      body: JSON.stringify({ organizationId: tenant, jurisdiction: "eu", data: { name: "Moved", metadata: { jurisdiction: "eu" } } }),
    });
    expect(update.status).toBe(200);
    // Creating again with the same id is not possible: ids are the server's (a body's id is ignored).
    const again = await createIn(owner, { id: tenant, jurisdiction: "eu" });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { id: string }).id).not.toBe(tenant);
    expect(await placementOf(tenant)).toEqual(before);
    for (const sql of [
      "UPDATE tenant_placement SET jurisdiction = 'eu' WHERE tenant_id = ?",
      "DELETE FROM tenant_placement WHERE tenant_id = ?",
    ]) {
      await expect(env.DB.prepare(sql).bind(tenant).run()).rejects.toThrow(/insert-only/);
    }
    const key = await createKey(owner, tenant, ["append"]);
    expect((await postEvent(tenant, key, event())).status).toBe(201);
    const rows = await rowsByDb(tenant);
    expect(Object.entries(rows).filter(([, n]) => n > 0)).toEqual([[bindingOf(before), 3]]);
  });

  it("a Durable Object refuses a placement other than the one it was given", async () => {
    const owner = await signUp("Stubborn");
    const tenant = await tenantIn(owner, "eu");
    const key = await createKey(owner, tenant, ["append"]);
    expect((await postEvent(tenant, key, event())).status).toBe(201);
    const log = tenantObject(env.TENANT_LOG, { jurisdiction: "eu", shard: 0 }, tenant);
    // The refusal is read through .then: `expect(rpcPromise).rejects` leaves workerd reporting an unhandled rejection.
    const refusal = (p: Promise<unknown>) =>
      p.then(
        () => "placed",
        (e: unknown) => String(e),
      );
    expect(await refusal(log.place(tenant, { jurisdiction: "default", shard: 1 }))).toMatch(/placed in eu\/0/);
    await log.place(tenant, { jurisdiction: "eu", shard: 0 });

    // An object that holds entries and no placement (a tenant from before shards: default, 0)
    // refuses any other: its rows are in the default shard 0, and moving them is not built.
    const older = `older-${crypto.randomUUID()}`;
    const legacy = env.TENANT_LOG.get(env.TENANT_LOG.idFromName(older));
    expect((await legacy.append(older, [{ event: event() as never }], {})).ok).toBe(true);
    expect(await refusal(legacy.place(older, { jurisdiction: "default", shard: 1 }))).toMatch(/holds data in the default place/);
    await legacy.place(older, { jurisdiction: "default", shard: 0 });
  });
});
