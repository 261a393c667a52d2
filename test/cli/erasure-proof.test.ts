/**
 * `sealtrail verify-proof --entry` on an entry with personal fields (issue #17.3): the API's
 * `event` holds them in their encrypted form, as the verified bytes do, so the check passes;
 * `personal` (what the server decrypted, or "erased") is reported as not covered by the proof;
 * an `event` edited to show a plaintext is refused as not what the bytes say.
 */
import { describe, expect, it } from "vitest";
import { verifyProofFiles } from "../../src/cli/verify-proof";
import { toBase64 } from "../../src/core/bytes";
import { formatCheckpoint } from "../../src/core/checkpoint";
import { encodeEntry, entryLeafHash, GENESIS_PREV } from "../../src/core/entry";
import { checkpointSigner, checkpointVerifierKey } from "../../src/core/keys";
import { CompactRange, inclusionProof } from "../../src/core/merkle";
import { signNote } from "../../src/core/note";
import { formatEncryptedField } from "../../src/core/personal-fields";
import { formatTlogProof } from "../../src/core/tlog-proof";

const secret = new TextEncoder().encode("erasure-proof-secret-erasure-proof-secret-0123");
const tenant = "tenant-erasure";
const origin = `sealtrail.test/${tenant}`;

function oneEntryLog() {
  const name = formatEncryptedField("0123456789abcdef", new Uint8Array(12).fill(7), new Uint8Array(30).fill(9));
  const event = { action: "user.login", actor: { id: "u1", type: "user", name }, outcome: "success", targets: [] };
  const entry = encodeEntry({ tenant, seq: 0, receivedAtMs: 1_795_000_000_000, prev: GENESIS_PREV, event, provenance: {} });
  const range = new CompactRange();
  const nodes = new Map<string, Uint8Array>();
  for (const n of range.append(entryLeafHash(entry))) nodes.set(`${n.level}/${n.index}`, n.hash);
  const checkpoint = signNote(formatCheckpoint({ origin, size: 1, root: range.root(), extensions: [] }), [
    checkpointSigner(secret, origin, 1),
  ]);
  const proof = formatTlogProof({ index: 0, path: inclusionProof(0, 1, (l, i) => nodes.get(`${l}/${i}`)!), checkpoint });
  return { entry, event, proof };
}

describe("verify-proof and personal fields", () => {
  const key = checkpointVerifierKey(secret, origin, 1);
  const { entry, event, proof } = oneEntryLog();
  const view = { seq: 0, leaf_hash: toBase64(entryLeafHash(entry)), event, provenance: {}, entry };

  it("passes with the encrypted form in `event`, and names `personal` as not covered, decrypted or erased", () => {
    for (const personal of [
      [{ path: "actor.name", state: "decrypted", value: "Ada" }],
      [{ path: "actor.name", state: "erased", erased_at: "2026-11-30T00:00:00.000Z", erased_by: 5 }],
    ]) {
      const report = verifyProofFiles(proof, JSON.stringify({ ...view, personal }), [key]);
      expect(report).toMatchObject({ ok: true, index: 0, unverified_fields: ["personal"] });
    }
  });

  it("fails when `event` shows a plaintext the verified bytes do not hold", () => {
    const edited = { ...view, event: { ...event, actor: { ...event.actor, name: "Ada" } } };
    const report = verifyProofFiles(proof, JSON.stringify(edited), [key]);
    expect(report).toMatchObject({ ok: false, error: { reason: "entry_fields_mismatch", fields: ["event"] } });
  });
});
