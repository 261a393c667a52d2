import { describe, expect, it } from "vitest";
import { fromBase64, toBase64, toHex } from "../../src/core/bytes";
import { encodeEntry, entryLeafHash, eventDigest, GENESIS_PREV } from "../../src/core/entry";
import { EMPTY_TREE_HASH, leafHash } from "../../src/core/hash";
import { hex, loadVector } from "./vectors";

interface ReferenceTree {
  leafInputsHex: string[];
  leafHashesHex: string[];
  rootHashesBySizeHex: string[];
}

describe("RFC 6962 leaf hashing", () => {
  const ref = loadVector<ReferenceTree>("reference-tree.json");
  ref.leafInputsHex.forEach((input, i) => {
    it(`leaf ${i} of the reference tree hashes to SHA-256(0x00 ‖ input)`, () => {
      expect(toHex(leafHash(hex(input)))).toBe(ref.leafHashesHex[i]);
    });
  });
  it("the empty tree hash is SHA-256 of the empty string", () => {
    expect(toHex(EMPTY_TREE_HASH)).toBe(ref.rootHashesBySizeHex[0]);
  });
});

describe("entry bytes", () => {
  const fields = {
    tenant: "t1",
    seq: 0,
    receivedAtMs: Date.UTC(2026, 10, 26, 6, 0, 0, 5),
    prev: GENESIS_PREV,
    event: { outcome: "success", action: "user.login", actor: { type: "user", id: "u1" } },
    provenance: { principal_type: "api_key", principal_id: "k1" },
  };

  it("are the RFC 8785 canonical JSON of the docs/design.md entry fields, byte for byte", () => {
    expect(encodeEntry(fields)).toBe(
      '{"event":{"action":"user.login","actor":{"id":"u1","type":"user"},"outcome":"success"},' +
        '"prev":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",' +
        '"provenance":{"principal_id":"k1","principal_type":"api_key"},' +
        '"received_at":"2026-11-26T06:00:00.005Z","seq":0,"tenant":"t1","v":1}',
    );
  });

  it("hash as RFC 6962 leaves of their UTF-8 bytes", () => {
    const text = encodeEntry({ ...fields, event: { action: "ünïcode", actor: { id: "😀", type: "user" } } });
    expect(entryLeafHash(text)).toEqual(leafHash(new TextEncoder().encode(text)));
  });

  it("event digests ignore key order", () => {
    expect(eventDigest({ a: 1, b: { c: 2, d: 3 } })).toBe(eventDigest({ b: { d: 3, c: 2 }, a: 1 }));
    expect(eventDigest({ a: 1 })).not.toBe(eventDigest({ a: 2 }));
  });
});

describe("base64", () => {
  it("round-trips every length", () => {
    for (let n = 0; n < 70; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
      expect(fromBase64(toBase64(bytes))).toEqual(bytes);
      expect(toBase64(bytes)).toBe(btoa(String.fromCharCode(...bytes)));
    }
  });
  it("refuses non-canonical or malformed text", () => {
    for (const bad of ["A", "AA", "AAA", "AB==", "AAB=", "A===", "AA=A", "AA AA", "AA-_"]) {
      expect(fromBase64(bad), bad).toBeUndefined();
    }
    expect(fromBase64("Zg==")).toEqual(Uint8Array.of(0x66));
  });
});
