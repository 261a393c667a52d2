/**
 * One verification run against every store of a tenant's log (docs/design.md invariant 9), in
 * resumable steps. Sources compared: D1 rows (bytes and leaf_hash column), the TenantLog's
 * own tree leaves, head and seal records, R2 manifests, checkpoints and bundles, and the KV
 * index. The run's position is a JSON `Run` so it can be stored between steps.
 */
import { toBase64 } from "../core/bytes";
import {
  checkBundleAgainst,
  checkEntries,
  checkSealManifest,
  closeSeal,
  currentRoot,
  prunedRangeOf,
  type PrunedRange,
  fail,
  initialAudit,
  type AuditState,
  type VerificationFailure,
} from "../core/audit";
import { parseCheckpoint } from "../core/checkpoint";
import { checkQuorum, parseCosignerKey } from "../core/cosignature";
import { equalBytes, fromBase64 } from "../core/bytes";
import { entryLeafHash } from "../core/entry";
import { leafHash } from "../core/hash";
import { completeSubtreeHash, decodeEntryBundle, decodeTile, TILE_WIDTH } from "../core/tiles";
import { parseVerifierKey, type NoteVerifier } from "../core/note";
import { sealId, sealKeys, sealPrefix } from "../core/seal";
import { entriesAt, entriesIn, newestOfAction, seqsFrom } from "./audit-events";
import { publishedKeys } from "./checkpoint-keys";
import { kvLatestKey } from "./seal-objects";
import { tileKey } from "./tiles";
import type { TenantLog } from "./tenant-log";

/** Unsealed entries checked per step. */
export const TAIL_CHUNK = 5_000;
/** Older entries re-checked at random by an incremental run. */
export const INCREMENTAL_SAMPLE_SIZE = 256;

/**
 * What a run covers. `full`: the whole log (as far as D1 holds it). `incremental`: what was
 * sealed since the last good full or incremental run, the tail, and a sample of older entries.
 * `range`: the entries [from, to) a caller asked for, and nothing else — never the tenant's
 * verification status (issue #13).
 */
export type Mode = "full" | "incremental" | "range";

export interface Run {
  jobId: string;
  tenant: string;
  mode: Mode;
  /** Entries [from, to) are in scope; `to` is fixed when the run starts. */
  from: number;
  to: number;
  phase: "sample" | "seals" | "tail" | "tiles" | "final" | "done";
  /** Full runs: the next 256-entry chunk whose tiles in R2 are checked, and the chunk roots of the level-1 tile it is in. */
  nextTile?: number;
  chunkRoots?: string[];
  nextSeal: number;
  /** The last seal id in scope (-1 if none). */
  lastSeal: number;
  /** Sequence numbers an incremental run re-checks at random. */
  sample: number[];
  state: AuditState;
  /** The state right after the last seal in scope: where an incremental run resumes. */
  sealedState: AuditState | null;
  sampled: number;
  startedAt: number;
  /** Entries whose bodies retention deleted, as the log's newest `sealtrail.retention.pruned` entry says (null: none). */
  pruned?: PrunedRange | null;
}

export interface Sources {
  db: D1Database;
  bucket: R2Bucket;
  kv: KVNamespace;
  log: DurableObjectStub<TenantLog>;
  env: Pick<Env, "SEALTRAIL_SIGNING_SECRET" | "SEALTRAIL_ORIGIN" | "SEALTRAIL_KEY_VERSION">;
}

export interface Report {
  job_id: string;
  tenant: string;
  mode: Mode;
  ok: boolean;
  range: { from: number; to: number };
  checked: AuditState["checked"] & { sampled: number };
  started_at: string;
  finished_at: string;
  duration_ms: number;
  failures: VerificationFailure[];
  /** Bodies deleted by retention below this range's `to`, reported, not failed (docs/design.md "Retention"). */
  pruned: PrunedRange | null;
}

function verifiersOf(env: Sources["env"], tenant: string): { origin: string; verifiers: NoteVerifier[] } {
  const keys = publishedKeys(env, tenant);
  return {
    origin: keys[0]!.origin,
    verifiers: keys.map((k) => {
      const v = parseVerifierKey(k.verifier_key);
      if (!v.ok) throw new Error(`own verifier key does not parse: ${v.error.reason}`);
      return v.value;
    }),
  };
}

/**
 * The pruned range, from the log itself: the newest `sealtrail.retention.pruned` entry below
 * `to` in D1, taken only if its bytes are the log's entry (its leaf) and the checkpoint it
 * names is the log's tree at that size. Anything else: no pruned range, so missing bodies fail.
 */
async function prunedRange(src: Sources, tenant: string, to: number): Promise<PrunedRange | null> {
  const row = await newestOfAction(src.db, tenant, "sealtrail.retention.pruned", to);
  const range = row && prunedRangeOf(row.entry, tenant);
  if (!row || !range || range.under !== row.seq) return null;
  const [leaf] = await src.log.leavesAt(tenant, [row.seq]);
  if (leaf !== toBase64(entryLeafHash(row.entry))) return null;
  const root = await src.log.rootAt(tenant, range.to);
  return root.ok && root.value === range.checkpoint.root ? range : null;
}

async function d1Rows(db: D1Database, tenant: string, from: number, to: number) {
  return (await entriesIn(db, tenant, from, to)).map((r) => ({ seq: r.seq, entry: r.entry, leafColumn: r.leaf_hash }));
}

/**
 * Plans a run. Only a range run takes `from` and `to`; its `from` is moved back to the start of
 * the seal that holds it, so every seal in scope is checked whole. Incremental runs resume from
 * `resumeFrom` (the state after the last good full or incremental run's seals) and re-check
 * `sample` older entries.
 */
export async function startRun(
  src: Sources,
  args: {
    jobId: string;
    tenant: string;
    mode: Mode;
    from?: number;
    to?: number;
    resumeFrom: AuditState | null;
    random: () => number;
    nowMs: number;
  },
): Promise<Run> {
  // D1 may lag the log by design (the mirror is bounded per pass): let it catch up first, then
  // check only what D1 must hold. Entries still waiting for D1 are counted, not failed.
  for (let i = 0; i < 1_000 && !(await src.log.drainMirror()); i++) {
    if ((await src.log.stats()).mirror_failures > 0) break;
  }
  const stats = await src.log.stats();
  const bounds: { from?: number; to?: number } = args.mode === "range" ? { from: args.from, to: args.to } : {};
  const to = Math.min(bounds.to ?? stats.size, stats.mirrored_to);
  const seals = await src.log.seals(args.tenant, 0, 1_000_000);
  const published = seals.filter((s) => s.published && s.to <= to);
  const lastSeal = published.length > 0 ? published[published.length - 1]!.id : -1;
  let state = initialAudit(args.tenant);
  let nextSeal = 0;
  let sample: number[] = [];
  if (args.mode === "incremental" && args.resumeFrom && args.resumeFrom.next <= to) {
    state = { ...structuredClone(args.resumeFrom), failures: [], checked: { entries: 0, seals: 0, bundle_entries: 0 } };
    nextSeal = (state.prevSeal?.id ?? -1) + 1;
    const pool = state.next;
    const picked = new Set<number>();
    while (pool > 0 && picked.size < Math.min(INCREMENTAL_SAMPLE_SIZE, pool)) picked.add(Math.floor(args.random() * pool));
    sample = [...picked].sort((a, b) => a - b);
  } else if ((bounds.from ?? 0) > 0) {
    // Start at the seal holding `from`, from the log's own tree at that point.
    const start = seals.filter((s) => s.published && s.to <= (bounds.from ?? 0)).pop();
    if (start) {
      const tree = await src.log.treeStateAt(args.tenant, start.to);
      if (tree.ok) {
        state = {
          ...state,
          next: start.to,
          prevLeaf: tree.value.prevLeaf,
          frontier: tree.value.frontier,
          prevSeal: { id: start.id, note: start.manifest, to: start.to, root: start.root },
        };
        nextSeal = start.id + 1;
      }
    }
  }
  return {
    jobId: args.jobId,
    tenant: args.tenant,
    mode: args.mode,
    pruned: await prunedRange(src, args.tenant, to),
    from: state.next,
    to,
    phase: sample.length > 0 ? "sample" : "seals",
    nextSeal,
    lastSeal,
    sample,
    state,
    sealedState: null,
    sampled: 0,
    startedAt: args.nowMs,
  };
}

/** Does one step of the run (a seal, a chunk of entries, or the final checks). */
export async function step(src: Sources, run: Run): Promise<void> {
  const { tenant, state } = run;
  switch (run.phase) {
    case "sample": {
      // Older entries, already verified once: bytes must still hash to the log's leaf and column.
      const seqs = run.sample;
      const leaves = await src.log.leavesAt(tenant, seqs);
      const bySeq = await entriesAt(src.db, tenant, seqs);
      for (const [i, seq] of seqs.entries()) {
        const row = bySeq.get(seq);
        const logLeaf = leaves[i];
        if (!row) {
          if (seq >= (run.pruned?.to ?? 0)) fail(state, { kind: "entry_missing", seq });
          continue;
        }
        const leaf = toBase64(entryLeafHash(row.entry));
        if (row.leaf_hash !== leaf) fail(state, { kind: "leaf_hash_mismatch", seq, expected: leaf, found: row.leaf_hash });
        if (logLeaf && logLeaf !== leaf) fail(state, { kind: "entry_changed", seq, expected: logLeaf, found: leaf });
        run.sampled += 1;
      }
      run.phase = "seals";
      return;
    }
    case "seals": {
      if (run.nextSeal > run.lastSeal) {
        run.sealedState = structuredClone(state);
        run.phase = "tail";
        return;
      }
      const id = run.nextSeal;
      const record = (await src.log.seals(tenant, id, 1))[0];
      const keys = sealKeys(tenant, id);
      if (!record) {
        fail(state, { kind: "seal_missing", key: keys.manifest });
        run.nextSeal = run.lastSeal + 1;
        return;
      }
      const { origin, verifiers } = verifiersOf(src.env, tenant);
      const note = await (await src.bucket.get(keys.manifest))?.text();
      let opened: ReturnType<typeof checkSealManifest>;
      if (note === undefined) {
        fail(state, { kind: "seal_missing", key: keys.manifest });
      } else {
        if (note !== record.manifest) {
          fail(state, { kind: "seal_invalid", key: keys.manifest, detail: "R2 manifest differs from the log's record" });
        }
        opened = checkSealManifest(state, keys.manifest, note, origin, verifiers);
      }
      // The log's own copy of the manifest keeps the chain checkable past a bad R2 object.
      opened ??= checkSealManifest({ ...state, failures: [] }, keys.manifest, record.manifest, origin, verifiers);
      const rows = await d1Rows(src.db, tenant, record.from, record.to);
      const leaves = await src.log.leaves(tenant, record.from, record.to - record.from);
      if (state.next !== record.from)
        fail(state, {
          kind: "seal_invalid",
          key: keys.manifest,
          detail: "range does not continue the previous seal",
          expected: state.next,
          found: record.from,
        });
      const prunedTo = run.pruned?.to ?? 0;
      checkEntries(state, rows, record.to - record.from, leaves, undefined, prunedTo);
      const bundle = await (await src.bucket.get(keys.bundle))?.text();
      // Below the pruned range's end a missing bundle is retention's doing (a held entry keeps it whole).
      if (bundle === undefined) {
        if (record.to > prunedTo) fail(state, { kind: "seal_missing", key: keys.bundle });
      } else if (opened) checkBundleAgainst(state, keys.bundle, bundle, opened.manifest, new Map(rows.map((r) => [r.seq, r.entry])));
      const checkpoint = await (await src.bucket.get(keys.checkpoint))?.text();
      if (checkpoint === undefined) fail(state, { kind: "seal_missing", key: keys.checkpoint });
      else if (opened && checkpoint !== opened.manifest.checkpoint) {
        fail(state, { kind: "seal_invalid", key: keys.checkpoint, detail: "checkpoint object differs from the manifest's" });
      }
      if (opened) closeSeal(state, id, keys.manifest, note ?? record.manifest, opened);
      else state.prevSeal = { id, note: record.manifest, to: record.to, root: record.root };
      run.nextSeal += 1;
      return;
    }
    case "tail": {
      if (state.next >= run.to) {
        run.phase = run.mode === "full" ? "tiles" : "final";
        return;
      }
      const end = Math.min(run.to, state.next + TAIL_CHUNK);
      const rows = await d1Rows(src.db, tenant, state.next, end);
      const leaves = await src.log.leaves(tenant, state.next, end - state.next);
      checkEntries(state, rows, end - state.next, leaves, undefined, run.pruned?.to ?? 0);
      return;
    }
    case "tiles": {
      await checkTiles(src, run);
      return;
    }
    case "final": {
      const stats = await src.log.stats();
      // Rows in D1 the log never made (a forged tail).
      for (const seq of await seqsFrom(src.db, tenant, stats.size, 10)) {
        fail(state, { kind: "entry_unexpected", seq, detail: "D1 holds an entry beyond the log's head" });
      }
      // The log's head equals what the stores recompute to (only when the whole log is in scope).
      if (run.to === stats.size) {
        if (state.prevLeaf !== stats.head_leaf_hash) {
          fail(state, { kind: "head_mismatch", seq: stats.size, expected: stats.head_leaf_hash, found: state.prevLeaf });
        }
        const root = await src.log.rootAt(tenant, stats.size);
        const recomputed = currentRoot(state);
        if (root.ok && recomputed !== undefined && root.value !== recomputed) {
          fail(state, { kind: "head_mismatch", seq: stats.size, expected: root.value, found: recomputed });
        }
      }
      await checkWitnesses(state, src, tenant);
      // R2 must not hold seals beyond the log's, and the KV index must point at the newest.
      const all = await src.log.seals(tenant, 0, 1_000_000);
      const known = all.filter((s) => s.published);
      const newest = known[known.length - 1];
      // A planned seal may be half written; only objects past every seal the log planned are foreign.
      const planned = all[all.length - 1];
      const beyond = await src.bucket.list({ prefix: `${sealPrefix(tenant)}${sealId(planned ? planned.id + 1 : 0)}/`, limit: 1 });
      if (beyond.objects.length > 0)
        fail(state, { kind: "seal_invalid", key: beyond.objects[0]!.key, detail: "R2 holds a seal the log never made" });
      if (newest) {
        const latest = await src.kv.get(kvLatestKey(tenant));
        const pointed = latest ? (JSON.parse(latest) as { id?: string; manifest_key?: string }) : {};
        const want = sealKeys(tenant, newest.id).manifest;
        if (pointed.id !== sealId(newest.id) || pointed.manifest_key !== want) {
          fail(state, { kind: "index_mismatch", key: kvLatestKey(tenant), expected: want, found: pointed.manifest_key ?? "(none)" });
        }
      }
      run.phase = "done";
      return;
    }
    case "done":
      return;
  }
}

/**
 * Witnessing (docs/design.md "Witnessing"): with a quorum k > 0, the newest checkpoint the log
 * submitted to its witnesses must carry k valid cosignatures by the tenant's witnesses (and no
 * failing one), and be the log's own tree at its size.
 */
async function checkWitnesses(state: AuditState, src: Sources, tenant: string): Promise<void> {
  const w = await src.log.witnessStatus(tenant);
  if (w.quorum === 0) return;
  const keys = w.keys.flatMap((k) => {
    const key = parseCosignerKey(k);
    return key.ok ? [key.value] : [];
  });
  if (!w.newest) {
    const detail = "no checkpoint was submitted to the witnesses yet";
    fail(state, { kind: "witness_quorum", key: "checkpoint", detail, expected: w.quorum, found: 0 });
    return;
  }
  const key = `checkpoint ${w.newest.size}`;
  const q = checkQuorum(w.newest.note, keys, w.quorum);
  if (!q.ok) {
    const e = q.error;
    const found = e.reason === "quorum_not_met" ? e.got : 0;
    const detail =
      e.reason === "quorum_not_met"
        ? `${e.got} of ${e.need} required witness cosignatures${e.invalid.length > 0 ? `; invalid: ${e.invalid.join(", ")}` : ""}`
        : e.reason;
    fail(state, { kind: "witness_quorum", key, detail, expected: w.quorum, found });
  }
  const text = w.newest.note.slice(0, w.newest.note.indexOf("\n\n") + 1);
  const cp = parseCheckpoint(text);
  const root = await src.log.rootAt(tenant, w.newest.size);
  if (cp.ok && root.ok && toBase64(cp.value.root) !== root.value) {
    fail(state, { kind: "head_mismatch", seq: w.newest.size, expected: root.value, found: toBase64(cp.value.root) });
  }
}

/** Chunks of 256 entries whose R2 tiles one step checks. */
const TILE_CHUNKS_PER_STEP = 16;

/**
 * Full runs: the full tiles in R2 (docs/design.md "Tiles") are the log's. For each chunk below the
 * writer's watermark: the entry bundle's entries hash to the log's leaves, the level-0 tile is
 * those leaves, and each level-1 tile holds the chunks' roots. (Higher levels are hashes of
 * these; a tile client checks them against the signed root.)
 */
async function checkTiles(src: Sources, run: Run): Promise<void> {
  const { tenant, state } = run;
  const upTo = Math.min((await src.log.stats()).tiles_to, Math.floor(run.to / TILE_WIDTH) * TILE_WIDTH) / TILE_WIDTH;
  let k = run.nextTile ?? 0;
  const roots = run.chunkRoots ?? [];
  for (let n = 0; n < TILE_CHUNKS_PER_STEP && k < upTo; n++, k++) {
    const leaves = (await src.log.leaves(tenant, k * TILE_WIDTH, TILE_WIDTH)).map((l) => fromBase64(l)!);
    const bundleKey = tileKey(tenant, { level: "entries", index: k, width: TILE_WIDTH });
    const bundle = await src.bucket.get(bundleKey);
    const entries = bundle ? decodeEntryBundle(new Uint8Array(await bundle.arrayBuffer())) : undefined;
    if (!bundle && k * TILE_WIDTH < (run.pruned?.to ?? 0)) {
      // An entry tile reaching below the pruned range's end: deleted, or never written, by retention (hash tiles stay).
    } else if (!entries?.ok || entries.value.length !== TILE_WIDTH) {
      fail(state, { kind: "tile_mismatch", key: bundleKey, detail: bundle ? "not a bundle of 256 entries" : "missing" });
    } else {
      const bad = entries.value.findIndex((e, i) => !equalBytes(leafHash(e), leaves[i]!));
      if (bad >= 0) fail(state, { kind: "tile_mismatch", key: bundleKey, detail: `entry ${k * TILE_WIDTH + bad} is not the log's` });
    }
    const tileKey0 = tileKey(tenant, { level: 0, index: k, width: TILE_WIDTH });
    const tile = await src.bucket.get(tileKey0);
    const hashes = tile ? decodeTile(new Uint8Array(await tile.arrayBuffer()), TILE_WIDTH) : undefined;
    if (!hashes?.ok || hashes.value.some((h, i) => !equalBytes(h, leaves[i]!))) {
      fail(state, { kind: "tile_mismatch", key: tileKey0, detail: tile ? "its hashes are not the log's leaves" : "missing" });
    }
    roots.push(toBase64(completeSubtreeHash(leaves)));
    if (roots.length === TILE_WIDTH) {
      const key1 = tileKey(tenant, { level: 1, index: (k + 1) / TILE_WIDTH - 1, width: TILE_WIDTH });
      const up = await src.bucket.get(key1);
      const upHashes = up ? decodeTile(new Uint8Array(await up.arrayBuffer()), TILE_WIDTH) : undefined;
      if (!upHashes?.ok || upHashes.value.some((h, i) => toBase64(h) !== roots[i])) {
        fail(state, { kind: "tile_mismatch", key: key1, detail: up ? "its hashes are not the roots of the tiles below" : "missing" });
      }
      roots.length = 0;
    }
  }
  run.nextTile = k;
  run.chunkRoots = roots;
  if (k >= upTo) run.phase = "final";
}

export function reportOf(run: Run, nowMs: number): Report {
  return {
    job_id: run.jobId,
    tenant: run.tenant,
    mode: run.mode,
    ok: run.state.failures.length === 0,
    range: { from: run.from, to: run.to },
    checked: { ...run.state.checked, sampled: run.sampled },
    started_at: new Date(run.startedAt).toISOString(),
    finished_at: new Date(nowMs).toISOString(),
    duration_ms: nowMs - run.startedAt,
    failures: run.state.failures,
    pruned: run.pruned ?? null,
  };
}
