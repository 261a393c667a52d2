/**
 * The verify page's check from tiles alone (docs/design.md "Tiles"): this browser fetches the
 * tenant's c2sp.org/tlog-tiles resources (`/logs/<tenant>/`, same origin, the signed-in session),
 * checks the checkpoint against the pinned keys, every hash tile against the signed root, and
 * that the tree extends the last checkpoint this browser verified, with a proof built from the
 * tiles (src/core/tile-client.ts, the code `sealtrail verify-tiles` runs). No other API is used.
 */
import { checkConsistencyFromTiles, describeTileFailure, signedCheckpoint, TileSet, verifyTiles, type TileGet } from "../core/tile-client";
import { parseVerifierKey, type NoteVerifier } from "../core/note";
import { readSeen, type Pin } from "./trust";

const tileGet =
  (tenant: string): TileGet =>
  async (path) => {
    const res = await fetch(`/logs/${encodeURIComponent(tenant)}/${path}`, { credentials: "same-origin" });
    if (res.status === 404) return undefined;
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  };

export interface TileCheck {
  ok: boolean;
  /** One sentence for a person. */
  message: string;
}

export async function checkFromTiles(tenant: string, pin: Pin): Promise<TileCheck> {
  const verifiers: NoteVerifier[] = pin.keys.flatMap((k) => {
    const v = parseVerifierKey(k);
    return v.ok ? [v.value] : [];
  });
  const get = tileGet(tenant);
  const report = await verifyTiles({ get, verifiers });
  if (!report.ok) return { ok: false, message: `From tiles: ${report.failure ? describeTileFailure(report.failure) : "failed"}.` };
  let extended = "";
  const seen = readSeen(tenant);
  if (seen && seen.size > 0) {
    const signed = await signedCheckpoint(get, verifiers);
    if (!signed.ok) return { ok: false, message: `From tiles: ${describeTileFailure(signed.failure)}.` };
    const earlier = { origin: signed.cp.origin, size: seen.size, root: seen.root, extensions: [] };
    const { failure } = await checkConsistencyFromTiles(new TileSet(get, signed.cp.size), earlier, signed.cp);
    if (failure)
      return { ok: false, message: `From tiles: ${describeTileFailure(failure)} (against the checkpoint this browser verified before).` };
    extended = `, and it extends the checkpoint of ${seen.size} entries this browser verified before`;
  }
  return {
    ok: true,
    message: `From tiles alone: ${report.size} entries, ${report.tiles} hash tiles, signed by the pinned key and hashing to its root${extended}.`,
  };
}
