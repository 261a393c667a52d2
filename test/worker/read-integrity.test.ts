/**
 * Issue #13, finding 14: reads never serve a D1 row silently when it is not the entry the log
 * holds. GET /events/:seq and every page of GET /events check each row's bytes against its
 * leaf hash column and against the Durable Object's own tree, and answer a mismatch with
 * 502 integrity_error naming the entry.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { TenantLog } from "../../src/durable/tenant-log";
import { api, event, logOf, postEvent, tenantWithKeys, mirroredDbOf, mirrored } from "./helpers";
import { d1RefusesRowsOf } from "../durable/faults";
import { tamperD1 } from "../durable/log-helpers";

async function leafOf(entry: string): Promise<string> {
  const input = new Uint8Array([0, ...new TextEncoder().encode(entry)]);
  return btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", input))));
}

async function tenWithReader() {
  const t = await tenantWithKeys();
  expect(
    (await postEvent(t.tenant, t.appendKey, { events: Array.from({ length: 10 }, (_, i) => event({ metadata: { i } })) })).status,
  ).toBe(201);
  await mirrored(t.tenant);
  const get = (path: string) => api(`/v1/tenants/${t.tenant}${path}`, { headers: { "x-api-key": t.readKey } });
  return { ...t, get };
}

async function expectIntegrityError(res: Response, seq: number) {
  expect(res.status).toBe(502);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe("integrity_error");
  expect(body.error.message).toContain(`entry ${seq}`);
}

describe("reads check rows against the log's tree", () => {
  it("an entry whose bytes changed in D1 (leaf hash column left alone) is an integrity error, not a 200", async () => {
    const { tenant, get } = await tenWithReader();
    await tamperD1("UPDATE audit_events SET entry = replace(entry, 'user.login', 'user.logon') WHERE tenant_id = ? AND seq = 3", tenant);
    await expectIntegrityError(await get("/events/3"), 3);
    expect((await get("/events/4")).status).toBe(200);
  });

  it("an entry whose bytes and leaf hash column both changed is an integrity error", async () => {
    const { tenant, get } = await tenWithReader();
    const row = await (await mirroredDbOf(tenant))
      .prepare("SELECT entry FROM audit_events WHERE tenant_id = ? AND seq = 5")
      .bind(tenant)
      .first<{ entry: string }>();
    const forged = row!.entry.replace('"success"', '"failure"');
    await tamperD1(
      "UPDATE audit_events SET entry = ?, leaf_hash = ? WHERE tenant_id = ? AND seq = 5",
      forged,
      await leafOf(forged),
      tenant,
    );
    await expectIntegrityError(await get("/events/5"), 5);
  });

  it("a leaf hash column altered alone, and a row past the log's head, are integrity errors", async () => {
    const { tenant, get } = await tenWithReader();
    await tamperD1(
      "UPDATE audit_events SET leaf_hash = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' WHERE tenant_id = ? AND seq = 2",
      tenant,
    );
    await expectIntegrityError(await get("/events/2"), 2);
    const size = (await logOf(tenant).stats()).size;
    const last = await (await mirroredDbOf(tenant))
      .prepare("SELECT * FROM audit_events WHERE tenant_id = ? AND seq = 9")
      .bind(tenant)
      .first<Record<string, unknown>>();
    const forged = String(last!.entry).replace('"seq":9', `"seq":${size + 5}`);
    await (await mirroredDbOf(tenant))
      .prepare(
        "INSERT INTO audit_events (tenant_id, seq, entry, leaf_hash, received_at, action, actor_id, actor_type, outcome) VALUES (?, ?, ?, ?, ?, 'x.y', 'a', 'user', 'success')",
      )
      .bind(tenant, size + 5, forged, await leafOf(forged), Number(last!.received_at))
      .run();
    await expectIntegrityError(await get(`/events/${size + 5}`), size + 5);
  });

  it("an entry deleted from D1 is an integrity error, not a 404; an entry never written is a 404", async () => {
    const { tenant, get } = await tenWithReader();
    const db = await mirroredDbOf(tenant);
    await db.batch([
      db.prepare("DROP TRIGGER audit_events_no_delete"),
      db.prepare("DELETE FROM audit_events WHERE tenant_id = ? AND seq = 4").bind(tenant),
      db.prepare(
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
      ),
    ]);
    // The log keeps its own copy of an entry until it is sealed; drop it, as eviction after a seal does.
    await runInDurableObject(logOf(tenant), (_log: TenantLog, state) => {
      state.storage.sql.exec("DELETE FROM entries WHERE seq = 4");
    });
    await expectIntegrityError(await get("/events/4"), 4);
    expect((await get("/events/1000")).status).toBe(404);
  });

  it("a page that holds a tampered row is refused, naming it; other pages are served", async () => {
    const { tenant, get } = await tenWithReader();
    await tamperD1("UPDATE audit_events SET entry = replace(entry, 'user.login', 'user.logon') WHERE tenant_id = ? AND seq = 7", tenant);
    await expectIntegrityError(await get("/events?limit=10"), 7);
    await expectIntegrityError(await get("/events?from_seq=6&to_seq=9"), 7);
    const clean = await get("/events?to_seq=7");
    expect(clean.status).toBe(200);
    expect(((await clean.json()) as { events: unknown[] }).events).toHaveLength(7);
  });

  it("untampered entries, and entries the mirror has not copied yet, are served as before", async () => {
    // `base`: the keys' creation entries, which come before the ten events.
    const { tenant, appendKey, get, base } = await tenWithReader();
    await d1RefusesRowsOf(await mirroredDbOf(tenant), tenant);
    expect((await postEvent(tenant, appendKey, event({ action: "late.event" }))).status).toBe(201);
    const late = await get(`/events/${base + 10}`);
    expect(late.status).toBe(200);
    expect(await late.json()).toMatchObject({ seq: base + 10, event: { action: "late.event" } });
    const page = await get("/events?limit=100");
    expect(page.status).toBe(200);
    expect(((await page.json()) as { events: unknown[] }).events).toHaveLength(base + 10);
  });
});

describe("exports check rows against the log's tree", () => {
  it("a tampered row on the first page is a 502 naming it, in JSONL and CSV", async () => {
    const { tenant, get } = await tenWithReader();
    await tamperD1("UPDATE audit_events SET entry = replace(entry, 'user.login', 'user.logon') WHERE tenant_id = ? AND seq = 7", tenant);
    await expectIntegrityError(await get("/export?format=csv"), 7);
    await expectIntegrityError(await get("/export?format=jsonl"), 7);
    // A filter that leaves the row out exports as before.
    const clean = await get("/export?format=jsonl&to_seq=7");
    expect(clean.status).toBe(200);
    expect((await clean.text()).trim().split("\n")).toHaveLength(7);
  });

  it("a tampered row past the first page ends the download with an error, never a silently altered file", async () => {
    const { tenant, appendKey, get } = await tenWithReader();
    for (let i = 0; i < 10; i++) {
      const events = Array.from({ length: 100 }, (_, j) => event({ metadata: { n: i * 100 + j } }));
      expect((await postEvent(tenant, appendKey, { events })).status).toBe(201);
    }
    await mirrored(tenant);
    await tamperD1("UPDATE audit_events SET entry = replace(entry, 'user.login', 'user.logon') WHERE tenant_id = ? AND seq = 1005", tenant);
    const res = await get("/export?format=csv");
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });
});
