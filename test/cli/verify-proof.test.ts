import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { verifyProofFiles } from "../../src/cli/verify-proof";
import { signedLog } from "./chain";
import { toBase64, utf8 } from "../../src/core/bytes";
import { formatCheckpoint } from "../../src/core/checkpoint";
import { encodeEntry, entryLeafHash, GENESIS_PREV } from "../../src/core/entry";
import { checkpointSigner, checkpointVerifierKey } from "../../src/core/keys";
import { CompactRange, inclusionProof, type NodeReader } from "../../src/core/merkle";
import { leafHash } from "../../src/core/hash";
import { ed25519PublicKey, ed25519Signer, parseSignerKey, signNote, verifierKeyText, type NoteSigner } from "../../src/core/note";
import { formatTlogProof } from "../../src/core/tlog-proof";

// Runs the bundled CLI (npm test builds dist/ first) the way a user would.
const cli = (...args: string[]) => spawnSync(process.execPath, ["dist/sealtrail.mjs", ...args], { encoding: "utf8" });

const secret = new TextEncoder().encode("cli-test-secret-cli-test-secret-0123456789");
const origin = "sealtrail.test/tenant-cli";
const key = checkpointVerifierKey(secret, origin, 1);

function fixture() {
  const dir = mkdtempSync(join(tmpdir(), "sealtrail-cli-"));
  const { entries, proofOf } = signedLog("tenant-cli", origin, secret, 6);
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  return {
    proof: file("3.tlog-proof", proofOf(3)),
    entryJson: file("3.json", JSON.stringify({ seq: 3, entry: entries[3] })),
    entryRaw: file("3.entry", `${entries[3]}\n`),
    otherEntry: file("4.entry", entries[4]!),
    tampered: file("3-tampered.entry", entries[3]!.replace('"n":3', '"n":33')),
    missing: join(dir, "nope"),
  };
}

describe("sealtrail verify-proof", () => {
  const f = fixture();

  it("exits 0 for a genuine proof, from the API's JSON or from raw entry bytes", () => {
    for (const entry of [f.entryJson, f.entryRaw]) {
      const r = cli("verify-proof", f.proof, "--entry", entry, "--key", key);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain("OK: entry 3");
    }
  });

  it("exits 1 for a tampered entry, another entry, or another tenant's key", () => {
    expect(cli("verify-proof", f.proof, "--entry", f.tampered, "--key", key).status).toBe(1);
    expect(cli("verify-proof", f.proof, "--entry", f.otherEntry, "--key", key).status).toBe(1);
    const otherKey = checkpointVerifierKey(secret, "sealtrail.test/other", 1);
    expect(cli("verify-proof", f.proof, "--entry", f.entryJson, "--key", otherKey).status).toBe(1);
  });

  it("reports JSON with --json", () => {
    const r = cli("verify-proof", f.proof, "--entry", f.entryJson, "--key", key, "--json");
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, index: 3, tree_size: 6, origin });
    const bad = cli("verify-proof", f.proof, "--entry", f.tampered, "--key", key, "--json");
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, error: { reason: "root_mismatch" } });
  });

  it("exits 2 on usage and I/O errors", () => {
    expect(cli().status).toBe(2);
    expect(cli("verify-proof", f.proof).status).toBe(2);
    expect(cli("verify-proof", f.missing, "--entry", f.entryJson, "--key", key).status).toBe(2);
    expect(cli("verify-proof", f.proof, "--entry", f.entryJson, "--key", "not-a-key").status).toBe(2);
  });
});

/** The JSON that GET /v1/tenants/:t/events/:seq returns for an entry (src/worker/routes/events.ts entryView). */
function apiView(entry: string): Record<string, unknown> {
  const parsed = JSON.parse(entry) as { seq: number; received_at: string; event: unknown; provenance: unknown };
  return {
    seq: parsed.seq,
    leaf_hash: toBase64(entryLeafHash(entry)),
    received_at: parsed.received_at,
    event: parsed.event,
    provenance: parsed.provenance,
    entry,
  };
}

describe("sealtrail verify-proof: the fields a person reads are the verified bytes", () => {
  const dir = mkdtempSync(join(tmpdir(), "sealtrail-cli-fields-"));
  const entries: string[] = [];
  const nodes = new Map<string, Uint8Array>();
  const range = new CompactRange();
  let prev = GENESIS_PREV;
  for (let seq = 0; seq < 4; seq++) {
    const event = { action: "invoice.approve", actor: { id: `u${seq}`, type: "user" }, outcome: "success", targets: [] };
    const entry = encodeEntry({
      tenant: "tenant-cli",
      seq,
      receivedAtMs: 1_795_000_000_000 + seq,
      prev,
      event,
      provenance: { principal_type: "api_key", ip: "203.0.113.7" },
    });
    entries.push(entry);
    prev = entryLeafHash(entry);
    for (const n of range.append(prev)) nodes.set(`${n.level}/${n.index}`, n.hash);
  }
  const read: NodeReader = (l, i) => nodes.get(`${l}/${i}`)!;
  const checkpoint = signNote(formatCheckpoint({ origin, size: 4, root: range.root(), extensions: [] }), [
    checkpointSigner(secret, origin, 1),
  ]);
  const proof = join(dir, "2.tlog-proof");
  writeFileSync(proof, formatTlogProof({ index: 2, path: inclusionProof(2, 4, read), checkpoint }));
  const withView = (name: string, edit: (v: Record<string, unknown>) => void) => {
    const view = apiView(entries[2]!);
    edit(view);
    writeFileSync(join(dir, name), JSON.stringify(view, null, 2));
    return join(dir, name);
  };

  it("the API's JSON, unedited, verifies", () => {
    const r = cli(
      "verify-proof",
      proof,
      "--entry",
      withView("genuine.json", () => {}),
      "--key",
      key,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("OK: entry 2");
  });

  const edits: [string, (v: Record<string, unknown>) => void][] = [
    ["event", (v) => ((v.event as { actor: { id: string } }).actor.id = "u_ceo")],
    ["provenance", (v) => ((v.provenance as { ip: string }).ip = "198.51.100.1")],
    ["seq", (v) => (v.seq = 3)],
    ["received_at", (v) => (v.received_at = "2026-01-01T00:00:00.000Z")],
    ["leaf_hash", (v) => (v.leaf_hash = toBase64(entryLeafHash(entries[3]!)))],
  ];
  for (const [field, edit] of edits) {
    it(`an edited "${field}" beside genuine entry bytes fails (exit 1) and is named`, () => {
      const file = withView(`edited-${field}.json`, edit);
      const r = cli("verify-proof", proof, "--entry", file, "--key", key);
      expect(r.status, r.stdout + r.stderr).toBe(1);
      expect(r.stderr).toContain(`"${field}"`);
      expect(r.stdout).not.toContain("OK");
      const j = cli("verify-proof", proof, "--entry", file, "--key", key, "--json");
      expect(j.status).toBe(1);
      expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, error: { reason: "entry_fields_mismatch", fields: [field] } });
    });
  }

  it("every edited field is named", () => {
    const file = withView("edited-two.json", (v) => {
      v.received_at = "2020-01-01T00:00:00.000Z";
      (v.event as { action: string }).action = "invoice.reject";
    });
    const r = cli("verify-proof", proof, "--entry", file, "--key", key, "--json");
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { reason: "entry_fields_mismatch", fields: ["event", "received_at"] } });
  });
  it('a key written twice (a forged "event" before the genuine one) is refused (exit 1) and named', () => {
    const genuine = JSON.stringify(apiView(entries[2]!), null, 2);
    const forged = { action: "order.refunded", actor: { id: "mallory", type: "user" }, outcome: "success" };
    const file = join(dir, "duplicate-event.json");
    // A person reads the first "event"; JSON.parse keeps the last (the genuine one).
    writeFileSync(file, genuine.replace("{\n", `{\n  "event": ${JSON.stringify(forged)},\n`));
    const r = cli("verify-proof", proof, "--entry", file, "--key", key);
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).not.toContain("OK");
    expect(r.stderr).toContain('"event" more than once');
    const j = cli("verify-proof", proof, "--entry", file, "--key", key, "--json");
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, error: { reason: "entry_duplicate_key", key: "event" } });
  });
});

/** A log that is not Sealtrail: its own origin, a throwaway key, leaves that are arbitrary bytes. */
function foreignLog(leaves: Uint8Array[], signer: NoteSigner, logOrigin: string) {
  const nodes = new Map<string, Uint8Array>();
  const range = new CompactRange();
  for (const leaf of leaves) for (const n of range.append(leafHash(leaf))) nodes.set(`${n.level}/${n.index}`, n.hash);
  const read: NodeReader = (l, i) => nodes.get(`${l}/${i}`)!;
  const checkpoint = signNote(
    formatCheckpoint({ origin: logOrigin, size: leaves.length, root: range.root(), extensions: ["an extension line"] }),
    [signer],
  );
  return (index: number) =>
    formatTlogProof({ index, path: inclusionProof(index, leaves.length, read), checkpoint, extra: Uint8Array.of(1, 2, 3) });
}

describe("sealtrail verify-proof --entry-raw: any c2sp.org/tlog-proof", () => {
  const dir = mkdtempSync(join(tmpdir(), "sealtrail-cli-raw-"));
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const otherOrigin = "example.org/another-log";
  const otherKey = verifierKeyText(otherOrigin, ed25519PublicKey(seed));
  const leaves = [
    utf8("first leaf\n"),
    Uint8Array.of(0, 0xff, 0xfe, 0x0a),
    utf8('{"not":"a sealtrail entry"}'),
    new Uint8Array(0),
    utf8("é☃"),
  ];
  const proofOf = foreignLog(leaves, ed25519Signer(otherOrigin, seed), otherOrigin);
  const file = (name: string, data: string | Uint8Array) => {
    writeFileSync(join(dir, name), data);
    return join(dir, name);
  };

  it("verifies every leaf of another log from its exact bytes (exit 0)", () => {
    for (const [i, leaf] of leaves.entries()) {
      const r = cli("verify-proof", file(`${i}.tlog-proof`, proofOf(i)), "--entry-raw", file(`${i}.bin`, leaf), "--key", otherKey);
      expect(r.status, `leaf ${i}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toContain(`OK: entry ${i} is in ${otherOrigin} at tree size 5`);
    }
    const j = cli("verify-proof", join(dir, "1.tlog-proof"), "--entry-raw", join(dir, "1.bin"), "--key", otherKey, "--json");
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: true, index: 1, tree_size: 5, origin: otherOrigin });
  });

  it("fails (exit 1) for other bytes, an added newline, another leaf's proof, or another key", () => {
    const proof1 = file("p1.tlog-proof", proofOf(1));
    const changed = Uint8Array.from(leaves[1]!);
    changed[1] = 0xfd;
    expect(cli("verify-proof", proof1, "--entry-raw", file("changed.bin", changed), "--key", otherKey).status).toBe(1);
    expect(
      cli("verify-proof", file("p0.tlog-proof", proofOf(0)), "--entry-raw", file("0nl.bin", "first leaf\n\n"), "--key", otherKey).status,
    ).toBe(1);
    expect(cli("verify-proof", proof1, "--entry-raw", file("2.bin", leaves[2]!), "--key", otherKey).status).toBe(1);
    const throwaway = verifierKeyText(otherOrigin, ed25519PublicKey(crypto.getRandomValues(new Uint8Array(32))));
    const wrong = cli("verify-proof", proof1, "--entry-raw", file("1.bin", leaves[1]!), "--key", throwaway);
    expect(wrong.status).toBe(1);
  });

  it("--entry (a Sealtrail entry) on another log's leaf fails and points to --entry-raw; both together are a usage error", () => {
    const r = cli("verify-proof", file("p0b.tlog-proof", proofOf(0)), "--entry", file("0b.bin", leaves[0]!), "--key", otherKey);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("--entry-raw");
    const both = cli(
      "verify-proof",
      join(dir, "p0b.tlog-proof"),
      "--entry",
      join(dir, "0b.bin"),
      "--entry-raw",
      join(dir, "0b.bin"),
      "--key",
      otherKey,
    );
    expect(both.status).toBe(2);
  });

  it("the RFC 6962 inclusion vectors (transparency-dev/merkle), as tlog-proofs signed by the signed-note vector key", () => {
    const vectors = "test/vectors";
    const ref = JSON.parse(readFileSync(join(vectors, "reference-tree.json"), "utf8")) as {
      leafInputsHex: string[];
      leafHashesHex: string[];
    };
    const noteCase = (
      JSON.parse(readFileSync(join(vectors, "signed-note.json"), "utf8")) as { cases: { signerKey?: string; verifierKey: string }[] }
    ).cases.find((c) => c.signerKey)!;
    const signer = parseSignerKey(noteCase.signerKey!);
    if (!signer.ok) throw new Error("signer key vector");
    const byLeafHash = new Map(
      ref.leafHashesHex.map((h, i) => [toBase64(Buffer.from(h, "hex")), Buffer.from(ref.leafInputsHex[i]!, "hex")]),
    );
    const walk = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
    let checked = 0;
    for (const path of walk(join(vectors, "merkle/inclusion"))) {
      const v = JSON.parse(readFileSync(path, "utf8")) as {
        leafIdx: number;
        treeSize: number;
        root: string;
        leafHash: string;
        proof: string[] | null;
        wantErr: boolean;
      };
      const input = byLeafHash.get(v.leafHash);
      if (!input) continue; // a leaf hash with no known input (wrong-leaf, random leaves): no bytes to give
      // The vector's exact fields in a c2sp.org/tlog-proof and checkpoint (mutated ones included).
      const note = signNote(`${signer.value.name}\n${v.treeSize}\n${v.root}\n`, [signer.value]);
      const proofText = `c2sp.org/tlog-proof@v1\nindex ${BigInt(v.leafIdx)}\n${(v.proof ?? []).map((h) => `${h}\n`).join("")}\n${note}`;
      const report = verifyProofFiles(proofText, { format: "raw", bytes: input }, [noteCase.verifierKey]);
      expect(report.ok, `${path}: ${JSON.stringify(report.error)}`).toBe(!v.wantErr);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(70);
    // Through the CLI too: a happy path, with the leaf's input bytes.
    const happy = JSON.parse(readFileSync(join(vectors, "merkle/inclusion/2/happy-path.json"), "utf8")) as {
      leafIdx: number;
      treeSize: number;
      root: string;
      proof: string[];
    };
    const note = signNote(`${signer.value.name}\n${happy.treeSize}\n${happy.root}\n`, [signer.value]);
    const p = file("vector.tlog-proof", `c2sp.org/tlog-proof@v1\nindex ${happy.leafIdx}\n${happy.proof.join("\n")}\n\n${note}`);
    const r = cli(
      "verify-proof",
      p,
      "--entry-raw",
      file("vector.bin", Buffer.from(ref.leafInputsHex[happy.leafIdx]!, "hex")),
      "--key",
      noteCase.verifierKey,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`OK: entry ${happy.leafIdx} is in PeterNeumann at tree size 8`);
  });
});
