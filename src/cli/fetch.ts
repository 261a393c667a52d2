/**
 * `sealtrail fetch`: downloads a tenant's signed snapshots (manifest, checkpoint, bundle per
 * seal) and verifier keys into a folder, for `sealtrail verify` to check offline. Downloads
 * need a key with the `verify` permission; each download is recorded in the tenant's log.
 *
 * Then the log's current signed checkpoint (head.checkpoint) and a consistency proof from the
 * last seal to it (head.consistency.json): `verify` reports the entries past the last seal,
 * which no bundle holds yet, as not covered.
 *
 * A seal whose bundle retention pruned (410 bundle_pruned) gets <id>.leaves instead: the leaf
 * hashes of its range, one base64 hash a line, read from the log's level-0 hash tiles. `verify`
 * trusts them no more than anything else: their root must be the seal's signed checkpoint.
 *
 * The verifier keys it saves come from the server being verified: `verify` warns when they are
 * the keys it checks with. Pin the tenant's key out of band and pass it with --key.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { toBase64 } from "../core/bytes";
import { decodeTile, TILE_WIDTH, tilePath } from "../core/tiles";
import { HEAD_CHECKPOINT, HEAD_CONSISTENCY, LEAVES_SUFFIX } from "./verify-dir";

export const FETCHED_KEYS = "verifier-keys.txt";

export interface FetchOptions {
  url: string;
  tenant: string;
  token: string;
  out: string;
  fetchImpl?: typeof fetch;
  onProgress?: (done: number, total: number) => void;
}

export interface FetchResult {
  seals: number;
  keys: string[];
  /** Entries sealed (the last seal's `to`, as listed) and the log's size when fetched. */
  sealed: number;
  head_size: number;
  /** Seals whose bundles retention pruned (their leaf hashes were saved instead). */
  pruned_seals: number;
}

export async function fetchSnapshots(o: FetchOptions): Promise<FetchResult> {
  const f = o.fetchImpl ?? fetch;
  const base = o.url.replace(/\/+$/, "");
  const get = async (path: string, auth = true): Promise<string> => {
    const res = await f(`${base}${path}`, auth ? { headers: { authorization: `Bearer ${o.token}` } } : {});
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return res.text();
  };
  const tenantPath = `/v1/tenants/${encodeURIComponent(o.tenant)}`;
  /** A seal's bundle, or null when retention pruned it (410). */
  const bundleOf = async (path: string): Promise<string | null> => {
    const res = await f(`${base}${path}`, { headers: { authorization: `Bearer ${o.token}` } });
    if (res.status === 410) return null;
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return res.text();
  };
  /** Leaf hashes [from, to) from the level-0 hash tiles (full ones: retention prunes only below written tiles). */
  const level0 = new Map<number, Uint8Array[]>();
  const leavesOf = async (from: number, to: number): Promise<string[]> => {
    const out: string[] = [];
    for (let seq = from; seq < to; seq++) {
      const k = Math.floor(seq / TILE_WIDTH);
      if (!level0.has(k)) {
        const path = `/logs/${encodeURIComponent(o.tenant)}/${tilePath({ level: 0, index: k, width: TILE_WIDTH })}`;
        const res = await f(`${base}${path}`, { headers: { authorization: `Bearer ${o.token}` } });
        if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
        const hashes = decodeTile(new Uint8Array(await res.arrayBuffer()), TILE_WIDTH);
        if (!hashes.ok) throw new Error(`GET ${path}: not a tile of ${TILE_WIDTH} hashes`);
        level0.set(k, hashes.value);
      }
      out.push(toBase64(level0.get(k)![seq % TILE_WIDTH]!));
    }
    return out;
  };
  mkdirSync(o.out, { recursive: true });
  // A head from an earlier fetch would describe an older log: never leave one behind.
  for (const file of [HEAD_CHECKPOINT, HEAD_CONSISTENCY]) rmSync(join(o.out, file), { force: true });
  const keys = (
    JSON.parse(await get(`/v1/keys?tenant=${encodeURIComponent(o.tenant)}`, false)) as { keys: { verifier_key: string }[] }
  ).keys.map((k) => k.verifier_key);
  writeFileSync(join(o.out, FETCHED_KEYS), `${keys.join("\n")}\n`);
  const seals: { id: string; from: number; to: number }[] = [];
  let cursor: string | null = null;
  do {
    const page = JSON.parse(await get(`${tenantPath}/snapshots?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`)) as {
      snapshots: { id: string; from: number; to: number }[];
      next_cursor: string | null;
    };
    seals.push(...page.snapshots);
    cursor = page.next_cursor;
  } while (cursor);
  let prunedSeals = 0;
  for (const [i, { id, from, to }] of seals.entries()) {
    const prefix = `${tenantPath}/snapshots/${id}`;
    // Sealed snapshots never change: what is already here is not downloaded again.
    for (const [suffix, file] of [
      ["", `${id}.manifest`],
      ["/checkpoint", `${id}.checkpoint`],
    ] as const) {
      if (!existsSync(join(o.out, file))) writeFileSync(join(o.out, file), await get(`${prefix}${suffix}`));
    }
    const bundleFile = join(o.out, `${id}.jsonl`);
    const leavesFile = join(o.out, `${id}${LEAVES_SUFFIX}`);
    if (!existsSync(bundleFile)) {
      const bundle = await bundleOf(`${prefix}/bundle`);
      if (bundle !== null) writeFileSync(bundleFile, bundle);
      else {
        // Pruned by retention: its leaf hashes instead (verify checks them against the signed root).
        prunedSeals += 1;
        if (!existsSync(leavesFile)) writeFileSync(leavesFile, `${(await leavesOf(from, to)).join("\n")}\n`);
      }
    }
    o.onProgress?.(i + 1, seals.length);
  }
  // The head, after the seals: it is at least as large as every seal listed above.
  const head = await get(`${tenantPath}/checkpoint`);
  writeFileSync(join(o.out, HEAD_CHECKPOINT), head);
  const headSize = Number(head.split("\n")[1]); // unverified here; `verify` checks the signature
  const sealed = seals.at(-1)?.to ?? 0;
  if (sealed > 0 && Number.isSafeInteger(headSize) && headSize > sealed) {
    writeFileSync(join(o.out, HEAD_CONSISTENCY), await get(`${tenantPath}/proof/consistency?from=${sealed}&to=${headSize}`));
  }
  return { seals: seals.length, keys, sealed, head_size: headSize, pruned_seals: prunedSeals };
}
