/**
 * Core throughput (runs in workerd and on Node): entry encoding + leaf hashing, proof
 * verification, and signed-note verification. Prints figures; asserts nothing about time.
 */
import { it } from "vitest";
import { toBase64 } from "../src/core/bytes";
import { formatCheckpoint, openCheckpoint } from "../src/core/checkpoint";
import { encodeEntry, entryLeafHash, GENESIS_PREV } from "../src/core/entry";
import { leafHash } from "../src/core/hash";
import { checkpointSigner, checkpointVerifierKey } from "../src/core/keys";
import { CompactRange, inclusionProof, verifyInclusion, type NodeReader } from "../src/core/merkle";
import { parseVerifierKey, signNote } from "../src/core/note";
import { report, throughput } from "./report";
import { provenance, sampleEvent } from "./sample-event";

it("entry encoding (RFC 8785) + RFC 6962 leaf hash", () => {
  const events = Array.from({ length: 1000 }, (_, i) => sampleEvent(i));
  const size = encodeEntry({ tenant: "t", seq: 0, receivedAtMs: 0, prev: GENESIS_PREV, event: events[0]!, provenance }).length;
  let i = 0;
  const perSecond = throughput(() => {
    const text = encodeEntry({
      tenant: "tenant_0123456789",
      seq: i,
      receivedAtMs: 1795674988356 + i,
      prev: GENESIS_PREV,
      event: events[i % 1000]!,
      provenance,
    });
    entryLeafHash(text);
    i++;
  });
  report(`encode + leaf hash, ${size}-byte entries`, perSecond, "entries/s");
});

it("inclusion proof verification", () => {
  const n = 1 << 16;
  const nodes = new Map<number, Uint8Array>();
  const key = (l: number, i: number) => l * 2 ** 32 + i;
  const range = new CompactRange();
  const leaves: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const leaf = leafHash(Uint8Array.of(i & 255, (i >> 8) & 255, i >> 16));
    leaves.push(leaf);
    for (const x of range.append(leaf)) nodes.set(key(x.level, x.index), x.hash);
  }
  const read: NodeReader = (l, i) => nodes.get(key(l, i))!;
  const root = range.root();
  const proofs = Array.from({ length: 256 }, (_, j) => {
    const index = (j * 257) % n;
    return { index, proof: inclusionProof(index, n, read) };
  });
  let j = 0;
  const perSecond = throughput(() => {
    const p = proofs[j++ % proofs.length]!;
    if (!verifyInclusion(p.index, n, leaves[p.index]!, p.proof, root).ok) throw new Error("proof failed");
  });
  report(`verify inclusion proof (tree of ${n} leaves, 16 hashes)`, perSecond, "proofs/s");
});

it("signed checkpoint verification (Ed25519, @noble/curves)", () => {
  const secret = new TextEncoder().encode("bench-secret-bench-secret-bench-secret-0123");
  const origin = "sealtrail.example/tenant";
  const note = signNote(formatCheckpoint({ origin, size: 1000, root: leafHash(new Uint8Array(1)), extensions: [] }), [
    checkpointSigner(secret, origin, 1),
  ]);
  const v = parseVerifierKey(checkpointVerifierKey(secret, origin, 1));
  if (!v.ok) throw new Error("key");
  report(
    "open + verify signed checkpoint",
    throughput(() => void openCheckpoint(note, origin, [v.value])),
    "notes/s",
  );
  const signer = checkpointSigner(secret, origin, 1);
  const body = formatCheckpoint({ origin, size: 1000, root: leafHash(new Uint8Array(2)), extensions: [] });
  report(
    "sign checkpoint",
    throughput(() => void signNote(body, [signer])),
    "notes/s",
  );
  void toBase64;
});
