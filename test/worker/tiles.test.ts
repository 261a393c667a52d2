import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { utf8 } from "../../src/core/bytes";
import { openCheckpoint } from "../../src/core/checkpoint";
import { leafHash, type Hash } from "../../src/core/hash";
import { CompactRange, consistencyProof, verifyConsistency } from "../../src/core/merkle";
import { parseVerifierKey } from "../../src/core/note";
import { decodeEntryBundle, decodeTile, tileNodeReader, tilePath, tilesForSize } from "../../src/core/tiles";
import type { TenantLog } from "../../src/durable/tenant-log";
import { tileKey, TILES_TO } from "../../src/durable/tiles";
import { api, bearer, createKey, entriesOf, event, logOf, postEvent, tenantWithKeys } from "./helpers";

async function append(tenant: string, key: string, n: number) {
  for (let at = 0; at < n; at += 100) {
    const count = Math.min(100, n - at);
    const res = await postEvent(tenant, key, { events: Array.from({ length: count }, (_, i) => event({ metadata: { i: at + i } })) });
    expect(res.status).toBe(201);
  }
}

async function verifierOf(tenant: string) {
  const { keys } = (await (await api(`/v1/keys?tenant=${tenant}`)).json()) as { keys: { origin: string; verifier_key: string }[] };
  const v = parseVerifierKey(keys[0]!.verifier_key);
  if (!v.ok) throw new Error("key");
  return { origin: keys[0]!.origin, verifier: v.value };
}

const get = (tenant: string, path: string, headers: Record<string, string> = {}) => api(`/logs/${tenant}/${path}`, { headers });

/** The log's tree checked from tiles alone: the checkpoint's root from level-0 tiles, higher tiles from lower ones. */
async function verifyFromTiles(tenant: string, headers: Record<string, string>) {
  const { origin, verifier } = await verifierOf(tenant);
  const cpRes = await get(tenant, "checkpoint", headers);
  expect(cpRes.status).toBe(200);
  expect(cpRes.headers.get("content-type")).toBe("text/plain; charset=utf-8");
  const cp = openCheckpoint(await cpRes.text(), origin, [verifier]);
  if (!cp.ok) throw new Error(`checkpoint: ${cp.error.reason}`);
  const tiles = new Map<string, Hash[]>();
  const range = new CompactRange();
  for (const ref of tilesForSize(cp.value.size)) {
    const res = await get(tenant, tilePath(ref), headers);
    expect(res.status, tilePath(ref)).toBe(200);
    const hashes = decodeTile(new Uint8Array(await res.arrayBuffer()), ref.width);
    if (!hashes.ok) throw new Error(hashes.error.reason);
    tiles.set(`${ref.level}/${ref.index}`, hashes.value);
    if (ref.level === 0) for (const h of hashes.value) range.append(h);
  }
  expect(range.size).toBe(cp.value.size);
  expect(range.root()).toEqual(cp.value.root);
  return { cp: cp.value, tiles, read: tileNodeReader((l, i) => tiles.get(`${l}/${i}`)) };
}

describe("tlog-tiles under /logs/<tenant>/", () => {
  it("serve a checkpoint, hash tiles and entry bundles a tile client verifies; full tiles land in R2", async () => {
    const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
    await append(tenant, appendKey, 600);
    const read = { "x-api-key": readKey };
    const { cp, tiles } = await verifyFromTiles(tenant, read);
    expect(cp.size).toBeGreaterThanOrEqual(600);

    // Entry bundles hash to the level-0 tiles.
    for (const ref of tilesForSize(cp.size).filter((r) => r.level === 0)) {
      const res = await get(tenant, tilePath({ ...ref, level: "entries" }), read);
      expect(res.status).toBe(200);
      const entries = decodeEntryBundle(new Uint8Array(await res.arrayBuffer()));
      if (!entries.ok) throw new Error(entries.error.reason);
      expect(entries.value.map(leafHash)).toEqual(tiles.get(`0/${ref.index}`));
    }

    // Caching: full tiles immutable and long-lived, partial ones short, all private with a credential.
    const full = await get(tenant, "tile/0/000", read);
    expect(full.headers.get("cache-control")).toBe("private, max-age=31536000, immutable");
    expect(full.headers.get("content-type")).toBe("application/octet-stream");
    expect((await full.arrayBuffer()).byteLength).toBe(8192);
    const partialWidth = cp.size % 256;
    const partial = await get(tenant, `tile/0/002.p/${partialWidth}`, read);
    expect(partial.status).toBe(200);
    expect(partial.headers.get("cache-control")).toBe("private, max-age=60");

    // The writer put the full tiles in R2, create-only, and its watermark says so.
    await expect.poll(async () => (await env.BUCKET.get(tileKey(tenant, { level: 0, index: 1, width: 256 }))) !== null).toBe(true);
    const stored = await env.BUCKET.get(tileKey(tenant, { level: "entries", index: 0, width: 256 }));
    expect(stored).not.toBeNull();
    await expect
      .poll(() =>
        runInDurableObject(
          logOf(tenant),
          (_: TenantLog, state) => state.storage.sql.exec("SELECT value FROM counters WHERE name = ?", TILES_TO).toArray()[0]?.value,
        ),
      )
      .toBe(512);

    // Every read of entries is logged.
    const logged = await entriesOf(owner, tenant, "sealtrail.entries.downloaded");
    expect(logged.length).toBe(3);
    expect(logged[0]!.event).toMatchObject({ targets: [{ id: "0", type: "entry_bundle" }], metadata: { from: 0, count: 256 } });
  });

  it("answer 404 for tiles beyond the tree and for any other spelling", async () => {
    const { tenant, appendKey, readKey } = await tenantWithKeys();
    await append(tenant, appendKey, 300);
    const read = { "x-api-key": readKey };
    const size = (await logOf(tenant).stats()).size;
    for (const path of [
      "tile/0/002",
      `tile/0/001.p/${(size % 256) + 1}`,
      "tile/1/000",
      "tile/2/000.p/1",
      "tile/entries/001",
      "tile/0/0",
      "tile/0/x000/000",
      "tile/00/000",
      "tile/0/000.p/256",
      "tile/0/000/",
      "tile/0/%30%30%30",
    ]) {
      const res = await get(tenant, path, read);
      expect(res.status, path).toBe(404);
    }
    expect((await get(tenant, `tile/1/000.p/1`, read)).status).toBe(200);
  });

  it("are private unless public_log is on; entry bundles always need read", async () => {
    const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
    const verifyKey = await createKey(owner, tenant, ["verify"], "verifier");
    await append(tenant, appendKey, 260);
    expect((await get(tenant, "checkpoint")).status).toBe(401);
    expect((await get(tenant, "tile/0/000")).status).toBe(401);
    expect((await get("nosuchtenant", "checkpoint")).status).toBe(401);
    // A verify key reads hashes, not entries.
    expect((await get(tenant, "tile/0/000", { "x-api-key": verifyKey })).status).toBe(200);
    expect((await get(tenant, "tile/entries/000", { "x-api-key": verifyKey })).status).toBe(403);

    const put = await api(`/v1/tenants/${tenant}/settings`, {
      method: "PUT",
      headers: { "content-type": "application/json", ...bearer(owner) },
      body: JSON.stringify({ public_log: true }),
    });
    expect(put.status).toBe(200);
    expect(((await put.json()) as { settings: { public_log: boolean } }).settings.public_log).toBe(true);

    const { cp, read } = await verifyFromTiles(tenant, {});
    const anonymous = await get(tenant, "tile/0/000");
    expect(anonymous.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(anonymous.headers.get("access-control-allow-origin")).toBe("*");
    expect((await get(tenant, "tile/entries/000")).status).toBe(401);
    expect((await get(tenant, "tile/entries/000", { "x-api-key": readKey })).status).toBe(200);
    // Turned off again: private at once (in this isolate; others within PUBLIC_CACHE_MS).
    const off = await api(`/v1/tenants/${tenant}/settings`, {
      method: "PUT",
      headers: { "content-type": "application/json", ...bearer(owner) },
      body: JSON.stringify({ public_log: false }),
    });
    expect(off.status).toBe(200);
    expect((await get(tenant, "tile/0/000")).status).toBe(401);
    expect((await get(tenant, "tile/0/000", { "x-api-key": verifyKey })).status).toBe(200);
    // A consistency proof from tiles alone.
    const proof = consistencyProof(100, cp.size, read);
    const rootAt100 = (await logOf(tenant).rootAt(tenant, 100)) as { ok: true; value: string };
    const oldRoot = Uint8Array.from(atob(rootAt100.value), (c) => c.charCodeAt(0));
    expect(verifyConsistency(100, cp.size, proof, oldRoot, cp.root).ok).toBe(true);
  });

  it("serve entries evicted from DO storage from the seal bundles", async () => {
    const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
    await append(tenant, appendKey, 100);
    const sealed = await api(`/v1/tenants/${tenant}/seal`, { method: "POST", headers: bearer(owner) });
    expect(sealed.status).toBe(200);
    await logOf(tenant).drainMirror();
    const held = await runInDurableObject(logOf(tenant), (_: TenantLog, state) =>
      Number(state.storage.sql.exec("SELECT count(*) AS n FROM entries WHERE seq < 100").one().n),
    );
    expect(held).toBe(0);
    const res = await get(tenant, "tile/entries/000.p/100", { "x-api-key": readKey });
    expect(res.status).toBe(200);
    const entries = decodeEntryBundle(new Uint8Array(await res.arrayBuffer()));
    if (!entries.ok) throw new Error(entries.error.reason);
    const tile = await get(tenant, "tile/0/000.p/100", { "x-api-key": readKey });
    expect(entries.value.map(leafHash)).toEqual((decodeTile(new Uint8Array(await tile.arrayBuffer())) as { value: Hash[] }).value);
    // Then the log grows past 256: the full bundle is written from the seal bundle and DO storage.
    await append(tenant, appendKey, 200);
    await expect.poll(async () => (await env.BUCKET.get(tileKey(tenant, { level: "entries", index: 0, width: 256 }))) !== null).toBe(true);
    const full = await env.BUCKET.get(tileKey(tenant, { level: "entries", index: 0, width: 256 }));
    const all = decodeEntryBundle(new Uint8Array(await full!.arrayBuffer()));
    expect(all.ok && all.value.slice(0, 100)).toEqual(entries.value);
  });
});

describe("tiles in R2 are checked like every other store", () => {
  it("a full verification names a tile or bundle in R2 that is not the log's; /stats says how far tiles go", async () => {
    const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
    await append(tenant, appendKey, 520);
    await expect
      .poll(
        async () =>
          ((await (await api(`/v1/tenants/${tenant}/stats`, { headers: bearer(owner) })).json()) as { tiles_to: number }).tiles_to,
      )
      .toBe(512);
    const verify = async () =>
      (await (await api(`/v1/tenants/${tenant}/verify`, { method: "POST", headers: bearer(owner) })).json()) as {
        report: { ok: boolean; failures: { kind: string; key?: string }[] };
      };
    expect((await verify()).report).toMatchObject({ ok: true });
    // Someone with access to the bucket replaces a full tile and a bundle (R2 has no delete lock in tests).
    const key = tileKey(tenant, { level: 0, index: 1, width: 256 });
    const bytes = new Uint8Array(await (await env.BUCKET.get(key))!.arrayBuffer());
    bytes[0]! ^= 1;
    await env.BUCKET.put(key, bytes);
    const bundleKey = tileKey(tenant, { level: "entries", index: 0, width: 256 });
    await env.BUCKET.put(bundleKey, new Uint8Array([0, 1, 0x41]));
    const report = (await verify()).report;
    expect(report.ok).toBe(false);
    expect(report.failures).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: "tile_mismatch", key }),
        expect.objectContaining({ kind: "tile_mismatch", key: bundleKey }),
      ]),
    );
    // The Worker serves what R2 holds (it never recomputes a written full tile): a tile client sees the change.
    const served = await get(tenant, "tile/0/001", { "x-api-key": readKey });
    expect(new Uint8Array(await served.arrayBuffer())).toEqual(bytes);
  });
});

describe("entry size (c2sp.org/tlog-tiles: uint16 lengths)", () => {
  it("refuses an entry that could exceed 65,535 bytes, storing nothing", async () => {
    const { tenant, base } = await tenantWithKeys();
    const big = {
      action: "sealtrail.tenant.updated",
      actor: { id: "x", type: "user" },
      outcome: "success",
      metadata: { name: "n".repeat(70_000) },
    };
    const result = await logOf(tenant).append(tenant, [{ event: big }], {});
    expect(result).toMatchObject({ ok: false, error: { reason: "entry_too_large", limit: 65535 } });
    expect((await logOf(tenant).stats()).size).toBe(base);
  });

  it("accepts the largest client event with the largest provenance: every client entry fits", async () => {
    const { tenant, appendKey } = await tenantWithKeys();
    // 32 KiB of canonical JSON exactly (escapes included); headers at their clipped maximum.
    const size = (v: unknown) => utf8(JSON.stringify(v)).length;
    const context: Record<string, string> = {};
    const body = event({ metadata: { a: "\u0001".repeat(2600) }, context });
    for (let i = 0; size(body) + 1024 + 12 <= 32 * 1024; i++) context[`k${i}`] = "é".repeat(512);
    context.last = "";
    context.last = "x".repeat(32 * 1024 - size(body));
    expect(size(body)).toBe(32 * 1024);
    const res = await postEvent(tenant, appendKey, body, {
      "user-agent": '"'.repeat(600),
      "cf-ray": "r".repeat(40_000),
      "cf-connecting-ip": "2001:db8::1",
    });
    expect(res.status).toBe(201);
  });
});
