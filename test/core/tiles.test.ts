import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { utf8 } from "../../src/core/bytes";
import { leafHash, type Hash } from "../../src/core/hash";
import { CompactRange, consistencyProof, inclusionProof, treeHash, verifyConsistency, verifyInclusion } from "../../src/core/merkle";
import {
  decodeEntryBundle,
  decodeTile,
  encodeEntryBundle,
  encodeTile,
  encodeTileIndex,
  MAX_ENTRY_BYTES,
  parseTilePath,
  tileNodeReader,
  tilePath,
  tilesFor,
  tilesForSize,
  tileWidthAt,
  TILE_WIDTH,
} from "../../src/core/tiles";

/** A tree of `size` leaves and its tiles, built by hashing leaves level by level (not through tiles.ts). */
function treeOf(size: number) {
  const leaves: Hash[] = Array.from({ length: size }, (_, i) => leafHash(utf8(`leaf ${i}`)));
  const range = new CompactRange();
  const nodes = new Map<string, Hash>();
  for (const l of leaves) for (const n of range.append(l)) nodes.set(`${n.level}/${n.index}`, n.hash);
  const node = (level: number, index: number) => nodes.get(`${level}/${index}`)!;
  // Tile N at level L: nodes (8L, 256N .. 256N + w - 1).
  const tile = (level: number, index: number) => {
    const width = tileWidthAt(level, index, size);
    return width === 0 ? undefined : Array.from({ length: width }, (_, i) => node(8 * level, index * 256 + i));
  };
  return { leaves, range, node, tile };
}

describe("tile paths (c2sp.org/tlog-tiles)", () => {
  it("encode the index in 3-digit elements, x on all but the last", () => {
    expect(encodeTileIndex(1234067)).toBe("x001/x234/067");
    expect(encodeTileIndex(0)).toBe("000");
    expect(encodeTileIndex(999)).toBe("999");
    expect(encodeTileIndex(1000)).toBe("x001/000");
    expect(tilePath({ level: 0, index: 1234067, width: 256 })).toBe("tile/0/x001/x234/067");
    expect(tilePath({ level: 2, index: 5, width: 17 })).toBe("tile/2/005.p/17");
    expect(tilePath({ level: "entries", index: 1000, width: 3 })).toBe("tile/entries/x001/000.p/3");
  });

  it("parse only the spelling the spec gives", () => {
    expect(parseTilePath("tile/0/x001/x234/067")).toEqual({ level: 0, index: 1234067, width: 256 });
    expect(parseTilePath("tile/entries/000.p/255")).toEqual({ level: "entries", index: 0, width: 255 });
    expect(parseTilePath("tile/63/000")).toEqual({ level: 63, index: 0, width: 256 });
    for (const bad of [
      "tile/64/000",
      "tile/01/000",
      "tile/0/1",
      "tile/0/x000/001",
      "tile/0/001/002",
      "tile/0/000.p/256",
      "tile/0/000.p/0",
      "tile/0/000.p/01",
      "tile/0/000.p/",
      "tile/0/000/",
      "tile/0/x1/000",
      "tile/entries/000.p/1/",
      "tile/e/000",
    ]) {
      expect(parseTilePath(bad), bad).toBeUndefined();
    }
  });

  it("round-trip for any index and width", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 1, max: 256 }),
        fc.nat({ max: 63 }),
        (index, width, level) => {
          const t = { level, index, width };
          expect(parseTilePath(tilePath(t))).toEqual(t);
        },
      ),
    );
  });
});

describe("which tiles represent a tree", () => {
  it("follow the spec's examples: 70,000 leaves, and 256", () => {
    const tiles = tilesForSize(70_000);
    expect(tiles.filter((t) => t.level === 0 && t.width === 256)).toHaveLength(273);
    expect(tiles.filter((t) => t.level === 0 && t.width !== 256)).toEqual([{ level: 0, index: 273, width: 112 }]);
    expect(tiles.filter((t) => t.level === 1)).toEqual([
      { level: 1, index: 0, width: 256 },
      { level: 1, index: 1, width: 17 },
    ]);
    expect(tiles.filter((t) => t.level === 2)).toEqual([{ level: 2, index: 0, width: 1 }]);
    expect(tiles).toHaveLength(277);
    expect(tilesForSize(256)).toEqual([
      { level: 0, index: 0, width: 256 },
      { level: 1, index: 0, width: 1 },
    ]);
    expect(tilesForSize(0)).toEqual([]);
  });
});

describe("tile and bundle bytes", () => {
  it("a tile is its hashes concatenated; a full one is 8,192 bytes", () => {
    const hashes = Array.from({ length: TILE_WIDTH }, (_, i) => leafHash(utf8(String(i))));
    const bytes = encodeTile(hashes);
    expect(bytes.length).toBe(8192);
    const back = decodeTile(bytes, 256);
    expect(back.ok && back.value).toEqual(hashes);
    expect(decodeTile(bytes.subarray(0, 8191)).ok).toBe(false);
    expect(decodeTile(bytes.subarray(0, 64), 3).ok).toBe(false);
  });

  it("a bundle is uint16 big-endian length-prefixed entries; 65,535 bytes is the largest entry", () => {
    const entries = [utf8("one"), new Uint8Array(0), new Uint8Array(MAX_ENTRY_BYTES).fill(0x61)];
    const bundle = encodeEntryBundle(entries);
    expect(bundle.ok).toBe(true);
    if (!bundle.ok) return;
    expect([...bundle.value.subarray(0, 7)]).toEqual([0, 3, 0x6f, 0x6e, 0x65, 0, 0]);
    expect([...bundle.value.subarray(7, 9)]).toEqual([0xff, 0xff]);
    const back = decodeEntryBundle(bundle.value);
    expect(back.ok && back.value).toEqual(entries);
    expect(encodeEntryBundle([new Uint8Array(MAX_ENTRY_BYTES + 1)])).toEqual({
      ok: false,
      error: { reason: "entry_too_large", bytes: 65536, limit: 65535 },
    });
    expect(decodeEntryBundle(Uint8Array.of(0, 5, 1, 2)).ok).toBe(false);
    expect(decodeEntryBundle(Uint8Array.of(0)).ok).toBe(false);
  });
});

describe("proofs from tiles", () => {
  it("read the same nodes as the tree for tree hashes, inclusion and consistency proofs", () => {
    for (const size of [1, 2, 255, 256, 257, 511, 512, 513, 65_536 + 300]) {
      const t = treeOf(size);
      const fromTiles = tileNodeReader(t.tile);
      expect(treeHash(size, fromTiles)).toEqual(t.range.root());
      for (const index of [0, Math.floor(size / 2), size - 1]) {
        const proof = inclusionProof(index, size, fromTiles);
        expect(proof).toEqual(inclusionProof(index, size, t.node));
        expect(verifyInclusion(index, size, t.leaves[index]!, proof, t.range.root()).ok).toBe(true);
      }
      for (const from of [1, Math.ceil(size / 3), size]) {
        const proof = consistencyProof(from, size, fromTiles);
        expect(proof).toEqual(consistencyProof(from, size, t.node));
        expect(verifyConsistency(from, size, proof, treeHash(from, t.node), t.range.root()).ok).toBe(true);
      }
    }
  });

  it("list the tiles a proof needs, with the width they have at the tree's size", () => {
    const size = 70_000;
    const t = treeOf(size);
    const needed = tilesFor(size, (read) => consistencyProof(1000, size, read));
    for (const ref of needed) expect(ref.width).toBe(tileWidthAt(ref.level, ref.index, size));
    // Given only those tiles, the proof is computed.
    const only = new Map(needed.map((r) => [`${r.level}/${r.index}`, t.tile(r.level as number, r.index)!]));
    const proof = consistencyProof(
      1000,
      size,
      tileNodeReader((l, i) => only.get(`${l}/${i}`)),
    );
    expect(proof).toEqual(consistencyProof(1000, size, t.node));
    expect(needed.length).toBeLessThan(10);
  });
});
