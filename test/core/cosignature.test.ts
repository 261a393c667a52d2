import { describe, expect, it } from "vitest";
import { fromBase64, toBase64, utf8 } from "../../src/core/bytes";
import { openCheckpoint } from "../../src/core/checkpoint";
import {
  addSignatureLines,
  checkQuorum,
  COSIGNATURE_TYPE_ED25519,
  COSIGNATURE_TYPE_ML_DSA_44,
  cosign,
  cosignatureNoteVerifier,
  cosignedMessage,
  cosignerFromSeed,
  cosignerPrivateKeyText,
  countCosignatures,
  type CosignerKey,
  type Cosigner,
  mlDsaCosignedMessage,
  parseCosignerKey,
  parseCosignerPrivateKey,
  parseLogVerifierKey,
  parseSignatureLines,
  splitSignedNote,
  verifyCosignature,
} from "../../src/core/cosignature";
import { leafHash, nodeHash } from "../../src/core/hash";
import { consistencyProof, treeHash, verifyConsistency } from "../../src/core/merkle";
import { openNote, signNote, ed25519Signer } from "../../src/core/note";
import { formatAddCheckpoint, parseAddCheckpoint, parseTlogSize } from "../../src/core/tlog-witness";
import { loadVector } from "./vectors";

interface CosigCase {
  desc: string;
  type: number;
  vkey: string;
  skey: string;
  body: string;
  timestamp: number;
  message_b64: string;
  line: string;
  deterministic: boolean;
}
const vectors = loadVector<{ cases: CosigCase[] }>("cosignature/cosignature.json").cases;

interface TesseraLog {
  origin: string;
  vkey: string;
  checkpoints: Record<string, string>;
  tile_0_000_p15_b64: string;
  entries_000_p15_b64: string;
}
const tessera = loadVector<TesseraLog>("tessera/log.json");

const must = <T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T => {
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.value;
};
const sigOf = (line: string) => must(parseSignatureLines(`${line}\n`))[0]!.signature;
const seed = (n: number) => Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + n) & 255);

describe("c2sp.org/tlog-cosignature vectors (made by Python cryptography, an independent implementation)", () => {
  for (const c of vectors) {
    it(c.desc, () => {
      const key = must(parseCosignerKey(c.vkey));
      expect(key.type).toBe(c.type);
      // The vkey's key ID is SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4], and the vkey round-trips.
      expect(key.vkey).toBe(c.vkey);
      const signer = must(parseCosignerPrivateKey(c.skey));
      // The public key derived from the seed is the same bytes the other implementation derived.
      expect(signer.key.vkey).toBe(c.vkey);
      expect(toBase64(must(cosignedMessage(key, c.body, c.timestamp)))).toBe(c.message_b64);
      expect(must(verifyCosignature(key, c.body, sigOf(c.line)))).toEqual({ timestamp: c.timestamp });
      const mine = must(cosign(signer, c.body, c.timestamp));
      if (c.deterministic) expect(mine).toBe(`${c.line}\n`);
      expect(must(verifyCosignature(key, c.body, sigOf(mine.slice(0, -1))))).toEqual({ timestamp: c.timestamp });
      // Any other body, or another timestamp, does not verify.
      const other = c.body.replace(/\n[0-9]+\n/, (m) => `\n${Number(m.trim()) + 1}\n`);
      expect(verifyCosignature(key, other, sigOf(c.line))).toMatchObject({ ok: false, error: { reason: "invalid_cosignature" } });
      const sig = sigOf(c.line).slice();
      sig[7] = sig[7]! ^ 1;
      expect(verifyCosignature(key, c.body, sig)).toMatchObject({ ok: false, error: { reason: "invalid_cosignature" } });
    });
  }

  it("Ed25519 signs extension lines; ML-DSA-44 does not (tlog-cosignature: extension lines are not in cosigned_message)", () => {
    const [ed3, ed4, , ml3, ml4] = vectors;
    const edKey = must(parseCosignerKey(ed3!.vkey));
    const mlKey = must(parseCosignerKey(ml3!.vkey));
    expect(verifyCosignature(edKey, ed4!.body, sigOf(ed3!.line)).ok).toBe(false);
    expect(must(verifyCosignature(mlKey, ml4!.body, sigOf(ml3!.line)))).toEqual({ timestamp: ml3!.timestamp });
  });

  it("the ML-DSA-44 message is the spec's cosigned_message struct", () => {
    const root = new Uint8Array(32).fill(0xab);
    const msg = mlDsaCosignedMessage("w", 258, "o", 0, 5, root);
    const want = [
      ...utf8("subtree/v1\n\0"),
      1,
      ...utf8("w"),
      ...[0, 0, 0, 0, 0, 0, 1, 2],
      1,
      ...utf8("o"),
      ...[0, 0, 0, 0, 0, 0, 0, 0],
      ...[0, 0, 0, 0, 0, 0, 0, 5],
      ...root,
    ];
    expect([...msg]).toEqual(want);
    expect(() => mlDsaCosignedMessage("w", 1, "o", 2, 5, root)).toThrow(/timestamp 0/);
    expect(() => mlDsaCosignedMessage("w", 0, "x".repeat(256), 0, 5, root)).toThrow(/255/);
  });
});

describe("cosigner keys", () => {
  it("refuses keys that are not cosigner keys, bad sizes and a wrong key ID", () => {
    const good = vectors[0]!.vkey;
    expect(parseCosignerKey(good.replace("+7517a65b+", "+7517a65c+"))).toMatchObject({ ok: false, error: { reason: "key_id_mismatch" } });
    // A plain Ed25519 note key (type 0x01) is not a cosigner key.
    expect(parseCosignerKey(tessera.vkey)).toMatchObject({ ok: false, error: { reason: "unknown_algorithm", got: 1 } });
    expect(parseCosignerKey("a+00000000+BAAA")).toMatchObject({ ok: false, error: { reason: "malformed_key" } });
    expect(parseCosignerKey("no plus")).toMatchObject({ ok: false, error: { reason: "malformed_key" } });
    expect(parseCosignerKey("bad name+7517a65b+BB6C")).toMatchObject({ ok: false, error: { reason: "malformed_key" } });
    expect(parseCosignerPrivateKey(vectors[0]!.vkey)).toMatchObject({ ok: false, error: { reason: "malformed_key" } });
  });

  it("private key text round-trips for both types", () => {
    for (const type of [COSIGNATURE_TYPE_ED25519, COSIGNATURE_TYPE_ML_DSA_44] as const) {
      const text = cosignerPrivateKeyText("witness.test/w", type, seed(type));
      const a = must(parseCosignerPrivateKey(text));
      const b = must(cosignerFromSeed("witness.test/w", type, seed(type)));
      expect(a.key.vkey).toBe(b.key.vkey);
      expect(must(parseCosignerKey(a.key.vkey)).publicKey).toEqual(a.key.publicKey);
    }
  });

  it("parseLogVerifierKey takes the log key types C2SP logs use: 0x01 note keys and cosignature keys", () => {
    const log = must(parseLogVerifierKey(tessera.vkey));
    expect(must(openCheckpoint(tessera.checkpoints["15"]!, tessera.origin, [log])).size).toBe(15);
    // A log that signs its checkpoints with an ML-DSA-44 cosignature key (tlog-checkpoint "Signatures").
    const mlLog = must(cosignerFromSeed(tessera.origin, COSIGNATURE_TYPE_ML_DSA_44, seed(3)));
    const body = tessera.checkpoints["15"]!.split("\n\n")[0]!.concat("\n");
    const note = `${body}\n${must(cosign(mlLog, body, 1))}`;
    const verifier = must(parseLogVerifierKey(mlLog.key.vkey));
    expect(must(openCheckpoint(note, tessera.origin, [verifier])).size).toBe(15);
    expect(parseLogVerifierKey("x+00000000+ZZZZ")).toMatchObject({ ok: false });
  });
});

describe("cosignatures on a signed note", () => {
  const ed = must(cosignerFromSeed("witness.test/ed", COSIGNATURE_TYPE_ED25519, seed(1)));
  const ml = must(cosignerFromSeed("witness.test/ml", COSIGNATURE_TYPE_ML_DSA_44, seed(2)));
  const stranger = must(cosignerFromSeed("witness.test/stranger", COSIGNATURE_TYPE_ED25519, seed(9)));
  const logNote = tessera.checkpoints["15"]!;
  const body = logNote.slice(0, logNote.lastIndexOf("\n\n") + 1);
  const cosigned = (...who: Cosigner[]) => must(addSignatureLines(logNote, who.map((c) => must(cosign(c, body, 1_764_460_800))).join("")));
  const keys: CosignerKey[] = [ed.key, ml.key];

  it("counts distinct valid keys, ignores unknown ones, and reports a bad signature by a known key", () => {
    const note = cosigned(ed, ml, stranger, ed);
    const counted = must(countCosignatures(note, keys));
    expect(counted.valid.map((v) => v.key.name)).toEqual(["witness.test/ed", "witness.test/ml"]);
    expect(counted.valid[0]!.timestamp).toBe(1_764_460_800);
    expect(must(checkQuorum(note, keys, 2)).valid).toHaveLength(2);
    expect(checkQuorum(cosigned(ed, stranger), keys, 2)).toMatchObject({ ok: false, error: { reason: "quorum_not_met", got: 1 } });
    // The same key listed twice counts once.
    expect(checkQuorum(cosigned(ed), [ed.key, ed.key], 2)).toMatchObject({ ok: false, error: { got: 1 } });

    // A tampered cosignature by a known key: not counted, and the quorum check refuses the note.
    const line = must(cosign(ml, body, 5));
    const raw = fromBase64(line.slice(line.lastIndexOf(" ") + 1, -1))!;
    raw[20] = raw[20]! ^ 1;
    const forged = `${cosigned(ed)}— witness.test/ml ${toBase64(raw)}\n`;
    const bad = must(countCosignatures(forged, keys));
    expect(bad.valid.map((v) => v.key.name)).toEqual(["witness.test/ed"]);
    expect(bad.invalid.map((v) => v.key.name)).toEqual(["witness.test/ml"]);
    expect(checkQuorum(forged, keys, 1)).toMatchObject({ ok: false, error: { reason: "quorum_not_met", invalid: [ml.key.vkey] } });
  });

  it("a cosignature for another checkpoint does not count", () => {
    const other = tessera.checkpoints["14"]!;
    const otherBody = other.slice(0, other.lastIndexOf("\n\n") + 1);
    const moved = `${logNote}${must(cosign(ed, otherBody, 7))}`;
    expect(must(countCosignatures(moved, keys)).invalid.map((i) => i.key.name)).toEqual(["witness.test/ed"]);
  });

  it("openNote accepts cosignatures through cosignatureNoteVerifier, and the log's signature still verifies", () => {
    const note = cosigned(ed, ml);
    const opened = must(openNote(note, [cosignatureNoteVerifier(ed.key), cosignatureNoteVerifier(ml.key)]));
    expect(opened.verified.map((s) => s.name)).toEqual(["witness.test/ed", "witness.test/ml"]);
    expect(must(openCheckpoint(note, tessera.origin, [must(parseLogVerifierKey(tessera.vkey))])).size).toBe(15);
  });

  it("splits notes and signature lines strictly", () => {
    expect(must(splitSignedNote(logNote)).text).toBe(body);
    expect(splitSignedNote(body)).toMatchObject({ ok: false, error: { reason: "malformed_note" } });
    expect(parseSignatureLines("— a AAAAAAA=")).toMatchObject({ ok: false });
    expect(parseSignatureLines("- a AAAAAAA=\n")).toMatchObject({ ok: false });
    expect(addSignatureLines(logNote, "not a signature\n")).toMatchObject({ ok: false });
    // A signed note made by note.ts with a plain Ed25519 key is not a cosignature.
    const plain = ed25519Signer("witness.test/ed", seed(1));
    const signed = signNote(body, [plain]);
    expect(must(countCosignatures(signed, keys))).toEqual({ valid: [], invalid: [] });
  });
});

describe("tlog-witness add-checkpoint bodies and the Tessera test log", () => {
  const leaves = fromBase64(tessera.tile_0_000_p15_b64)!;
  // A node of a complete subtree, from the level-0 tile alone (a tile reader needs no more).
  const read = (level: number, index: number): Uint8Array =>
    level === 0 ? leaves.subarray(index * 32, index * 32 + 32) : nodeHash(read(level - 1, 2 * index), read(level - 1, 2 * index + 1));

  it("the level-0 tile holds the leaf hashes of the entry bundle, and each checkpoint's root is the tree of its size", () => {
    const bundle = fromBase64(tessera.entries_000_p15_b64)!;
    for (let at = 0, i = 0; at < bundle.length; i++) {
      const len = (bundle[at]! << 8) | bundle[at + 1]!;
      expect(leafHash(bundle.subarray(at + 2, at + 2 + len))).toEqual(read(0, i));
      at += 2 + len;
    }
    const log = must(parseLogVerifierKey(tessera.vkey));
    for (let n = 1; n <= 15; n++) {
      const cp = must(openCheckpoint(tessera.checkpoints[String(n)]!, tessera.origin, [log]));
      expect(cp.size).toBe(n);
      expect(toBase64(treeHash(n, read))).toBe(toBase64(cp.root));
    }
  });

  it("formats and parses a request; a consistency proof from the tiles verifies between two real checkpoints", () => {
    const log = must(parseLogVerifierKey(tessera.vkey));
    const old = must(openCheckpoint(tessera.checkpoints["3"]!, tessera.origin, [log]));
    const cur = must(openCheckpoint(tessera.checkpoints["15"]!, tessera.origin, [log]));
    const proof = consistencyProof(3, 15, read);
    const text = formatAddCheckpoint({ oldSize: 3, proof, checkpoint: tessera.checkpoints["15"]! });
    const parsed = must(parseAddCheckpoint(text));
    expect(parsed.oldSize).toBe(3);
    expect(parsed.checkpoint).toBe(tessera.checkpoints["15"]);
    expect(verifyConsistency(3, 15, parsed.proof, old.root, cur.root).ok).toBe(true);
    expect(text.startsWith("old 3\n")).toBe(true);
    expect(formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: "x" })).toBe("old 0\n\nx");
  });

  it("refuses malformed requests", () => {
    const cp = tessera.checkpoints["1"]!;
    for (const body of [
      `old 01\n\n${cp}`,
      `old -1\n\n${cp}`,
      `old 1 \n\n${cp}`,
      `Old 1\n\n${cp}`,
      `old 1\nnot base64\n\n${cp}`,
      `old 1\nAAAA\n\n${cp}`,
      "old 1\n",
      `old 1\n${"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n".repeat(64)}\n${cp}`,
    ]) {
      expect(parseAddCheckpoint(body), JSON.stringify(body)).toMatchObject({ ok: false, error: { reason: "malformed_request" } });
    }
    expect(parseTlogSize("12\n")).toBe(12);
    expect(parseTlogSize("012\n")).toBeUndefined();
    expect(parseTlogSize("12")).toBeUndefined();
  });
});
