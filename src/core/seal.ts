/**
 * Planning a seal (docs/design.md "Seals: bundles and manifests"): which range it covers and the exact bytes of its
 * bundle, checkpoint and manifest, plus where those objects live. Pure: the Durable Object
 * stores the plan before writing anything to R2, so every retry publishes the same bytes
 * (sealed_at and the key version included); tests and tools build genuine seals with it.
 */
import { toBase64 } from "./bytes";
import { formatCheckpoint } from "./checkpoint";
import type { Hash } from "./hash";
import { sha256Base64, signManifest, MANIFEST_VERSION } from "./manifest";
import { consistencyProof, treeHash, type NodeReader } from "./merkle";
import { signNote, type NoteSigner } from "./note";

/** One seal: planned (published = false) until its three objects are stored. */
export interface SealRecord {
  id: number;
  from: number;
  to: number;
  root: Hash;
  checkpoint: string;
  manifest: string;
  bundleSha256: string;
  sealedAtMs: number;
  published: boolean;
  indexed: boolean;
}

export interface PlannedSeal {
  seal: SealRecord;
  bundle: string;
}

/** Seal ids are seal numbers zero-padded to 12 digits, so keys list in order. */
export const sealId = (n: number): string => String(n).padStart(12, "0");

export const sealPrefix = (tenant: string): string => `tenants/${tenant}/seals/`;

/** Object keys of seal `id` (R2 keys; the bundle's is also named in the manifest). */
export function sealKeys(tenant: string, id: number) {
  const base = `${sealPrefix(tenant)}${sealId(id)}`;
  return { bundle: `${base}/bundle.jsonl`, checkpoint: `${base}/checkpoint`, manifest: `${base}/manifest` };
}

/**
 * Plans the next seal after `prev` (which must be published), covering up to `size` entries
 * but at most `maxEntries`. `entries(from, to)` gives the bundle of that range (undefined if
 * any entry is missing). Returns undefined when nothing waits.
 */
export function planSeal(args: {
  entries: (from: number, to: number) => string | undefined;
  readNode: NodeReader;
  tenant: string;
  origin: string;
  signer: NoteSigner;
  size: number;
  maxEntries: number;
  prev: SealRecord | undefined;
  nowMs: number;
}): PlannedSeal | undefined {
  const { readNode, tenant, origin, signer, prev } = args;
  const from = prev ? prev.to : 0;
  const to = Math.min(args.size, from + args.maxEntries);
  if (to <= from) return undefined;
  const bundle = args.entries(from, to);
  // Entries leave the log's storage only once sealed, so an unsealed range is always there.
  if (bundle === undefined) throw new Error(`entries [${from}, ${to}) are missing`);
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
