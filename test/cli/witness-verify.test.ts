/**
 * `sealtrail verify` and `verify-proof` with `--witness <vkey>` (repeatable) and `--quorum k`
 * (issue #16 item 2): the newest checkpoint must carry k valid cosignatures by the pinned
 * witnesses; without --witness the cosignature lines are ignored and everything verifies as before.
 */
import { spawnSync } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { utf8 } from "../../src/core/bytes";
import { COSIGNATURE_TYPE_ED25519, COSIGNATURE_TYPE_ML_DSA_44, cosign, cosignerFromSeed, type Cosigner } from "../../src/core/cosignature";
import { sha256 } from "../../src/core/hash";
import { keyOf, signedLog, writeChain, writeHead } from "./chain";

const cli = (...args: string[]) => spawnSync(process.execPath, ["dist/sealtrail.mjs", ...args], { encoding: "utf8" });

const cosigner = (name: string, type: 0x04 | 0x06 = COSIGNATURE_TYPE_ED25519): Cosigner => {
  const c = cosignerFromSeed(`witness.test/${name}`, type, sha256(utf8(name)));
  if (!c.ok) throw new Error(c.error.reason);
  return c.value;
};
const alpha = cosigner("alpha");
const bravo = cosigner("bravo", COSIGNATURE_TYPE_ML_DSA_44);
const charlie = cosigner("charlie");

/** The cosignature lines of `witnesses` on a signed note, as the log serves them after its own line. */
function cosigned(note: string, witnesses: Cosigner[]): string {
  const body = note.slice(0, note.indexOf("\n\n") + 1);
  return note + witnesses.map((w) => (cosign(w, body, 1_795_000_000) as { ok: true; value: string }).value).join("");
}

describe("verify-proof --witness", () => {
  const secret = utf8("cli-witness-secret-cli-witness-secret-0123456789");
  const origin = "sealtrail.test/tenant-witness";
  const { entries, proofOf, key } = signedLog("tenant-witness", origin, secret, 5);
  const dir = mkdtempSync(join(tmpdir(), "sealtrail-witness-"));
  const entry = join(dir, "2.json");
  writeFileSync(entry, JSON.stringify({ seq: 2, entry: entries[2] }));
  const proofWith = (name: string, witnesses: Cosigner[]) => {
    const proof = proofOf(2);
    const split = proof.indexOf("\n\n") + 2;
    const file = join(dir, name);
    writeFileSync(file, proof.slice(0, split) + cosigned(proof.slice(split), witnesses));
    return file;
  };
  const both = proofWith("both.tlog-proof", [alpha, bravo]);
  const none = proofWith("none.tlog-proof", []);

  it("passes with the quorum of pinned witnesses (Ed25519 and ML-DSA-44), and without --witness ignores the lines", () => {
    for (const args of [["--witness", alpha.key.vkey], ["--witness", alpha.key.vkey, "--witness", bravo.key.vkey, "--quorum", "2"], []]) {
      const r = cli("verify-proof", both, "--entry", entry, "--key", key, ...args);
      expect(r.status, r.stderr).toBe(0);
      if (args.length > 0) expect(r.stdout).toContain("Witnessed: the checkpoint is cosigned by");
    }
  });

  it("fails (exit 1) when the quorum is unmet: no cosignature, too few, or one that does not verify", () => {
    const r = cli("verify-proof", none, "--entry", entry, "--key", key, "--witness", alpha.key.vkey);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("witness_quorum: 0 of the 1 witness cosignatures required");
    const three = ["--witness", alpha.key.vkey, "--witness", bravo.key.vkey, "--witness", charlie.key.vkey, "--quorum", "3"];
    expect(cli("verify-proof", both, "--entry", entry, "--key", key, ...three).status).toBe(1);
    // Alpha's line, its signature bytes changed.
    const text = readFileSync(both, "utf8");
    const line = text.split("\n").find((l) => l.startsWith(`\u2014 ${alpha.key.name} `))!;
    const flipped = `${line.slice(0, -6)}${line.slice(-6, -5) === "A" ? "B" : "A"}${line.slice(-5)}`;
    const bad = join(dir, "bad.tlog-proof");
    writeFileSync(bad, text.replace(line, flipped));
    expect(cli("verify-proof", bad, "--entry", entry, "--key", key, "--witness", alpha.key.vkey).status).toBe(1);
  });

  it("refuses a quorum larger than the witnesses given (usage, exit 2)", () => {
    expect(cli("verify-proof", both, "--entry", entry, "--key", key, "--witness", alpha.key.vkey, "--quorum", "2").status).toBe(2);
  });
});

describe("verify <dir> --witness", () => {
  it("checks the quorum on head.checkpoint; snapshot checkpoints served with cosignature lines still verify", () => {
    const tenant = "tenant-wdir";
    const { dir } = writeChain(tenant, [3, 2]);
    // The server appends the seal's cosignatures to the snapshot checkpoint it serves.
    const snap = join(dir, "000000000001.checkpoint");
    writeFileSync(snap, cosigned(readFileSync(snap, "utf8"), [alpha]));
    expect(cli("verify", dir, "--key", keyOf(tenant), "--jobs", "1").status).toBe(0);
    // Without head.checkpoint the last seal's checkpoint is the newest.
    expect(cli("verify", dir, "--key", keyOf(tenant), "--jobs", "1", "--witness", alpha.key.vkey).status).toBe(0);

    writeHead(dir, tenant, 5, { unsealed: 2 });
    const head = join(dir, "head.checkpoint");
    const r = cli("verify", dir, "--key", keyOf(tenant), "--jobs", "1", "--witness", alpha.key.vkey);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("witness_quorum");
    writeFileSync(head, cosigned(readFileSync(head, "utf8"), [alpha]));
    const ok = cli("verify", dir, "--key", keyOf(tenant), "--jobs", "1", "--witness", alpha.key.vkey, "--json");
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, cosigned_by: ["witness.test/alpha"] });
    // Any other text after the manifest's checkpoint is still refused.
    appendFileSync(snap, "not a signature line\n");
    expect(cli("verify", dir, "--key", keyOf(tenant), "--jobs", "1").status).toBe(1);
  });
});
