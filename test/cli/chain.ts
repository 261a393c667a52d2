/** Builds a genuine chain of seals with the same code the Durable Object uses, for CLI tests. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeEntry, entryLeafHash, GENESIS_PREV } from "../../src/core/entry";
import { checkpointSigner, checkpointVerifierKey } from "../../src/core/keys";
import { formatBundle } from "../../src/core/manifest";
import { CompactRange, type NodeReader } from "../../src/core/merkle";
import { planSeal, sealId, type SealRecord } from "../../src/core/seal";

export const secret = new TextEncoder().encode("cli-chain-secret-cli-chain-secret-0123456789");

export function originOf(tenant: string) {
  return `sealtrail.test/${tenant}`;
}

export const keyOf = (tenant: string) => checkpointVerifierKey(secret, originOf(tenant), 1);

/** Writes seals of the given sizes for `tenant` into a new folder; returns it and the entries. */
export function writeChain(tenant: string, sizes: number[]): { dir: string; entries: string[] } {
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
      const entry = encodeEntry({ tenant, seq, receivedAtMs: 1_795_000_000_000 + seq, prev: prevLeaf, event: { action: "doc.read", actor: { id: `u${seq}`, type: "user" } }, provenance: {} });
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
