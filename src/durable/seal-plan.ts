/**
 * Planning a seal: which range it covers and the exact bytes of its bundle, checkpoint and
 * manifest. Planning is synchronous and its result is stored before anything is written to
 * R2, so every retry publishes the very same bytes (sealed_at and the key version included).
 */
import { toBase64 } from "../core/bytes";
import { formatCheckpoint } from "../core/checkpoint";
import { formatBundle, sha256Base64, signManifest, MANIFEST_VERSION } from "../core/manifest";
import { consistencyProof, treeHash, type NodeReader } from "../core/merkle";
import { signNote, type NoteSigner } from "../core/note";
import type { LogStore, SealRecord } from "./log-store";
import { SEAL_MAX_ENTRIES, sealKeys } from "./sealer";

export interface PlannedSeal {
  seal: SealRecord;
  bundle: string;
}

/** The bundle of a seal from the entries DO storage still holds, or undefined if evicted. */
export function bundleFromStore(store: LogStore, from: number, to: number): string | undefined {
  const entries = store.entries(from, to - from);
  if (entries.length !== to - from || entries.some((e, i) => e.seq !== from + i)) return undefined;
  return formatBundle(entries.map((e) => e.entry));
}

/**
 * Plans the next seal after `prev` (which must be published), covering up to `size` entries
 * but at most SEAL_MAX_ENTRIES. Returns undefined when nothing waits.
 */
export function planSeal(args: {
  store: LogStore;
  readNode: NodeReader;
  tenant: string;
  origin: string;
  signer: NoteSigner;
  size: number;
  prev: SealRecord | undefined;
  nowMs: number;
}): PlannedSeal | undefined {
  const { store, readNode, tenant, origin, signer, prev } = args;
  const from = prev ? prev.to : 0;
  const to = Math.min(args.size, from + SEAL_MAX_ENTRIES);
  if (to <= from) return undefined;
  const bundle = bundleFromStore(store, from, to);
  // Entries leave DO storage only once sealed, so an unsealed range is always here.
  if (bundle === undefined) throw new Error(`entries [${from}, ${to}) are missing from DO storage`);
  const root = treeHash(to, readNode);
  const checkpoint = signNote(formatCheckpoint({ origin, size: to, root, extensions: [] }), [signer]);
  const id = prev ? prev.id + 1 : 0;
  const bundleSha256 = sha256Base64(bundle);
  const manifest = signManifest(
    {
      v: MANIFEST_VERSION,
      tenant,
      origin,
      from,
      to,
      root: toBase64(root),
      checkpoint,
      consistency: from > 0 ? consistencyProof(from, to, readNode).map(toBase64) : [],
      bundle_sha256: bundleSha256,
      bundle_key: sealKeys(tenant, id).bundle,
      prev_manifest_sha256: prev ? sha256Base64(prev.manifest) : null,
      sealed_at: new Date(args.nowMs).toISOString(),
    },
    signer,
  );
  return {
    seal: { id, from, to, root, checkpoint, manifest, bundleSha256, sealedAtMs: args.nowMs, published: false, indexed: false },
    bundle,
  };
}
