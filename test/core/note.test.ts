import { describe, expect, it } from "vitest";
import { formatCheckpoint, openCheckpoint, parseCheckpoint } from "../../src/core/checkpoint";
import { toBase64 } from "../../src/core/bytes";
import { leafHash, sha256Text } from "../../src/core/hash";
import { checkpointSigner, checkpointVerifierKey } from "../../src/core/keys";
import { CompactRange, inclusionProof, type NodeReader } from "../../src/core/merkle";
import {
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  signerKeyText,
  verifierKeyText,
  ed25519PublicKey,
} from "../../src/core/note";
import { formatTlogProof, parseTlogProof, verifyTlogProof } from "../../src/core/tlog-proof";
import { loadVector } from "./vectors";

interface NoteCase {
  desc: string;
  verifierKey: string;
  signerKey?: string;
  text?: string;
  note?: string;
  wantValid?: boolean;
  wantKeyError?: boolean;
}

describe("c2sp.org/signed-note vectors", () => {
  for (const c of loadVector<{ cases: NoteCase[] }>("signed-note.json").cases) {
    it(c.desc, () => {
      const verifier = parseVerifierKey(c.verifierKey);
      if (c.wantKeyError) {
        expect(verifier.ok).toBe(false);
        return;
      }
      expect(verifier.ok).toBe(true);
      if (!verifier.ok) return;
      if (c.signerKey !== undefined) {
        const signer = parseSignerKey(c.signerKey);
        expect(signer.ok).toBe(true);
        if (signer.ok) expect(signNote(c.text!, [signer.value])).toBe(c.note);
      }
      const opened = openNote(c.note!, [verifier.value]);
      expect(opened.ok).toBe(c.wantValid);
    });
  }
});

const secret = new TextEncoder().encode("test-signing-secret-0123456789abcdef0123456789");
const origin = "sealtrail.test/tenant-a";

describe("signed notes", () => {
  const signer = checkpointSigner(secret, origin, 1);
  const verifier = parseVerifierKey(checkpointVerifierKey(secret, origin, 1));
  if (!verifier.ok) throw new Error("verifier key does not parse");

  it("a signed note opens with its key; a second, unknown signature is ignored", () => {
    const note = signNote("hello\n", [signer, checkpointSigner(secret, "other.example", 1)]);
    const opened = openNote(note, [verifier.value]);
    expect(opened).toMatchObject({ ok: true, value: { text: "hello\n" } });
    if (opened.ok) expect(opened.value.unverified.map((s) => s.name)).toEqual(["other.example"]);
  });

  it("refuses malformed notes", () => {
    const good = signNote("hello\n", [signer]);
    for (const [desc, bad] of [
      ["no blank line", good.replace("\n\n", "\n")],
      ["no trailing newline", good.slice(0, -1)],
      ["control character", good.replace("hello", "hel\u0007lo")],
      ["hyphen instead of em dash", good.replace("\u2014", "-")],
      ["101 signatures", `hello\n\n${good.split("\n\n")[1]!.repeat(101)}`],
    ]) {
      const r = openNote(bad!, [verifier.value]);
      expect(r.ok, desc).toBe(false);
    }
  });

  it("one bad signature by a known key rejects the note", () => {
    const note = signNote("hello\n", [signer]);
    const line = note.split("\n\n")[1]!;
    const forged = line.replace(/[A-Za-z](=*)\n$/, (m, pad: string) => `${(m[0] === "A" ? "B" : "A") + pad}\n`);
    expect(openNote(`hello\n\n${forged}`, [verifier.value])).toMatchObject({ ok: false, error: { reason: "invalid_signature" } });
  });

  it("private and verifier key texts round-trip", () => {
    const seed = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
    const parsed = parseSignerKey(signerKeyText("example.com/log", seed));
    expect(parsed.ok).toBe(true);
    const vkey = verifierKeyText("example.com/log", ed25519PublicKey(seed));
    const v = parseVerifierKey(vkey);
    expect(v.ok).toBe(true);
    if (parsed.ok && v.ok) expect(openNote(signNote("x\n", [parsed.value]), [v.value]).ok).toBe(true);
    expect(parseVerifierKey(vkey.replace(/\+[0-9a-f]{8}\+/, "+00000000+")).ok).toBe(false);
    expect(parseVerifierKey("bad name+00000000+AQ==").ok).toBe(false);
  });
});

describe("checkpoint keys", () => {
  it("are deterministic per secret, origin and version, and differ otherwise", () => {
    expect(checkpointVerifierKey(secret, origin, 1)).toBe(checkpointVerifierKey(secret, origin, 1));
    expect(checkpointVerifierKey(secret, origin, 2)).not.toBe(checkpointVerifierKey(secret, origin, 1));
    expect(checkpointVerifierKey(secret, "sealtrail.test/tenant-b", 1)).not.toBe(checkpointVerifierKey(secret, origin, 1));
    expect(checkpointVerifierKey(new TextEncoder().encode("another-secret-another-secret-0123456789"), origin, 1)).not.toBe(
      checkpointVerifierKey(secret, origin, 1),
    );
    expect(checkpointVerifierKey(secret, origin, 1).startsWith(`${origin}+`)).toBe(true);
  });
  it("refuse short secrets and invalid origins", () => {
    expect(() => checkpointSigner(new Uint8Array(16), origin, 1)).toThrow();
    expect(() => checkpointSigner(secret, "has space", 1)).toThrow();
    expect(() => checkpointSigner(secret, origin, 0)).toThrow();
  });
});

function tree(n: number) {
  const nodes = new Map<string, Uint8Array>();
  const range = new CompactRange();
  const leaves = Array.from({ length: n }, (_, i) => leafHash(new TextEncoder().encode(`entry ${i}`)));
  for (const l of leaves) for (const x of range.append(l)) nodes.set(`${x.level}/${x.index}`, x.hash);
  const read: NodeReader = (level, index) => nodes.get(`${level}/${index}`)!;
  return { leaves, read, root: range.root() };
}

describe("c2sp.org/tlog-checkpoint", () => {
  const signer = checkpointSigner(secret, origin, 1);
  const v1 = parseVerifierKey(checkpointVerifierKey(secret, origin, 1));
  const v2 = parseVerifierKey(checkpointVerifierKey(secret, origin, 2));
  const other = parseVerifierKey(checkpointVerifierKey(secret, "sealtrail.test/tenant-b", 1));
  if (!v1.ok || !v2.ok || !other.ok) throw new Error("keys");
  const root = sha256Text("root");

  it("formats origin, size and base64 root, one per line", () => {
    expect(formatCheckpoint({ origin, size: 7, root, extensions: [] })).toBe(`${origin}\n7\n${toBase64(root)}\n`);
  });

  it("a checkpoint opens with its tenant's key and not with another tenant's", () => {
    const note = signNote(formatCheckpoint({ origin, size: 7, root, extensions: [] }), [signer]);
    expect(openCheckpoint(note, origin, [v1.value])).toMatchObject({ ok: true, value: { size: 7, origin } });
    expect(openCheckpoint(note, origin, [other.value]).ok).toBe(false);
    expect(openCheckpoint(note, "sealtrail.test/tenant-b", [other.value]).ok).toBe(false);
  });

  it("after a key rotation, old checkpoints still verify with the old published key", () => {
    const old = signNote(formatCheckpoint({ origin, size: 3, root, extensions: [] }), [signer]);
    const fresh = signNote(formatCheckpoint({ origin, size: 9, root, extensions: [] }), [checkpointSigner(secret, origin, 2)]);
    const published = [v1.value, v2.value];
    expect(openCheckpoint(old, origin, published).ok).toBe(true);
    expect(openCheckpoint(fresh, origin, published).ok).toBe(true);
    expect(openCheckpoint(fresh, origin, [v1.value]).ok).toBe(false);
  });

  it("refuses malformed bodies", () => {
    for (const body of [
      `${origin}\n07\n${toBase64(root)}\n`,
      `${origin}\n-1\n${toBase64(root)}\n`,
      `${origin}\n7\nnotbase64\n`,
      `${origin}\n7\n`,
      `\n7\n${toBase64(root)}\n`,
    ]) {
      expect(parseCheckpoint(body).ok, body).toBe(false);
    }
    expect(parseCheckpoint(`${origin}\n7\n${toBase64(root)}\nextension line\n`)).toMatchObject({
      ok: true,
      value: { extensions: ["extension line"] },
    });
  });
});

describe("c2sp.org/tlog-proof@v1", () => {
  const signer = checkpointSigner(secret, origin, 1);
  const v1 = parseVerifierKey(checkpointVerifierKey(secret, origin, 1));
  if (!v1.ok) throw new Error("key");
  const { leaves, read, root } = tree(13);
  const checkpoint = signNote(formatCheckpoint({ origin, size: 13, root, extensions: [] }), [signer]);
  const proofFor = (index: number) => formatTlogProof({ index, path: inclusionProof(index, 13, read), checkpoint });

  it("writes the spec's layout", () => {
    const text = proofFor(5);
    expect(text.startsWith("c2sp.org/tlog-proof@v1\nindex 5\n")).toBe(true);
    expect(text.endsWith(checkpoint)).toBe(true);
    expect(parseTlogProof(text)).toMatchObject({ ok: true, value: { index: 5, checkpoint } });
  });

  it("verifies every entry of the tree against its signed checkpoint", () => {
    for (let i = 0; i < 13; i++) expect(verifyTlogProof(proofFor(i), leaves[i]!, origin, [v1.value]).ok).toBe(true);
  });

  it("rejects the wrong entry, a proof against an unsigned root, and a tampered checkpoint", () => {
    expect(verifyTlogProof(proofFor(5), leaves[6]!, origin, [v1.value]).ok).toBe(false);
    const unsigned = formatTlogProof({
      index: 5,
      path: inclusionProof(5, 13, read),
      checkpoint: signNote(formatCheckpoint({ origin, size: 13, root, extensions: [] }), [checkpointSigner(secret, origin, 9)]),
    });
    expect(verifyTlogProof(unsigned, leaves[5]!, origin, [v1.value]).ok).toBe(false);
    const otherRoot = toBase64(sha256Text("another root"));
    const tampered = proofFor(5).replace(`\n${toBase64(root)}\n`, `\n${otherRoot}\n`);
    expect(verifyTlogProof(tampered, leaves[5]!, origin, [v1.value])).toMatchObject({ ok: false, error: { reason: "invalid_signature" } });
    const resized = proofFor(5).replace(`${origin}\n13\n`, `${origin}\n14\n`);
    expect(verifyTlogProof(resized, leaves[5]!, origin, [v1.value]).ok).toBe(false);
    expect(verifyTlogProof(proofFor(5).replace("index 5", "index 4"), leaves[5]!, origin, [v1.value]).ok).toBe(false);
  });
});
