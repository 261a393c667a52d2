/**
 * A seal's objects: where they live in R2 and KV, and how they are written (sealer.ts decides
 * when, and what to do when a write fails or finds other bytes). R2 objects are
 * written create-only and never deleted by the application (docs/design.md invariant 4); the KV
 * index is a convenience that may lag, never the truth.
 *
 * R2:  tenants/<tenant>/seals/<id>/bundle.jsonl   entry bytes of [from, to), one per line
 *      tenants/<tenant>/seals/<id>/checkpoint     signed checkpoint for size `to`
 *      tenants/<tenant>/seals/<id>/manifest       signed manifest (src/core/manifest.ts)
 * KV:  tenants/<tenant>/latest                    the newest seal's metadata
 *      tenants/<tenant>/seals/<id>                one seal's metadata (also as list metadata)
 * <id> is the seal number, zero-padded to 12 digits so keys list in order.
 */
import { toBase64 } from "../core/bytes";
import { sha256Base64 } from "../core/manifest";
import { sealId, sealKeys, sealPrefix, type SealRecord } from "../core/seal";
import type { SealSummary } from "./log-types";

export const kvLatestKey = (tenant: string): string => `tenants/${tenant}/latest`;
export const kvSealKey = (tenant: string, id: number): string => `${sealPrefix(tenant)}${sealId(id)}`;

export type PublishError =
  | { reason: "r2_conflict"; key: string; expected: string; got: string }
  | { reason: "r2_unavailable"; key: string; detail: string };

export type PutOutcome = { ok: true; value: "created" | "existed" } | { ok: false; error: PublishError };

const describe = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Writes `body` at `key` only if no object is there (`onlyIf: { etagDoesNotMatch: "*" }`; see
 * test/durable/seal.test.ts "putCreateOnly accepts the same bytes again and refuses different
 * ones…"). If one is there, it must hold the same bytes
 * (an earlier attempt landed before failing); anything else is a conflict, never overwritten.
 */
export async function putCreateOnly(bucket: R2Bucket, key: string, body: string, contentType: string): Promise<PutOutcome> {
  const sha = sha256Base64(body);
  try {
    const put = await bucket.put(key, body, {
      onlyIf: { etagDoesNotMatch: "*" },
      httpMetadata: { contentType },
      customMetadata: { sha256: sha },
    });
    if (put !== null) return { ok: true, value: "created" };
  } catch (e) {
    return { ok: false, error: { reason: "r2_unavailable", key, detail: describe(e) } };
  }
  // The key exists. Compare the bytes themselves, not metadata someone could have edited.
  try {
    const existing = await bucket.get(key);
    if (existing === null) return { ok: false, error: { reason: "r2_unavailable", key, detail: "object vanished during the put" } };
    const got = sha256Base64(await existing.text());
    return got === sha ? { ok: true, value: "existed" } : { ok: false, error: { reason: "r2_conflict", key, expected: sha, got } };
  } catch (e) {
    return { ok: false, error: { reason: "r2_unavailable", key, detail: describe(e) } };
  }
}

/**
 * Publishes one planned seal, in order: bundle, checkpoint, manifest. The manifest is last
 * so that a manifest in R2 always means its bundle and checkpoint are there too.
 *
 * The bundle is only read (`bundle()`) when R2 lacks it: a bundle already there under the
 * recorded SHA-256 is taken as published, so restarting an object does not re-read megabytes
 * of entries. Its bytes are checked by every verification run; the checkpoint and manifest,
 * the signed statements a split view would show in, are compared byte for byte every time.
 */
export async function publishSeal(
  bucket: R2Bucket,
  tenant: string,
  seal: SealRecord,
  bundle: () => Promise<string | undefined>,
): Promise<PublishError | undefined> {
  const keys = sealKeys(tenant, seal.id);
  try {
    const existing = await bucket.head(keys.bundle);
    if (existing?.customMetadata?.sha256 !== seal.bundleSha256) {
      const body = await bundle();
      if (body === undefined) return { reason: "r2_unavailable", key: keys.bundle, detail: "bundle entries unavailable" };
      const put = await putCreateOnly(bucket, keys.bundle, body, "application/x-ndjson; charset=utf-8");
      if (!put.ok) return put.error;
    }
  } catch (e) {
    return { reason: "r2_unavailable", key: keys.bundle, detail: describe(e) };
  }
  const steps: [string, string][] = [
    [keys.checkpoint, seal.checkpoint],
    [keys.manifest, seal.manifest],
  ];
  for (const [key, body] of steps) {
    const put = await putCreateOnly(bucket, key, body, "text/plain; charset=utf-8");
    // At this point `key` is durable in R2 (or the seal stops here). A crash or failure before
    // the next step is recovered by the next run, which re-puts the same bytes: the existing
    // objects compare equal and the missing ones are created.
    if (!put.ok) return put.error;
  }
  return undefined;
}

/** The metadata the KV index keeps for a seal (and the snapshots list returns). */
export function sealSummary(tenant: string, seal: SealRecord): SealSummary {
  const keys = sealKeys(tenant, seal.id);
  return {
    id: sealId(seal.id),
    from: seal.from,
    to: seal.to,
    root: toBase64(seal.root),
    bundle_sha256: seal.bundleSha256,
    sealed_at: new Date(seal.sealedAtMs).toISOString(),
    manifest_key: keys.manifest,
    bundle_key: keys.bundle,
  };
}

/** Writes the KV index for a published seal: its own key, then `latest`. */
export async function indexSeal(kv: KVNamespace, tenant: string, seal: SealRecord): Promise<void> {
  const summary = sealSummary(tenant, seal);
  await kv.put(kvSealKey(tenant, seal.id), JSON.stringify(summary), { metadata: summary });
  await kv.put(kvLatestKey(tenant), JSON.stringify(summary));
}
