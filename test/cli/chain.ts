/** Builds a genuine chain of seals with the same code the Durable Object uses, for CLI tests. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeEntry, entryLeafHash, GENESIS_PREV, type JsonObject } from "../../src/core/entry";
import { checkpointSigner, checkpointVerifierKey } from "../../src/core/keys";
import { formatBundle } from "../../src/core/manifest";
import { formatCheckpoint } from "../../src/core/checkpoint";
import { toBase64 } from "../../src/core/bytes";
import { CompactRange, consistencyProof, inclusionProof, type NodeReader } from "../../src/core/merkle";
import { signNote } from "../../src/core/note";
import { formatTlogProof } from "../../src/core/tlog-proof";
import { planSeal, sealId, type SealRecord } from "../../src/core/seal";

export const secret = new TextEncoder().encode("cli-chain-secret-cli-chain-secret-0123456789");

export function originOf(tenant: string) {
  return `sealtrail.test/${tenant}`;
}

export const keyOf = (tenant: string) => checkpointVerifierKey(secret, originOf(tenant), 1);

const entryAt = (tenant: string, seq: number, prev: Uint8Array, event?: JsonObject) =>
  encodeEntry({
    tenant,
    seq,
    receivedAtMs: 1_795_000_000_000 + seq,
    prev,
    event: event ?? { action: "doc.read", actor: { id: `u${seq}`, type: "user" } },
    provenance: {},
  });

export interface HeadOptions {
  /** Entries appended after the last seal. */
  unsealed: number;
  /** Sign with another secret (another key for the same origin). */
  secret?: Uint8Array;
  /** Entry 0 of the head's tree differs from the sealed one: a forked history. */
  fork?: boolean;
  /** Write no consistency proof. */
  noProof?: boolean;
}

/**
 * Writes head.checkpoint and head.consistency.json as `sealtrail fetch` does: the log's signed
 * checkpoint after `unsealed` more entries, and the proof from the last seal (`sealed`) to it.
 */
export function writeHead(dir: string, tenant: string, sealed: number, o: HeadOptions): void {
  const nodes = new Map<string, Uint8Array>();
  const range = new CompactRange();
  let prev = GENESIS_PREV;
  for (let seq = 0; seq < sealed + o.unsealed; seq++) {
    const entry = seq === 0 && o.fork ? entryAt(tenant, 0, prev).replace("doc.read", "doc.wipe") : entryAt(tenant, seq, prev);
    prev = entryLeafHash(entry);
    for (const x of range.append(prev)) nodes.set(`${x.level}/${x.index}`, x.hash);
  }
  const size = sealed + o.unsealed;
  const signer = checkpointSigner(o.secret ?? secret, originOf(tenant), 1);
  writeFileSync(
    join(dir, "head.checkpoint"),
    signNote(formatCheckpoint({ origin: originOf(tenant), size, root: range.root(), extensions: [] }), [signer]),
  );
  if (o.noProof || sealed === 0) return;
  const hashes = consistencyProof(sealed, size, (l, i) => nodes.get(`${l}/${i}`)!).map(toBase64);
  writeFileSync(join(dir, "head.consistency.json"), JSON.stringify({ from: sealed, to: size, hashes }));
}

/** Writes seals of the given sizes for `tenant` into a new folder; returns it and the entries. `events`: other events at some seqs. */
export function writeChain(tenant: string, sizes: number[], events: Record<number, JsonObject> = {}): { dir: string; entries: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "sealtrail-chain-"));
  const nodes = new Map<string, Uint8Array>();
  const read: NodeReader = (l, i) => nodes.get(`${l}/${i}`)!;
  const range = new CompactRange();
  const entries: string[] = [];
  let prevLeaf = GENESIS_PREV;
  let prev: SealRecord | undefined;
  const signer = checkpointSigner(secret, originOf(tenant), 1);
  for (const n of sizes) {
    for (let i = 0; i < n; i++) {
      const seq = entries.length;
      const entry = entryAt(tenant, seq, prevLeaf, events[seq]);
      entries.push(entry);
      prevLeaf = entryLeafHash(entry);
      for (const x of range.append(prevLeaf)) nodes.set(`${x.level}/${x.index}`, x.hash);
    }
    const plan = planSeal({
      entries: (from, to) => formatBundle(entries.slice(from, to)),
      readNode: read,
      tenant,
      origin: originOf(tenant),
      signer,
      size: entries.length,
      maxEntries: 1_000_000,
      prev,
      nowMs: 1_795_000_000_000 + entries.length,
    })!;
    const id = sealId(plan.seal.id);
    writeFileSync(join(dir, `${id}.manifest`), plan.seal.manifest);
    writeFileSync(join(dir, `${id}.checkpoint`), plan.seal.checkpoint);
    writeFileSync(join(dir, `${id}.jsonl`), plan.bundle);
    prev = { ...plan.seal, published: true };
  }
  return { dir, entries };
}

/**
 * A small signed log made with the core the Durable Object uses: `size` entries of `tenant`
 * (events `{action: "a.b", n: seq}`), signed with `signingSecret` under `origin`, and a
 * c2sp.org/tlog-proof for any of them.
 */
export function signedLog(tenant: string, origin: string, signingSecret: Uint8Array, size: number) {
  const entries: string[] = [];
  const nodes = new Map<string, Uint8Array>();
  const range = new CompactRange();
  let prev = GENESIS_PREV;
  for (let seq = 0; seq < size; seq++) {
    const entry = encodeEntry({
      tenant,
      seq,
      receivedAtMs: 1_795_000_000_000 + seq,
      prev,
      event: { action: "a.b", n: seq },
      provenance: {},
    });
    entries.push(entry);
    prev = entryLeafHash(entry);
    for (const n of range.append(prev)) nodes.set(`${n.level}/${n.index}`, n.hash);
  }
  const read: NodeReader = (l, i) => nodes.get(`${l}/${i}`)!;
  const checkpoint = signNote(formatCheckpoint({ origin, size, root: range.root(), extensions: [] }), [
    checkpointSigner(signingSecret, origin, 1),
  ]);
  const proofOf = (index: number) => formatTlogProof({ index, path: inclusionProof(index, size, read), checkpoint });
  return { entries, checkpoint, proofOf, key: checkpointVerifierKey(signingSecret, origin, 1) };
}
