/**
 * The native SHA-256 the runtimes install (src/runtime/native-sha256.ts: node:crypto in workerd
 * and in Node) computes exactly what @noble/hashes computes, on arbitrary bytes and strings
 * (lone surrogates included), split into arbitrary parts. Runs in workerd and on Node.
 */
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { toHex as hex } from "../../src/core/bytes";
import {
  installSha256,
  leafHash,
  leafHashText,
  nobleSha256Parts,
  nodeHash,
  resetSha256,
  sha256,
  sha256Hex,
  sha256Text,
} from "../../src/core/hash";
import { nodeSha256 } from "../../src/runtime/native-sha256";

describe("native SHA-256 = @noble/hashes", () => {
  afterAll(() => installSha256(nodeSha256));

  it("on arbitrary parts (bytes and strings)", () => {
    const part = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.string({ unit: "binary", maxLength: 100 }),
      fc.string({ unit: "grapheme", maxLength: 100 }),
    );
    fc.assert(
      fc.property(fc.array(part, { maxLength: 5 }), (parts) => {
        expect(hex(nodeSha256(parts))).toBe(hex(nobleSha256Parts(parts)));
      }),
      { numRuns: 1000 },
    );
  });

  it("RFC 6962 leaf and node hashes are the same bytes with either installed", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.string({ unit: "binary", maxLength: 200 }), (bytes, text) => {
        // Every input shape the log hashes, with whichever SHA-256 is installed.
        const digests = () =>
          [leafHash(bytes), leafHashText(text), sha256(bytes), sha256Text(text), nodeHash(bytes.slice(0, 32), bytes.slice(-32))].map(hex);
        resetSha256();
        const noble = digests();
        expect(installSha256(nodeSha256)).toBe(true);
        const native = digests();
        expect(native).toEqual(noble);
      }),
      { numRuns: 300 },
    );
  });

  it("leaf hashes of texts of every length, past the reused input buffer and its cap (any prefix byte)", () => {
    // native-sha256.ts encodes a prefix byte and a text into a reused buffer, grown as needed,
    // and a fresh one past 1 MiB: a short text after a long one must not hash leftover bytes.
    const texts = ["", "a", "é☃😀".repeat(700), "x".repeat(1400), "\uD800".repeat(2000), "ab", "y".repeat(400_000), "z"];
    for (const text of texts) {
      for (const prefix of [0x00, 0x01, 0xff]) {
        const parts = [Uint8Array.of(prefix), text];
        expect(hex(nodeSha256(parts))).toBe(hex(nobleSha256Parts(parts)));
      }
    }
  });

  it("refuses an implementation that is not SHA-256", () => {
    expect(installSha256(() => new Uint8Array(32))).toBe(false);
    expect(hex(sha256Text("abc"))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});
