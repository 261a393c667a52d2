import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { fromBase64, toBase64 } from "../../src/core/bytes";
import { openCheckpoint, type Checkpoint } from "../../src/core/checkpoint";
import { entryLeafHash } from "../../src/core/entry";
import type { Hash } from "../../src/core/hash";
import { CompactRange, verifyConsistency, verifyInclusion } from "../../src/core/merkle";
import { parseVerifierKey, type NoteVerifier } from "../../src/core/note";
import { verifyTlogProof } from "../../src/core/tlog-proof";
import { publishedKeys } from "../../src/durable/checkpoint-keys";
import { withLog } from "../durable/faults";
import {
  api,
  bearer,
  createKey,
  createTenant,
  event,
  logOf,
  postEvent,
  signUp,
  tenantWithKeys,
  type Session,
  mirroredDbOf,
} from "./helpers";

const b64 = (s: string) => fromBase64(s)!;

async function verifiersOf(tenant: string): Promise<{ origin: string; verifiers: NoteVerifier[] }> {
  const res = await api(`/v1/keys?tenant=${tenant}`);
  expect(res.status).toBe(200);
  const { keys } = (await res.json()) as { keys: { origin: string; verifier_key: string }[] };
  const verifiers = keys.map((k) => {
    const v = parseVerifierKey(k.verifier_key);
    if (!v.ok) throw new Error(`published key does not parse: ${k.verifier_key}`);
    return v.value;
  });
  return { origin: keys[0]!.origin, verifiers };
}

/** Roots at every size, recomputed here from D1's entry bytes (not from the Durable Object). */
async function rootsFromD1(tenant: string): Promise<{ leaves: Hash[]; roots: Hash[] }> {
  const { results } = await (await mirroredDbOf(tenant))
    .prepare("SELECT seq, entry FROM audit_events WHERE tenant_id = ? ORDER BY seq")
    .bind(tenant)
    .all<{ seq: number; entry: string }>();
  const range = new CompactRange();
  const leaves: Hash[] = [];
  const roots = [range.root()];
  for (const [i, row] of results.entries()) {
    expect(row.seq).toBe(i);
    const leaf = entryLeafHash(row.entry);
    leaves.push(leaf);
    range.append(leaf);
    roots.push(range.root());
  }
  return { leaves, roots };
}

/** Appends events `from`..`to` - 1 (their count is what matters), with an API key or a member's session. */
async function appendUpTo(tenant: string, key: string | Session, from: number, to: number) {
  for (let at = from; at < to; at += 100) {
    const n = Math.min(100, to - at);
    const body = { events: Array.from({ length: n }, (_, i) => event({ metadata: { i: at + i } })) };
    const res =
      typeof key === "string"
        ? await postEvent(tenant, key, body)
        : await api(`/v1/tenants/${tenant}/events`, {
            method: "POST",
            headers: { "content-type": "application/json", ...bearer(key) },
            body: JSON.stringify(body),
          });
    expect(res.status).toBe(201);
  }
}

/** A tenant whose log is empty: no keys were created (creating one is logged); its owner appends and reads. */
async function emptyTenant() {
  const owner = await signUp();
  return { owner, tenant: await createTenant(owner) };
}

describe("every tenant log is an RFC 6962 transparency log with signed C2SP checkpoints", () => {
  it("checkpoints, inclusion and consistency proofs verify at N = 1, 2, 3, 7, 8, 9, 255, 256, 257, 1000", async () => {
    // Read through the Durable Object, as the routes do, so that no access event (every HTTP
    // read is logged) changes the sizes under test; the routes are covered below. No key is
    // created (that is logged too): the owner appends, so the sizes start at 0.
    const { tenant, owner: appendKey } = await emptyTenant();
    const { origin, verifiers } = await verifiersOf(tenant);
    const log = logOf(tenant);
    const checkpoints: Checkpoint[] = [];
    let size = 0;
    for (const n of [1, 2, 3, 7, 8, 9, 255, 256, 257, 1000]) {
      await appendUpTo(tenant, appendKey, size, n);
      size = n;
      const signed = await log.checkpoint(tenant);
      if (!signed.ok) throw new Error("no checkpoint");
      const cp = openCheckpoint(signed.value.note, origin, verifiers);
      expect(cp.ok, JSON.stringify(cp)).toBe(true);
      if (!cp.ok) return;
      expect(cp.value.size).toBe(n);
      const { leaves, roots } = await rootsFromD1(tenant);
      expect(toBase64(cp.value.root)).toBe(toBase64(roots[n]!));

      for (const index of new Set([0, Math.floor(n / 2), n - 1])) {
        const proof = await log.inclusionProof(tenant, index, n);
        if (!proof.ok) throw new Error("no proof");
        expect(verifyInclusion(index, n, leaves[index]!, proof.value.hashes.map(b64), cp.value.root).ok).toBe(true);
        const tlog = await log.entryProof(tenant, index);
        if (!tlog.ok) throw new Error("no tlog-proof");
        expect(verifyTlogProof(tlog.value, leaves[index]!, origin, verifiers).ok).toBe(true);
      }
      for (const earlier of checkpoints) {
        const proof = await log.consistencyProof(tenant, earlier.size, n);
        if (!proof.ok) throw new Error("no consistency proof");
        expect(verifyConsistency(earlier.size, n, proof.value.hashes.map(b64), earlier.root, cp.value.root).ok).toBe(true);
      }
      checkpoints.push(cp.value);
    }
  });

  it("the routes serve the same checkpoint and proofs, and each proof download is logged", async () => {
    const { tenant, appendKey, readKey, base } = await tenantWithKeys();
    await appendUpTo(tenant, appendKey, 0, 10);
    const n = base + 10;
    const { origin, verifiers } = await verifiersOf(tenant);
    const get = (path: string) => api(`/v1/tenants/${tenant}${path}`, { headers: { "x-api-key": readKey } });
    const note = await (await get("/checkpoint")).text();
    const cp = openCheckpoint(note, origin, verifiers);
    expect(cp).toMatchObject({ ok: true, value: { size: n } });
    if (!cp.ok) return;
    const { leaves, roots } = await rootsFromD1(tenant);
    const proof = (await (await get(`/proof/inclusion?index=4&size=${n}`)).json()) as { hashes: string[] };
    expect(verifyInclusion(4, n, leaves[4]!, proof.hashes.map(b64), cp.value.root).ok).toBe(true);
    const consistency = (await (await get(`/proof/consistency?from=3&to=${n}`)).json()) as { hashes: string[] };
    expect(verifyConsistency(3, n, consistency.hashes.map(b64), roots[3]!, cp.value.root).ok).toBe(true);
    const tlog = await get("/events/4/proof");
    expect(tlog.headers.get("content-disposition")).toBe('attachment; filename="4.tlog-proof"');
    expect(verifyTlogProof(await tlog.text(), leaves[4]!, origin, verifiers).ok).toBe(true);
    // Three proof downloads, three access entries after the ten events; the checkpoint read is not logged.
    const { results } = await (await mirroredDbOf(tenant))
      .prepare("SELECT entry FROM audit_events WHERE tenant_id = ? AND seq >= ? ORDER BY seq")
      .bind(tenant, n)
      .all<{ entry: string }>();
    expect(
      results.map((r) => (JSON.parse(r.entry) as { event: { action: string; metadata: { format: string } } }).event.metadata.format),
    ).toEqual(["inclusion", "consistency", "tlog-proof"]);
  });

  it("receipts carry the tree size, and the receipt's leaf is provably in that tree", async () => {
    const { tenant, appendKey, readKey, base } = await tenantWithKeys();
    await appendUpTo(tenant, appendKey, 0, 5);
    const receipt = (await (await postEvent(tenant, appendKey, event())).json()) as { seq: number; leaf_hash: string; tree_size: number };
    expect(receipt).toMatchObject({ seq: base + 5, tree_size: base + 6 });
    const proof = await api(`/v1/tenants/${tenant}/events/${base + 5}/proof`, { headers: { "x-api-key": readKey } });
    const { origin, verifiers } = await verifiersOf(tenant);
    expect(verifyTlogProof(await proof.text(), b64(receipt.leaf_hash), origin, verifiers)).toMatchObject({
      ok: true,
      value: { index: base + 5, checkpoint: { size: base + 6 } },
    });
  });

  it("a checkpoint of tenant A does not verify with tenant B's key", async () => {
    const a = await tenantWithKeys();
    const b = await tenantWithKeys();
    await postEvent(a.tenant, a.appendKey, event());
    const note = await (await api(`/v1/tenants/${a.tenant}/checkpoint`, { headers: { "x-api-key": a.readKey } })).text();
    const keysA = await verifiersOf(a.tenant);
    const keysB = await verifiersOf(b.tenant);
    expect(openCheckpoint(note, keysA.origin, keysA.verifiers).ok).toBe(true);
    expect(openCheckpoint(note, keysA.origin, keysB.verifiers).ok).toBe(false);
    expect(openCheckpoint(note, keysB.origin, keysB.verifiers).ok).toBe(false);
  });

  it("a proof against a root that is not in a signed checkpoint is rejected", async () => {
    const { tenant, appendKey, readKey, base } = await tenantWithKeys();
    await appendUpTo(tenant, appendKey, 0, 9);
    const n = base + 9;
    const { origin, verifiers } = await verifiersOf(tenant);
    const text = await (await api(`/v1/tenants/${tenant}/events/3/proof`, { headers: { "x-api-key": readKey } })).text();
    const { leaves, roots } = await rootsFromD1(tenant);
    expect(verifyTlogProof(text, leaves[3]!, origin, verifiers).ok).toBe(true);
    // Swap the checkpoint's root for another real root of this log (one entry shorter): not what was signed.
    const swapped = text.replace(toBase64(roots[n]!), toBase64(roots[n - 1]!)).replace(`${origin}\n${n}\n`, `${origin}\n${n - 1}\n`);
    expect(swapped).not.toBe(text);
    expect(verifyTlogProof(swapped, leaves[3]!, origin, verifiers).ok).toBe(false);
  });

  it("after a key rotation, new checkpoints use the new key and old ones keep verifying", async () => {
    const { tenant, appendKey, readKey, base } = await tenantWithKeys();
    await appendUpTo(tenant, appendKey, 0, 3);
    const get = () => api(`/v1/tenants/${tenant}/checkpoint`, { headers: { "x-api-key": readKey } }).then((r) => r.text());
    const before = await get();
    const stub = logOf(tenant);
    const rotated = { ...env, SEALTRAIL_KEY_VERSION: "2" };
    await appendUpTo(tenant, appendKey, 3, 4);
    // The log as a deploy of the rotated configuration starts it, over the same storage.
    const after = await withLog(stub, tenant, { env: rotated }, async (log) => {
      const signed = await log.reads.checkpoint(tenant);
      if (!signed.ok) throw new Error(JSON.stringify(signed.error));
      return signed.value.note;
    });
    const published = publishedKeys(rotated, tenant);
    expect(published.map((k) => k.version)).toEqual([1, 2]);
    const all = published.map((k) => (parseVerifierKey(k.verifier_key) as { value: NoteVerifier }).value);
    const origin = published[0]!.origin;
    expect(openCheckpoint(before, origin, all)).toMatchObject({ ok: true, value: { size: base + 3 } });
    expect(openCheckpoint(after, origin, all)).toMatchObject({ ok: true, value: { size: base + 4 } });
    expect(openCheckpoint(after, origin, [all[0]!]).ok).toBe(false);
    expect(openCheckpoint(before, origin, [all[1]!]).ok).toBe(false);
  });

  it("out-of-range or malformed proof requests get a clear 400 or 404, never a 500", async () => {
    const { tenant, appendKey, readKey, base } = await tenantWithKeys();
    await appendUpTo(tenant, appendKey, 0, 4);
    const n = base + 4;
    const cases: [string, number, string][] = [
      [`/proof/inclusion?index=${n}&size=${n}`, 400, "index_out_of_range"],
      [`/proof/inclusion?index=0&size=${n + 1}`, 400, "size_out_of_range"],
      ["/proof/inclusion?index=-1&size=4", 400, "invalid_query"],
      ["/proof/inclusion?index=abc&size=4", 400, "invalid_query"],
      ["/proof/inclusion?index=0", 400, "invalid_query"],
      ["/proof/inclusion?index=0&size=99999999999999999999", 400, "invalid_query"],
      [`/proof/consistency?from=0&to=${n}`, 400, "size_out_of_range"],
      ["/proof/consistency?from=3&to=2", 400, "size_out_of_range"],
      [`/proof/consistency?from=1&to=${n + 1}`, 400, "size_out_of_range"],
      [`/events/${n}/proof`, 404, "not_found"],
      ["/events/99999999999999999999/proof", 404, "not_found"],
    ];
    for (const [path, status, code] of cases) {
      const res = await api(`/v1/tenants/${tenant}${path}`, { headers: { "x-api-key": readKey } });
      expect(res.status, path).toBe(status);
      expect(((await res.json()) as { error: { code: string } }).error.code, path).toBe(code);
    }
  });

  it("checkpoints and proofs need read or verify: an append key is refused, a verify key is not", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const verifyKey = await createKey(owner, tenant, ["verify"]);
    await postEvent(tenant, appendKey, event());
    for (const path of ["/checkpoint", "/proof/inclusion?index=0&size=1", "/events/0/proof"]) {
      expect((await api(`/v1/tenants/${tenant}${path}`, { headers: { "x-api-key": appendKey } })).status, path).toBe(403);
      expect((await api(`/v1/tenants/${tenant}${path}`, { headers: { "x-api-key": verifyKey } })).status, path).toBe(200);
    }
    expect((await api(`/v1/tenants/${tenant}/checkpoint`)).status).toBe(401);
  });

  it("an empty log has a signed checkpoint of size 0 with the empty-tree root", async () => {
    const { tenant, owner } = await emptyTenant();
    const note = await (await api(`/v1/tenants/${tenant}/checkpoint`, { headers: bearer(owner) })).text();
    const { origin, verifiers } = await verifiersOf(tenant);
    expect(openCheckpoint(note, origin, verifiers)).toMatchObject({ ok: true, value: { size: 0 } });
    expect(note.split("\n")[2]).toBe("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  });

  it("/v1/keys gives one named tenant's verifier keys publicly, never a list of tenants, and 404s an unknown tenant", async () => {
    const a = await tenantWithKeys();
    const b = await tenantWithKeys();
    const one = (await (await api(`/v1/keys?tenant=${a.tenant}`)).json()) as { keys: { tenant: string; verifier_key: string }[] };
    expect(one.keys.length).toBeGreaterThan(0);
    expect(one.keys.every((k) => k.tenant === a.tenant && k.verifier_key.startsWith(`${env.SEALTRAIL_ORIGIN}/${a.tenant}+`))).toBe(true);
    // Without ?tenant= (or with an empty one, or paging through "the rest"), nothing names a tenant.
    for (const path of ["/v1/keys", "/v1/keys?tenant=", "/v1/keys?cursor=", `/v1/keys?cursor=${a.tenant}`]) {
      const res = await api(path);
      const text = await res.text();
      expect(res.status, path).toBe(400);
      expect(JSON.parse(text), path).toMatchObject({ error: { code: "tenant_required" } });
      expect(JSON.parse(text).error.message).toContain("?tenant=");
      expect(text).not.toContain(a.tenant);
      expect(text).not.toContain(b.tenant);
    }
    expect((await api("/v1/keys?tenant=nope")).status).toBe(404);
  });
});
