/**
 * Issue #16 item 2, the log's side of witnessing, against a real c2sp.org/tlog-witness witness
 * on loopback (test/witness/server.ts: Ed25519 cosignatures, real consistency checks): settings
 * validated on write, submission after seals, 409 resend, 422 and larger-size alerts, cosignatures
 * served with checkpoints, proofs and snapshot checkpoints, and quorum in verification.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it, vi } from "vitest";
import { utf8 } from "../../src/core/bytes";
import { formatCheckpoint, openCheckpoint } from "../../src/core/checkpoint";
import { checkQuorum, type CosignerKey } from "../../src/core/cosignature";
import { entryLeafHash } from "../../src/core/entry";
import { sha256 } from "../../src/core/hash";
import { checkpointSigner } from "../../src/core/keys";
import { parseVerifierKey, signNote } from "../../src/core/note";
import { verifyTlogProof } from "../../src/core/tlog-proof";
import { formatAddCheckpoint } from "../../src/core/tlog-witness";
import { WITNESS_AFTER_GROWTH_MS } from "../../src/durable/witnessing";
import { appendVia, withLog } from "../durable/faults";
import { runVerification } from "../durable/log-helpers";
import { witnessCosigner } from "../witness/keys";
import { api, bearer, createKey, event, logOf, postEvent, tenantWithKeys, type Session } from "./helpers";

const base = () => inject("witnessBase");
const witness = (name: string): { url: string; key: string; cosigner: CosignerKey } => {
  const key = witnessCosigner(name).key;
  return { url: `${base()}/w/${name}`, key: key.vkey, cosigner: key };
};
const json = { "content-type": "application/json" };

const putSettings = (owner: Session, tenant: string, patch: unknown) =>
  api(`/v1/tenants/${tenant}/settings`, { method: "PUT", headers: { ...json, ...bearer(owner) }, body: JSON.stringify(patch) });

async function appendEvents(tenant: string, key: string, n: number) {
  const res = await postEvent(tenant, key, { events: Array.from({ length: n }, (_, i) => event({ metadata: { i } })) });
  expect(res.status).toBe(201);
}

async function checkpointOf(tenant: string, key: string): Promise<string> {
  const res = await api(`/v1/tenants/${tenant}/checkpoint`, { headers: bearer(key) });
  expect(res.status).toBe(200);
  return res.text();
}

const origin = (tenant: string) => `sealtrail.localhost/${tenant}`;
const logVerifier = (tenant: string) => {
  const res = api(`/v1/keys?tenant=${tenant}`);
  return res.then(async (r) => {
    const { keys } = (await r.json()) as { keys: { verifier_key: string }[] };
    const v = parseVerifierKey(keys[0]!.verifier_key);
    if (!v.ok) throw new Error("bad key");
    return v.value;
  });
};

/**
 * Seals now and runs the alarm, which submits the seal's checkpoint and the head to the
 * witnesses; waits until each witness has cosigned the head or failed (the runtime may have run
 * the alarm on its own just before: then the submission may still be under way).
 */
async function sealAndWitness(owner: Session, tenant: string) {
  const res = await api(`/v1/tenants/${tenant}/seal`, { method: "POST", headers: bearer(owner) });
  expect(res.status).toBe(200);
  await settled(owner, tenant);
}

/** Runs the alarm until every witness has cosigned the head or failed. */
async function settled(owner: Session, tenant: string) {
  await vi.waitFor(
    async () => {
      await runDurableObjectAlarm(logOf(tenant));
      const s = await statsOf(owner, tenant);
      expect(s.witnesses.every((w) => w.cosigned_size === s.size || w.failures > 0)).toBe(true);
    },
    { timeout: 20_000, interval: 100 },
  );
}

interface Stats {
  size: number;
  witnesses: { url: string; cosigned_size: number; failures: number; last_error: string | null }[];
  witness_quorum: number;
  witnessed_size: number;
  witness_alert_count: number;
  witness_alerts: { reason: string; size: number; witness: string }[];
}
const statsOf = async (owner: Session, tenant: string) =>
  (await (await api(`/v1/tenants/${tenant}/stats`, { headers: bearer(owner) })).json()) as Stats;

/** A checkpoint signed with the log's own key (the test knows the deployment secret), for any size and root. */
function forgedCheckpoint(tenant: string, size: number, root: Uint8Array): string {
  const signer = checkpointSigner(utf8(env.SEALTRAIL_SIGNING_SECRET), origin(tenant), 1);
  return signNote(formatCheckpoint({ origin: origin(tenant), size, root, extensions: [] }), [signer]);
}

/** Submits a checkpoint to the test witness directly (as another party could), from old size 0. */
async function submitDirectly(name: string, note: string): Promise<number> {
  const res = await fetch(`${base()}/w/${name}/add-checkpoint`, {
    method: "POST",
    body: formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: note }),
  });
  await res.text();
  return res.status;
}

describe("witness settings", () => {
  it("are validated on write: a bad key, a private, metadata or credentialed URL is 400 invalid_witness; an unreachable quorum 422", async () => {
    const { owner, tenant } = await tenantWithKeys();
    const { url, key } = witness("settings");
    const good = { url, key };
    const cases: [unknown, number, string][] = [
      [{ witnesses: [{ url: good.url, key: "not-a-key" }] }, 400, "invalid_witness"],
      [{ witnesses: [{ url: "https://169.254.169.254/latest", key: good.key }] }, 400, "invalid_witness"],
      [{ witnesses: [{ url: "https://10.1.2.3/w", key: good.key }] }, 400, "invalid_witness"],
      [{ witnesses: [{ url: "https://metadata.google.internal/w", key: good.key }] }, 400, "invalid_witness"],
      [{ witnesses: [{ url: "https://user:pw@witness.example/w", key: good.key }] }, 400, "invalid_witness"],
      [{ witnesses: [{ url: "ftp://witness.example/w", key: good.key }] }, 400, "invalid_witness"],
      [{ witnesses: [good, good] }, 400, "invalid_witness"],
      [{ witnesses: [good], witness_quorum: 2 }, 422, "witness_quorum_unreachable"],
      [{ witness_quorum: 1 }, 422, "witness_quorum_unreachable"],
    ];
    for (const [patch, status, code] of cases) {
      const res = await putSettings(owner, tenant, patch);
      expect([res.status, ((await res.json()) as { error: { code: string } }).error.code], JSON.stringify(patch)).toEqual([status, code]);
    }
    const res = await putSettings(owner, tenant, { witnesses: [{ url: good.url, key: good.key }], witness_quorum: 1 });
    expect(res.status).toBe(200);
    const settings = (await (await api(`/v1/tenants/${tenant}/settings`, { headers: bearer(owner) })).json()) as Record<string, unknown>;
    expect(settings).toMatchObject({ witnesses: [{ url: good.url, key: good.key }], witness_quorum: 1 });
  });
});

describe("witness settings and the entry size bound", () => {
  it("a change whose logged entry could not fit an entry bundle (c2sp tlog-tiles uint16) is 413 and changes nothing", async () => {
    const { owner, tenant } = await tenantWithKeys();
    // 16 ML-DSA-44 witnesses (vkeys of ~1.8 KB) with long URLs: the entry logs them as before and after.
    const many = Array.from({ length: 16 }, (_, i) => {
      const w = witness(`pq-bulk-${i}`);
      return { url: `${w.url}/${"p".repeat(1500)}`, key: w.key };
    });
    const half = many.slice(0, 8);
    expect((await putSettings(owner, tenant, { witnesses: half, witness_quorum: 1 })).status).toBe(200);
    const before = await (await api(`/v1/tenants/${tenant}/settings`, { headers: bearer(owner) })).json();
    const size = (await logOf(tenant).stats()).size;
    const res = await putSettings(owner, tenant, { witnesses: many });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("entry_too_large");
    expect(await (await api(`/v1/tenants/${tenant}/settings`, { headers: bearer(owner) })).json()).toEqual(before);
    expect((await logOf(tenant).stats()).size).toBe(size);
  });
});

describe("witnessing", () => {
  it("quorum 1: after a seal the checkpoint, the entry proof and the snapshot checkpoint carry a valid cosignature", async () => {
    const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
    const verifyKey = await createKey(owner, tenant, ["verify"], "auditor");
    const w = witness("alpha");
    await appendEvents(tenant, appendKey, 5);
    expect((await putSettings(owner, tenant, { witnesses: [{ url: w.url, key: w.key }], witness_quorum: 1 })).status).toBe(200);
    await sealAndWitness(owner, tenant);

    const note = await checkpointOf(tenant, readKey);
    // Verifiers that do not know the witness still accept the note (unknown signature lines are ignored).
    const cp = openCheckpoint(note, origin(tenant), [await logVerifier(tenant)]);
    expect(cp.ok).toBe(true);
    const q = checkQuorum(note, [w.cosigner], 1);
    expect(q.ok && q.value.valid.map((v) => v.key.vkey)).toEqual([w.key]);
    const stats = await statsOf(owner, tenant);
    expect(stats.witnessed_size).toBe(stats.size);
    expect(stats.witnesses[0]).toMatchObject({ url: w.url, cosigned_size: stats.size, failures: 0, last_error: null });
    expect(stats.witness_alert_count).toBe(0);

    // An entry proof carries them too, and still verifies with the log's key alone.
    const res = await api(`/v1/tenants/${tenant}/events/2/proof`, { headers: bearer(readKey) });
    expect(res.status).toBe(200);
    const proof = await res.text();
    const entry = (await (await api(`/v1/tenants/${tenant}/events/2`, { headers: bearer(readKey) })).json()) as { entry: string };
    expect(verifyTlogProof(proof, entryLeafHash(entry.entry), origin(tenant), [await logVerifier(tenant)]).ok).toBe(true);
    expect(checkQuorum(proof.slice(proof.indexOf("\n\n") + 2), [w.cosigner], 1).ok).toBe(true);

    // The seal's checkpoint is served with its cosignature after the log's line.
    const snap = await api(`/v1/tenants/${tenant}/snapshots/000000000000/checkpoint`, { headers: bearer(verifyKey) });
    const snapNote = await snap.text();
    expect(checkQuorum(snapNote, [w.cosigner], 1).ok).toBe(true);

    // Verification requires the quorum on the newest checkpoint, and it is there.
    const job = await runVerification(tenant, verifyKey);
    expect(job.report?.failures).toEqual([]);
    expect(job.report?.ok).toBe(true);

    // The log grows past what the witness cosigned: the tiles' checkpoint is still a witnessed
    // one (as Tessera publishes), while the API's checkpoint is the head's.
    await appendEvents(tenant, appendKey, 3);
    const head = (await logOf(tenant).stats()).size;
    const tiles = await (await api(`/logs/${tenant}/checkpoint`, { headers: bearer(readKey) })).text();
    const published = openCheckpoint(tiles, origin(tenant), [await logVerifier(tenant)]);
    expect(published.ok && published.value.size).toBe(stats.witnessed_size);
    expect(stats.witnessed_size).toBeLessThan(head);
    expect(checkQuorum(tiles, [w.cosigner], 1).ok).toBe(true);
  });

  it("an ML-DSA-44 witness (type 0x06) and an Ed25519 one at quorum 2: both cosignatures are verified, stored and served", async () => {
    const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
    const pq = witness("pq-hotel");
    const ed = witness("india");
    expect(pq.cosigner.type).toBe(0x06);
    await appendEvents(tenant, appendKey, 3);
    const patch = { witnesses: [pq, ed].map(({ url, key }) => ({ url, key })), witness_quorum: 2 };
    expect((await putSettings(owner, tenant, patch)).status).toBe(200);
    await sealAndWitness(owner, tenant);
    const note = await checkpointOf(tenant, readKey);
    const q = checkQuorum(note, [pq.cosigner, ed.cosigner], 2);
    expect(q.ok && q.value.valid.map((v) => v.key.name).sort()).toEqual(["witness.test/india", "witness.test/pq-hotel"]);
    expect(openCheckpoint(note, origin(tenant), [await logVerifier(tenant)]).ok).toBe(true);
  });

  it("409: a witness that cosigned another size gets the checkpoint again from that size, with a consistency proof", async () => {
    const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
    const w = witness("bravo");
    await appendEvents(tenant, appendKey, 4);
    // Someone else already showed this witness the log at its current size.
    const early = await checkpointOf(tenant, readKey);
    expect(await submitDirectly("bravo", early)).toBe(200);
    const earlySize = Number(early.split("\n")[1]);
    await appendEvents(tenant, appendKey, 7);
    expect((await putSettings(owner, tenant, { witnesses: [{ url: w.url, key: w.key }] })).status).toBe(200);
    await sealAndWitness(owner, tenant);

    const stats = await statsOf(owner, tenant);
    expect(stats.size).toBeGreaterThan(earlySize);
    expect(stats.witnesses[0]).toMatchObject({ cosigned_size: stats.size, last_error: null });
    expect(stats.witness_alert_count).toBe(0);
    expect(checkQuorum(await checkpointOf(tenant, readKey), [w.cosigner], 1).ok).toBe(true);
  });

  it("422: a witness that cosigned a fork refuses the log's checkpoint, and /stats shows the alert", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const w = witness("charlie");
    await appendEvents(tenant, appendKey, 3);
    const size = (await statsOf(owner, tenant)).size;
    // A forked checkpoint: the log's key, the log's size, another root.
    expect(await submitDirectly("charlie", forgedCheckpoint(tenant, size - 1, sha256(utf8("fork"))))).toBe(200);
    expect((await putSettings(owner, tenant, { witnesses: [{ url: w.url, key: w.key }] })).status).toBe(200);
    await sealAndWitness(owner, tenant);

    const stats = await statsOf(owner, tenant);
    expect(stats.witness_alert_count).toBeGreaterThan(0);
    expect(stats.witness_alerts[0]).toMatchObject({ reason: "witness_inconsistent", witness: w.url });
    expect(stats.witnesses[0]!.last_error).toMatch(/^422/);
    expect(stats.witnessed_size).toBe(0);
  });

  it("409 with a size larger than the log's is an alert (possible split view), not a resend", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const w = witness("delta");
    await appendEvents(tenant, appendKey, 2);
    const size = (await statsOf(owner, tenant)).size;
    expect(await submitDirectly("delta", forgedCheckpoint(tenant, size + 100, sha256(utf8("ahead"))))).toBe(200);
    expect((await putSettings(owner, tenant, { witnesses: [{ url: w.url, key: w.key }] })).status).toBe(200);
    await sealAndWitness(owner, tenant);

    const stats = await statsOf(owner, tenant);
    expect(stats.witness_alerts[0]).toMatchObject({ reason: "witness_ahead", size: size + 100, witness: w.url });
    expect(stats.witnesses[0]!.cosigned_size).toBe(0);
  });

  it("quorum unmet: verification fails naming the newest checkpoint, while a verifier without witnesses still accepts it", async () => {
    const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
    const verifyKey = await createKey(owner, tenant, ["verify"], "auditor");
    const up = witness("echo");
    const down = { url: `${base()}/down/echo`, key: witness("foxtrot").key };
    await appendEvents(tenant, appendKey, 3);
    const patch = { witnesses: [{ url: up.url, key: up.key }, down], witness_quorum: 2 };
    expect((await putSettings(owner, tenant, patch)).status).toBe(200);
    await sealAndWitness(owner, tenant);

    const note = await checkpointOf(tenant, readKey);
    expect(openCheckpoint(note, origin(tenant), [await logVerifier(tenant)]).ok).toBe(true);
    const stats = await statsOf(owner, tenant);
    expect(stats.witnesses.find((x) => x.url === down.url)?.last_error).toMatch(/503/);
    const job = await runVerification(tenant, verifyKey);
    expect(job.report?.ok).toBe(false);
    expect(job.report?.failures).toContainEqual(expect.objectContaining({ kind: "witness_quorum", expected: 2, found: 1 }));
  });

  it(`the tree grows without a seal: its checkpoint reaches the witness ${WITNESS_AFTER_GROWTH_MS / 1000} s later, not before`, async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const w = witness("golf");
    await appendEvents(tenant, appendKey, 2);
    expect((await putSettings(owner, tenant, { witnesses: [{ url: w.url, key: w.key }] })).status).toBe(200);
    await settled(owner, tenant);
    const before = await statsOf(owner, tenant);
    expect(before.witnesses[0]!.cosigned_size).toBe(before.size);

    let clock = Date.now();
    await withLog(logOf(tenant), tenant, { now: () => clock }, async (log, state) => {
      expect((await appendVia(log, tenant, event())).ok).toBe(true);
      const grown = log.commit.head.size;
      expect(await state.storage.getAlarm()).toBeLessThanOrEqual(clock + WITNESS_AFTER_GROWTH_MS);
      clock += WITNESS_AFTER_GROWTH_MS - 1;
      await log.witnessing.run(tenant);
      expect(log.witnessing.stats().witnesses[0]!.cosigned_size).toBe(before.size);
      clock += 1;
      await log.witnessing.run(tenant);
      expect(log.witnessing.stats().witnesses[0]!.cosigned_size).toBe(grown);
      expect(log.witnessing.stats().witnessed_size).toBe(grown);
    });
  });
});
