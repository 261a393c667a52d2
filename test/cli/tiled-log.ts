/** A tenant log as c2sp.org/tlog-tiles files, built with the code the Durable Object uses, for CLI tests and the bench's tile_verify row. */
import { toBase64, utf8 } from "../../src/core/bytes";
import { formatCheckpoint } from "../../src/core/checkpoint";
import { encodeEntry, entryLeafHash, GENESIS_PREV, type JsonObject } from "../../src/core/entry";
import type { Hash } from "../../src/core/hash";
import { checkpointSigner } from "../../src/core/keys";
import { CompactRange } from "../../src/core/merkle";
import { signNote } from "../../src/core/note";
import type { TileGet } from "../../src/core/tile-client";
import { encodeEntryBundle, encodeTile, tilePath, tilesForSize } from "../../src/core/tiles";
import { originOf, secret } from "./chain";

const TENANT = "acme";

/**
 * A tenant log of `size` entries as tlog-tiles files, signed with the chain fixture's key
 * (test/cli/chain.ts). `fork`: entry 0 differs (another history, signed with the same key).
 */
export function tiledLog(size: number, o: { fork?: boolean; actions?: (seq: number) => string; pruned?: { to: number; at: number } } = {}) {
  const nodes = new Map<string, Hash>();
  const entries: Uint8Array[] = [];
  const range = new CompactRange();
  let prev = GENESIS_PREV;
  // `pruned`: entry `at` is the log's sealtrail.retention.pruned entry for [0, to), under the checkpoint of size `to`.
  let prunedRoot = "";
  for (let seq = 0; seq < size; seq++) {
    if (seq === o.pruned?.to) prunedRoot = toBase64(range.root());
    const action = seq === 0 && o.fork ? "doc.wipe" : (o.actions?.(seq) ?? "doc.read");
    const event: JsonObject =
      seq === o.pruned?.at
        ? {
            action: "sealtrail.retention.pruned",
            actor: { id: "schedule", type: "system" },
            metadata: { from: 0, to: o.pruned.to, cutoff: "2026-11-01T00:00:00.000Z", checkpoint: { size: o.pruned.to, root: prunedRoot } },
          }
        : { action, actor: { id: `u${seq % 7}`, type: "user" } };
    const entry = encodeEntry({
      tenant: TENANT,
      seq,
      receivedAtMs: 1_795_000_000_000 + seq,
      prev,
      event,
      provenance: {},
    });
    entries.push(utf8(entry));
    prev = entryLeafHash(entry);
    for (const n of range.append(prev)) nodes.set(`${n.level}/${n.index}`, n.hash);
  }
  const files = new Map<string, Uint8Array>();
  for (const ref of tilesForSize(size)) {
    const level = ref.level as number;
    files.set(tilePath(ref), encodeTile(Array.from({ length: ref.width }, (_, i) => nodes.get(`${8 * level}/${ref.index * 256 + i}`)!)));
    if (level === 0) {
      const bundle = encodeEntryBundle(entries.slice(ref.index * 256, ref.index * 256 + ref.width));
      if (!bundle.ok) throw new Error("bundle");
      files.set(tilePath({ ...ref, level: "entries" }), bundle.value);
    }
  }
  const note = signNote(formatCheckpoint({ origin: originOf(TENANT), size, root: range.root(), extensions: [] }), [
    checkpointSigner(secret, originOf(TENANT), 1),
  ]);
  files.set("checkpoint", utf8(note));
  const get: TileGet = async (path) => files.get(path);
  return { note, files, get, prunedRoot };
}
