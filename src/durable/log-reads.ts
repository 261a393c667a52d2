/**
 * What the log serves from its own storage: signed checkpoints, RFC 6962 proofs (O(log n) node
 * reads from DO storage), leaf hashes, the tree at a past size, its seal records and the
 * entries it still holds. Reads only; nothing here writes.
 */
import { toBase64 } from "../core/bytes";
import { formatCheckpoint } from "../core/checkpoint";
import type { Hash } from "../core/hash";
import { CompactRange, consistencyProof, inclusionProof, treeHash, type NodeReader } from "../core/merkle";
import { signNote } from "../core/note";
import { formatTlogProof } from "../core/tlog-proof";
import { currentSigner, tenantOrigin, type SigningEnv } from "./checkpoint-keys";
import type { Head, LogStore } from "./log-store";
import type {
  ConsistencyProof,
  InclusionProof,
  ProofResult,
  Refusal,
  SealView,
  SignedCheckpoint,
  StoredEntryView,
  TreeState,
} from "./log-types";

export interface LogReadsDeps {
  store: LogStore;
  env: SigningEnv;
  /** The committed head and tree (group-commit.ts). */
  commit: { readonly head: Head; root(): Hash };
  /** Whether the log may sign (sealer.ts): reconciled with R2, and not refusing. */
  sealer: { readonly refusal: Refusal | null; ready(tenant: string): Promise<boolean> };
}

export class LogReads {
  readonly #d: LogReadsDeps;
  readonly #readNode: NodeReader;
  /** The last checkpoint signed (Ed25519 is deterministic: the same size always yields the same note). */
  #checkpoint: SignedCheckpoint | undefined;

  constructor(deps: LogReadsDeps) {
    this.#d = deps;
    this.#readNode = (level, index) => deps.store.node(level, index);
  }

  get #size(): number {
    return this.#d.commit.head.size;
  }

  /** The checkpoint for the current tree size, signed with the tenant's current key. */
  async checkpoint(tenant: string): Promise<ProofResult<SignedCheckpoint>> {
    const reconciled = await this.#d.sealer.ready(tenant);
    // Never sign while R2 holds a newer or conflicting checkpoint (invariant 10), nor while
    // R2 could not be read to rule that out.
    const refusal = this.#d.sealer.refusal;
    if (refusal) return { ok: false, error: { reason: "split_view", refusal } };
    if (!reconciled) return { ok: false, error: { reason: "not_reconciled" } };
    const size = this.#size;
    if (this.#checkpoint?.size !== size) {
      const body = formatCheckpoint({ origin: tenantOrigin(this.#d.env, tenant), size, root: this.#d.commit.root(), extensions: [] });
      this.#checkpoint = { size, note: signNote(body, [currentSigner(this.#d.env, tenant)]) };
    }
    return { ok: true, value: this.#checkpoint };
  }

  /** RFC 6962 audit path for `index` in the tree of `size`. */
  inclusionProof(index: number, size: number): ProofResult<InclusionProof> {
    if (size > this.#size) return { ok: false, error: { reason: "size_out_of_range", size, treeSize: this.#size } };
    if (index >= size) return { ok: false, error: { reason: "index_out_of_range", index, size } };
    return { ok: true, value: { index, size, hashes: inclusionProof(index, size, this.#readNode).map(toBase64) } };
  }

  /** RFC 6962 consistency proof between tree sizes `from` and `to`. */
  consistencyProof(from: number, to: number): ProofResult<ConsistencyProof> {
    if (to > this.#size) return { ok: false, error: { reason: "size_out_of_range", size: to, treeSize: this.#size } };
    if (from < 1 || from > to) return { ok: false, error: { reason: "size_out_of_range", size: from, treeSize: to } };
    return { ok: true, value: { from, to, hashes: consistencyProof(from, to, this.#readNode).map(toBase64) } };
  }

  /** c2sp.org/tlog-proof@v1 for entry `seq` against the current signed checkpoint. */
  async entryProof(tenant: string, seq: number): Promise<ProofResult<string>> {
    const cp = await this.checkpoint(tenant);
    if (!cp.ok) return cp;
    if (seq >= cp.value.size) return { ok: false, error: { reason: "entry_not_found", seq } };
    const path = inclusionProof(seq, cp.value.size, this.#readNode);
    return { ok: true, value: formatTlogProof({ index: seq, path, checkpoint: cp.value.note }) };
  }

  /** The log's own leaf hashes for [from, from + count) (base64), for verification. */
  leaves(from: number, count: number): string[] {
    return this.#d.store.leaves(from, Math.min(count, Math.max(0, this.#size - from))).map(toBase64);
  }

  /** The log's leaf hashes at the given sequence numbers (null beyond the head). */
  leavesAt(seqs: number[]): (string | null)[] {
    return seqs.map((seq) => (seq < this.#size ? toBase64(this.#d.store.node(0, seq)) : null));
  }

  /**
   * The tree at `size` as a verifier resumes from it: the compact range's frontier and the
   * leaf hash of entry size-1 (base64; 32 zero bytes for size 0).
   */
  treeStateAt(size: number): ProofResult<TreeState> {
    if (size > this.#size) return { ok: false, error: { reason: "size_out_of_range", size, treeSize: this.#size } };
    const range = CompactRange.fromStore(size, this.#readNode);
    return {
      ok: true,
      value: {
        frontier: range.frontierHashes().map((h) => (h === undefined ? null : toBase64(h))),
        prevLeaf: size === 0 ? toBase64(new Uint8Array(32)) : toBase64(this.#d.store.node(0, size - 1)),
      },
    };
  }

  /** The seals this log planned (published or not), from id `from`, at most `limit`. */
  seals(from: number, limit: number): SealView[] {
    return this.#d.store
      .seals(from, limit)
      .map((s) => ({ id: s.id, from: s.from, to: s.to, root: toBase64(s.root), manifest: s.manifest, published: s.published }));
  }

  /** The root of the tree at `size` (base64). */
  rootAt(size: number): ProofResult<string> {
    if (size > this.#size) return { ok: false, error: { reason: "size_out_of_range", size, treeSize: this.#size } };
    return { ok: true, value: toBase64(treeHash(size, this.#readNode)) };
  }

  /** One entry by sequence number, from DO storage (which holds every entry not yet in D1 and R2). */
  entry(seq: number): StoredEntryView | null {
    const e = this.#d.store.entry(seq);
    return e ? { seq: e.seq, entry: e.entry, leaf_hash: toBase64(e.leafHash) } : null;
  }
}
