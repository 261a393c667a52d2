/**
 * `sealtrail verify <dir>`: verifies a downloaded chain of snapshots offline, with nothing but
 * src/core: every manifest's signature and link to the previous one (consistency proof and
 * hash chain), every bundle's SHA-256, every entry's chain link, and the recomputed RFC 6962
 * root at every seal against the signed checkpoint.
 *
 * Files per seal (as `sealtrail fetch` writes them): <id>.manifest, <id>.jsonl (the bundle)
 * and optionally <id>.checkpoint, where <id> is the 12-digit seal number.
 *
 * What lies past the last seal is not in any bundle and is not verified. `sealtrail fetch`
 * also saves the log's signed checkpoint as it downloads (head.checkpoint) and a consistency
 * proof from the last seal to it (head.consistency.json): with them the report says how many
 * entries were not covered, signed by the same key and proven to extend the verified tree.
 *
 * Retention (docs/design.md "Retention"): a seal whose bundle was pruned has <id>.leaves (its
 * leaf hashes, from `fetch`) instead. It is accepted only below the floor the log itself records:
 * the newest `sealtrail.retention.pruned` entry found in the folder's bundles, which must then be
 * verified like every other entry; the leaves must hash to the seal's signed root. The report
 * says "pruned [0, to) under entry N (checkpoint size S, root R)". A bundle missing above that
 * floor, or with no such entry, is still a failure.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Worker, parentPort } from "node:worker_threads";
import { fromBase64 } from "../core/bytes";
import { openCheckpoint } from "../core/checkpoint";
import { parseSignatureLines } from "../core/cosignature";
import { verifyConsistency } from "../core/merkle";
import {
  bundleRows,
  checkBundleAgainst,
  checkEntries,
  checkSealManifest,
  closeSeal,
  fail,
  initialAudit,
  precheckBundle,
  prunedRangeOf,
  type AuditState,
  type PrunedRange,
  type PrecheckedRows,
} from "../core/audit";
import type { NoteVerifier } from "../core/note";

export interface DirReport {
  ok: boolean;
  origin: string;
  tenant: string | null;
  seals: number;
  entries: number;
  tree_size: number;
  duration_ms: number;
  /**
   * The log as `sealtrail fetch` saw it (head.checkpoint, signature verified): its size, the
   * entries past the last seal that this run did not cover, and whether a consistency proof
   * showed that tree extends the last verified seal (null: no proof in the folder). Null when
   * the folder has no head.checkpoint: the tail is then unknown.
   */
  head: { size: number; unsealed: number; consistent: boolean | null } | null;
  /** Entries whose bodies retention deleted, as the log's newest `sealtrail.retention.pruned` entry records (null: none). */
  pruned: PrunedRange | null;
  failures: AuditState["failures"];
}

export const HEAD_CHECKPOINT = "head.checkpoint";
export const HEAD_CONSISTENCY = "head.consistency.json";
/** A pruned seal's leaf hashes (one base64 hash a line), saved by `fetch` instead of its bundle. */
export const LEAVES_SUFFIX = ".leaves";

const SEAL_FILE = /^([0-9]{12})\.(manifest|jsonl|checkpoint|leaves)$/;

/**
 * The newest `sealtrail.retention.pruned` entry in the folder's bundles, read from the last seal
 * back until one is found or a bundle is missing (the entry is always above the range it prunes).
 * Unverified here: the run verifies that entry with the rest, and fails if it did not reach it.
 */
function newestPruned(dir: string, ids: readonly string[], tenant: string): PrunedRange | null {
  // Only a folder with pruned seals (their .leaves) needs it: others are not read twice.
  if (!ids.some((id) => existsSync(join(dir, `${id}${LEAVES_SUFFIX}`)))) return null;
  for (let i = ids.length - 1; i >= 0; i--) {
    let bundle: string | undefined;
    try {
      bundle = readIf(join(dir, `${ids[i]}.jsonl`));
    } catch {
      // Unreadable: the run itself reports it where it meets it.
    }
    if (bundle === undefined) return null;
    const lines = bundle.split("\n");
    for (let j = lines.length - 1; j >= 0; j--) {
      if (!lines[j]!.includes("sealtrail.retention.pruned")) continue;
      const range = prunedRangeOf(lines[j]!, tenant);
      if (range) return range;
    }
  }
  return null;
}

export function sealIdsIn(dir: string): string[] {
  const ids = new Set<string>();
  for (const name of readdirSync(dir)) {
    const m = SEAL_FILE.exec(name);
    if (m) ids.add(m[1]!);
  }
  return [...ids].sort();
}

const readIf = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
};

/** The `from` a manifest names, unverified (a hint for prechecking only). */
function fromOf(note: string | undefined): number | undefined {
  try {
    const from = (JSON.parse(note?.slice(0, note.indexOf("\n")) ?? "") as { from?: unknown }).from;
    return typeof from === "number" && Number.isSafeInteger(from) && from >= 0 ? from : undefined;
  } catch {
    return undefined;
  }
}

/** The tenant a manifest names (read before verification only to label the run). */
function tenantOf(note: string | undefined): string {
  try {
    return (JSON.parse(note?.slice(0, note.indexOf("\n")) ?? "") as { tenant?: string }).tenant ?? "";
  } catch {
    return "";
  }
}

/** A bundle read and prechecked off the main thread (see src/core/audit.ts PrecheckedRows). */
export interface PrecheckedBundle {
  text: string;
  sha256: string;
  rows: PrecheckedRows;
}

type Step = "next" | "stop";

/** Verifies seal `id` (the i-th) into `state`, exactly as the sequential verifier always has. */
function verifySeal(
  state: AuditState,
  dir: string,
  id: string,
  i: number,
  origin: string,
  verifiers: readonly NoteVerifier[],
  bundleOf: () => PrecheckedBundle | string | undefined,
  pruned: PrunedRange | null,
): Step {
  const expected = String(i).padStart(12, "0");
  if (id !== expected) {
    fail(state, { kind: "seal_missing", key: `${expected}.manifest` });
    return "stop";
  }
  const manifestKey = `${id}.manifest`;
  const note = readIf(join(dir, manifestKey));
  if (note === undefined) {
    fail(state, { kind: "seal_missing", key: manifestKey });
    return "stop";
  }
  const seal = checkSealManifest(state, manifestKey, note, origin, verifiers);
  if (!seal) return "stop"; // an unverifiable manifest: nothing after it can be trusted
  const bundleKey = `${id}.jsonl`;
  const read = bundleOf();
  const m = seal.manifest;
  const leaves = read === undefined && pruned !== null && m.to <= pruned.to ? readIf(join(dir, `${id}${LEAVES_SUFFIX}`)) : undefined;
  if (read === undefined && leaves === undefined) {
    fail(state, { kind: "seal_missing", key: bundleKey });
    return "stop";
  }
  if (leaves !== undefined) {
    // Pruned by retention: the seal's leaf hashes stand in for its entries (their root is checked by closeSeal).
    const hashes = leaves.split("\n").filter((l) => l.length > 0);
    if (hashes.length !== m.to - m.from) {
      fail(state, {
        kind: "seal_invalid",
        key: `${id}${LEAVES_SUFFIX}`,
        detail: "leaf count",
        expected: m.to - m.from,
        found: hashes.length,
      });
      return "stop";
    }
    checkEntries(state, [], m.to - m.from, hashes, undefined, pruned!.to);
  } else {
    const bundle = typeof read === "string" ? read : read!.text;
    const pre = typeof read === "string" ? undefined : read;
    checkBundleAgainst(state, bundleKey, bundle, m, new Map(), pre?.sha256);
    checkEntries(state, bundleRows(bundle, m.from), m.to - m.from, undefined, pre?.rows);
  }
  closeSeal(state, Number(id), manifestKey, note, seal);
  const checkpoint = readIf(join(dir, `${id}.checkpoint`));
  // The served checkpoint may carry witnesses' cosignature lines after the log's (docs/design.md
  // "Witnessing"): the rest must be the manifest's checkpoint, byte for byte.
  const extra = checkpoint?.startsWith(m.checkpoint) ? checkpoint.slice(m.checkpoint.length) : undefined;
  if (checkpoint !== undefined && checkpoint !== m.checkpoint && !(extra && parseSignatureLines(extra).ok)) {
    fail(state, { kind: "seal_invalid", key: `${id}.checkpoint`, detail: "checkpoint file differs from the manifest's" });
  }
  return "next";
}

/**
 * The log's head as fetched, after the seals were verified: a checkpoint signed by the same
 * keys, no smaller than the last seal, and (given a proof) consistent with it (RFC 9162
 * §2.1.4.2). A head that fails any of these is a failure of the run.
 */
function checkHead(state: AuditState, dir: string, origin: string, verifiers: readonly NoteVerifier[]): DirReport["head"] {
  const note = readIf(join(dir, HEAD_CHECKPOINT));
  if (note === undefined) return null;
  const cp = openCheckpoint(note, origin, verifiers);
  if (!cp.ok) {
    fail(state, { kind: "seal_invalid", key: HEAD_CHECKPOINT, detail: cp.error.reason });
    return null;
  }
  const size = cp.value.size;
  const sealed = state.prevSeal?.to ?? 0;
  if (size < sealed) {
    fail(state, {
      kind: "seal_invalid",
      key: HEAD_CHECKPOINT,
      detail: "the log's head is smaller than its last seal",
      expected: sealed,
      found: size,
    });
    return { size, unsealed: 0, consistent: false };
  }
  const head = { size, unsealed: size - sealed, consistent: null as boolean | null };
  // After a failure the verified chain may end early: no proof against it would mean much.
  if (state.prevSeal === null || state.failures.length > 0) return head;
  const prevRoot = fromBase64(state.prevSeal.root)!;
  if (size === sealed) {
    // The same tree: the roots must be the same bytes (no proof needed, none fetched).
    head.consistent = verifyConsistency(sealed, size, [], prevRoot, cp.value.root).ok;
    if (!head.consistent)
      fail(state, { kind: "seal_invalid", key: HEAD_CHECKPOINT, detail: "the log's head has the last seal's size but another root" });
    return head;
  }
  const proofText = readIf(join(dir, HEAD_CONSISTENCY));
  if (proofText === undefined) return head;
  let proof: { from?: unknown; to?: unknown; hashes?: unknown } = {};
  try {
    proof = JSON.parse(proofText) as typeof proof;
  } catch {
    // Checked below as a malformed proof.
  }
  const hashes = Array.isArray(proof.hashes) ? proof.hashes.map((h) => (typeof h === "string" ? fromBase64(h) : undefined)) : [];
  const checked =
    proof.from !== sealed || proof.to !== size || hashes.some((h) => h === undefined)
      ? ({ ok: false, error: { reason: "malformed_proof" } } as const)
      : verifyConsistency(sealed, size, hashes as Uint8Array[], prevRoot, cp.value.root);
  head.consistent = checked.ok;
  if (!checked.ok) {
    fail(state, {
      kind: "seal_invalid",
      key: HEAD_CONSISTENCY,
      detail: `no proof that the log's head extends the last seal: ${checked.error.reason}`,
      expected: sealed,
      found: size,
    });
  }
  return head;
}

function report(
  state: AuditState,
  dir: string,
  origin: string,
  verifiers: readonly NoteVerifier[],
  ids: string[],
  started: number,
  pruned: PrunedRange | null,
): DirReport {
  if (ids.length === 0) fail(state, { kind: "seal_missing", key: "000000000000.manifest" });
  // The entry that says what was pruned must itself be in the verified chain.
  if (pruned && state.failures.length === 0 && state.next <= pruned.under) {
    fail(state, { kind: "entry_missing", seq: pruned.under });
  }
  const head = checkHead(state, dir, origin, verifiers);
  return {
    ok: state.failures.length === 0,
    origin,
    tenant: state.tenant || null,
    seals: state.checked.seals,
    entries: state.checked.entries,
    tree_size: state.next,
    duration_ms: Date.now() - started,
    head,
    pruned,
    failures: state.failures,
  };
}

/** A run over a folder: its seals in order, the key's origin, and a fresh state labelled with the first manifest's tenant. */
function startRun(dir: string, verifiers: readonly NoteVerifier[]) {
  const started = Date.now();
  const origin = verifiers[0]?.name ?? "";
  const ids = sealIdsIn(dir);
  const state = initialAudit(tenantOf(readIf(join(dir, `${ids[0] ?? ""}.manifest`))));
  return { started, origin, ids, state, pruned: newestPruned(dir, ids, state.tenant) };
}

/** Verifies a folder on this thread, one seal after another. */
export function verifyDir(
  dir: string,
  verifiers: readonly NoteVerifier[],
  onProgress?: (done: number, total: number, entries: number) => void,
): DirReport {
  const { started, origin, ids, state, pruned } = startRun(dir, verifiers);
  for (const [i, id] of ids.entries()) {
    if (verifySeal(state, dir, id, i, origin, verifiers, () => readIf(join(dir, `${id}.jsonl`)), pruned) === "stop") break;
    onProgress?.(i + 1, ids.length, state.checked.entries);
  }
  return report(state, dir, origin, verifiers, ids, started, pruned);
}

/**
 * Verifies a folder with `jobs` worker threads reading and prechecking bundles (leaf hashes,
 * SHA-256, entry fields) ahead of the main thread, which does everything else in order:
 * signatures, links, the tree, every decision. The report is the one verifyDir gives
 * (test/cli/verify-dir.test.ts compares them). `workerUrl` is a module that calls
 * runPrecheckWorker() when started as a worker (the CLI bundle itself).
 */
export async function verifyDirParallel(
  dir: string,
  verifiers: readonly NoteVerifier[],
  jobs: number,
  workerUrl: URL,
  onProgress?: (done: number, total: number, entries: number) => void,
): Promise<DirReport> {
  const { started, origin, ids, state, pruned } = startRun(dir, verifiers);
  const workers = Array.from(
    { length: Math.max(1, Math.min(jobs, ids.length)) },
    () => new Worker(workerUrl, { workerData: { role: PRECHECK_ROLE } }),
  );
  const results = new Map<string, Promise<PrecheckedBundle | undefined>>();
  const waiting = new Map<string, { resolve: (r: PrecheckedBundle | undefined) => void; reject: (e: Error) => void }>();
  // A worker that fails (an unreadable bundle, say) or exits early fails the run as an I/O
  // error: every bundle still waiting is rejected, never left pending or taken as checked.
  let failed: Error | undefined;
  const fail = (e: Error) => {
    failed ??= e;
    for (const w of waiting.values()) w.reject(failed);
    waiting.clear();
  };
  for (const w of workers) {
    w.on("message", (m: { id: string; result?: PrecheckedBundle; error?: string }) => {
      // A bundle the worker could not read rejects only its own promise, awaited in order:
      // a failure found earlier in the chain is still reported first, as with one thread.
      if (m.error !== undefined) waiting.get(m.id)?.reject(new Error(m.error));
      else waiting.get(m.id)?.resolve(m.result);
      waiting.delete(m.id);
    });
    w.on("error", (e: Error) => fail(e));
    w.on("exit", (code) => fail(new Error(`a verification worker exited (code ${code})`)));
  }
  let next = 0;
  // At most two bundles per worker in flight or waiting: memory stays bounded.
  const dispatch = () => {
    while (next < ids.length && next < state.checked.seals + 2 * workers.length) {
      const id = ids[next]!;
      const worker = workers[next % workers.length]!;
      const result: Promise<PrecheckedBundle | undefined> = failed
        ? Promise.reject(failed)
        : new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
      // Awaited in order below; one dispatched ahead of a stop is never awaited.
      result.catch(() => {});
      results.set(id, result);
      worker.postMessage({ id, dir, tenant: state.tenant });
      next++;
    }
  };
  try {
    for (const [i, id] of ids.entries()) {
      dispatch();
      const pre = await results.get(id);
      results.delete(id);
      if (verifySeal(state, dir, id, i, origin, verifiers, () => pre, pruned) === "stop") break;
      onProgress?.(i + 1, ids.length, state.checked.entries);
    }
  } finally {
    // Terminating is not a failure: nothing waits any more.
    waiting.clear();
    for (const w of workers) w.removeAllListeners("exit");
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return report(state, dir, origin, verifiers, ids, started, pruned);
}

export const PRECHECK_ROLE = "sealtrail-precheck";

/** The worker side of verifyDirParallel: reads a bundle and prechecks it, transferring the results. */
export function runPrecheckWorker(): void {
  parentPort!.on("message", ({ id, dir, tenant }: { id: string; dir: string; tenant: string }) => {
    try {
      precheckOne(id, dir, tenant);
    } catch (e) {
      parentPort!.postMessage({ id, error: (e as Error).message });
    }
  });
}

function precheckOne(id: string, dir: string, tenant: string): void {
  const text = readIf(join(dir, `${id}.jsonl`));
  if (text === undefined) {
    parentPort!.postMessage({ id, result: undefined });
    return;
  }
  // Where the bundle should start, from its manifest, unverified: the tree uses the
  // subtrees only if the verified chain is at exactly that seq (checkEntries checks).
  const { sha256, rows } = precheckBundle(text, tenant, fromOf(readIf(join(dir, `${id}.manifest`))));
  const result: PrecheckedBundle = { text, sha256, rows };
  // The leaves' buffer is transferred; subtree hashes are small copies (structured clone).
  parentPort!.postMessage({ id, result }, [
    rows.leaves.buffer as ArrayBuffer,
    rows.seqs.buffer as ArrayBuffer,
    rows.linked.buffer as ArrayBuffer,
  ]);
}
