import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatCheckpoint } from "../../src/core/checkpoint";
import { encodeEntry, entryLeafHash, GENESIS_PREV } from "../../src/core/entry";
import { checkpointSigner, checkpointVerifierKey } from "../../src/core/keys";
import { CompactRange, inclusionProof, type NodeReader } from "../../src/core/merkle";
import { signNote } from "../../src/core/note";
import { formatTlogProof } from "../../src/core/tlog-proof";

// Runs the bundled CLI (npm test builds dist/ first) the way a user would.
const cli = (...args: string[]) => spawnSync(process.execPath, ["dist/sealtrail.mjs", ...args], { encoding: "utf8" });

const secret = new TextEncoder().encode("cli-test-secret-cli-test-secret-0123456789");
const origin = "sealtrail.test/tenant-cli";
const key = checkpointVerifierKey(secret, origin, 1);

function fixture() {
  const dir = mkdtempSync(join(tmpdir(), "sealtrail-cli-"));
  const entries: string[] = [];
  const nodes = new Map<string, Uint8Array>();
  const range = new CompactRange();
  let prev = GENESIS_PREV;
  for (let seq = 0; seq < 6; seq++) {
    const entry = encodeEntry({ tenant: "tenant-cli", seq, receivedAtMs: 1_795_000_000_000 + seq, prev, event: { action: "a.b", n: seq }, provenance: {} });
    entries.push(entry);
    prev = entryLeafHash(entry);
    for (const n of range.append(prev)) nodes.set(`${n.level}/${n.index}`, n.hash);
  }
  const read: NodeReader = (l, i) => nodes.get(`${l}/${i}`)!;
  const checkpoint = signNote(formatCheckpoint({ origin, size: 6, root: range.root(), extensions: [] }), [checkpointSigner(secret, origin, 1)]);
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  return {
    proof: file("3.tlog-proof", formatTlogProof({ index: 3, path: inclusionProof(3, 6, read), checkpoint })),
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
