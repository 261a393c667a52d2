/**
 * Snapshot manifests and bundles (docs/design.md "Seals: bundles and manifests").
 *
 * bundle   = the entry bytes of entries [from, to), each followed by "\n".
 * manifest = a c2sp.org/signed-note whose text is the RFC 8785 canonical JSON of
 *   {v, tenant, origin, from, to, root, checkpoint, consistency, bundle_sha256, bundle_key,
 *    prev_manifest_sha256, sealed_at} followed by "\n", signed with the tenant's checkpoint
 *   key (key name = origin). `checkpoint` is the signed checkpoint note for size `to`;
 *   `consistency` is the RFC 6962 consistency proof from the previous seal's size (`from`)
 *   to `to` (empty when from is 0); hashes are base64; `prev_manifest_sha256` is the base64
 *   SHA-256 of the previous manifest note's bytes, or null for the first seal.
 */
import { fromBase64, toBase64, utf8 } from "./bytes";
import { openCheckpoint, type Checkpoint, type CheckpointError } from "./checkpoint";
import { entryLeafHash } from "./entry";
import { sha256, type Hash } from "./hash";
import { canonicalize } from "./jcs";
import { type CompactRange, verifyConsistency, type ProofError } from "./merkle";
import { openNote, signNote, type NoteError, type NoteSigner, type NoteVerifier } from "./note";
import { err, ok, type Result } from "./result";

export const MANIFEST_VERSION = 1;

export interface Manifest {
  v: number;
  tenant: string;
  origin: string;
  from: number;
  to: number;
  root: string;
  checkpoint: string;
  consistency: string[];
  bundle_sha256: string;
  bundle_key: string;
  prev_manifest_sha256: string | null;
  sealed_at: string;
}

export type ManifestError =
  | NoteError
  | CheckpointError
  | ProofError
  | { reason: "malformed_manifest"; detail: string }
  | { reason: "manifest_mismatch"; field: string; expected: string | number | null; got: string | number | null }
  | { reason: "bundle_mismatch"; seq: number | null; detail: string; expected?: string; got?: string };

/** The bundle bytes (as text) for entries in sequence order. */
export const formatBundle = (entries: readonly string[]): string => entries.map((e) => `${e}\n`).join("");

export const sha256Base64 = (text: string): string => toBase64(sha256(utf8(text)));

/** Signs a manifest. Requires the signer's name to be the manifest's origin. */
export function signManifest(m: Manifest, signer: NoteSigner): string {
  if (signer.name !== m.origin) throw new Error("a manifest is signed with its log's key");
  return signNote(`${canonicalize({ ...m })}\n`, [signer]);
}

const str = (v: unknown): v is string => typeof v === "string";
const int = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** Verifies a manifest's signature (by `origin`'s key) and shape; returns its fields. */
export function openManifest(note: string, origin: string, verifiers: readonly NoteVerifier[]): Result<Manifest, ManifestError> {
  const opened = openNote(
    note,
    verifiers.filter((v) => v.name === origin),
  );
  if (!opened.ok) return opened;
  const bad = (detail: string) => err<ManifestError>({ reason: "malformed_manifest", detail });
  let m: Manifest;
  try {
    m = JSON.parse(opened.value.text) as Manifest;
  } catch {
    return bad("not JSON");
  }
  if (`${canonicalize({ ...m })}\n` !== opened.value.text) return bad("not canonical JSON");
  if (m.v !== MANIFEST_VERSION) return bad(`unknown version ${String(m.v)}`);
  if (!str(m.tenant) || !str(m.origin) || !int(m.from) || !int(m.to) || m.from > m.to) return bad("bad tenant, origin or range");
  if (!str(m.root) || !str(m.checkpoint) || !str(m.bundle_sha256) || !str(m.bundle_key) || !str(m.sealed_at)) return bad("missing fields");
  if (!Array.isArray(m.consistency) || !m.consistency.every(str)) return bad("bad consistency proof");
  if (m.prev_manifest_sha256 !== null && !str(m.prev_manifest_sha256)) return bad("bad prev_manifest_sha256");
  if (m.origin !== origin) return err({ reason: "manifest_mismatch", field: "origin", expected: origin, got: m.origin });
  return ok(m);
}

/**
 * Checks one seal against its predecessor: the embedded checkpoint is signed and matches
 * `to` and `root`; the consistency proof links the previous seal's checkpoint to this one;
 * `from` and `prev_manifest_sha256` continue the chain. `prev` is undefined for the first seal.
 */
export function verifySealLink(
  m: Manifest,
  verifiers: readonly NoteVerifier[],
  prev: { manifest: Manifest; note: string; checkpoint: Checkpoint } | undefined,
): Result<Checkpoint, ManifestError> {
  const cp = openCheckpoint(m.checkpoint, m.origin, verifiers);
  if (!cp.ok) return cp;
  if (cp.value.size !== m.to) return err({ reason: "manifest_mismatch", field: "to", expected: cp.value.size, got: m.to });
  if (toBase64(cp.value.root) !== m.root)
    return err({ reason: "manifest_mismatch", field: "root", expected: toBase64(cp.value.root), got: m.root });
  const expectedFrom = prev ? prev.manifest.to : 0;
  if (m.from !== expectedFrom) return err({ reason: "manifest_mismatch", field: "from", expected: expectedFrom, got: m.from });
  const expectedPrev = prev ? sha256Base64(prev.note) : null;
  if (m.prev_manifest_sha256 !== expectedPrev) {
    return err({ reason: "manifest_mismatch", field: "prev_manifest_sha256", expected: expectedPrev, got: m.prev_manifest_sha256 });
  }
  if (prev && prev.manifest.to > 0) {
    const proof = m.consistency.map(fromBase64);
    if (proof.some((h) => h === undefined)) return err({ reason: "malformed_manifest", detail: "consistency hash is not base64" });
    const consistent = verifyConsistency(prev.manifest.to, m.to, proof as Hash[], prev.checkpoint.root, cp.value.root);
    if (!consistent.ok) return consistent;
  } else if (m.consistency.length > 0) {
    return err({ reason: "manifest_mismatch", field: "consistency", expected: 0, got: m.consistency.length });
  }
  return ok(cp.value);
}

/**
 * Checks a bundle against its manifest: SHA-256, one line per entry of [from, to), each
 * line an entry with the right tenant and seq, each `prev` the previous leaf hash, and the
 * tree over every leaf so far (`range`, advanced in place) has the manifest's root.
 * `prevLeaf` is the leaf hash of entry from-1 (GENESIS_PREV when from is 0).
 */
export function verifyBundle(bundle: string, m: Manifest, range: CompactRange, prevLeaf: Hash): Result<Hash, ManifestError> {
  const digest = sha256Base64(bundle);
  if (digest !== m.bundle_sha256)
    return err({ reason: "bundle_mismatch", seq: null, detail: "sha256", expected: m.bundle_sha256, got: digest });
  if (range.size !== m.from) return err({ reason: "bundle_mismatch", seq: m.from, detail: "does not continue the previous bundle" });
  if (m.to > m.from && !bundle.endsWith("\n")) return err({ reason: "bundle_mismatch", seq: null, detail: "last line not terminated" });
  const lines = m.to === m.from ? [] : bundle.slice(0, -1).split("\n");
  if (lines.length !== m.to - m.from) {
    return err({ reason: "bundle_mismatch", seq: null, detail: `expected ${m.to - m.from} entries, found ${lines.length}` });
  }
  let prev = prevLeaf;
  for (const [i, line] of lines.entries()) {
    const seq = m.from + i;
    let e: { tenant?: unknown; seq?: unknown; prev?: unknown };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      return err({ reason: "bundle_mismatch", seq, detail: "entry is not JSON" });
    }
    if (e.seq !== seq) return err({ reason: "bundle_mismatch", seq, detail: "seq", expected: String(seq), got: String(e.seq) });
    if (e.tenant !== m.tenant) return err({ reason: "bundle_mismatch", seq, detail: "tenant", expected: m.tenant, got: String(e.tenant) });
    if (e.prev !== toBase64(prev))
      return err({ reason: "bundle_mismatch", seq, detail: "prev", expected: toBase64(prev), got: String(e.prev) });
    prev = entryLeafHash(line);
    range.append(prev);
  }
  const root = toBase64(range.root());
  if (root !== m.root) return err({ reason: "bundle_mismatch", seq: null, detail: "root", expected: m.root, got: root });
  return ok(prev);
}
