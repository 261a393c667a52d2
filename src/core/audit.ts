/**
 * Verification of a whole log, as data (docs/design.md invariant 9): every entry re-hashed and
 * chained, the RFC 6962 root recomputed at every sealed size and compared with the signed
 * checkpoint, every seal's manifest, checkpoint, bundle and consistency proof checked.
 *
 * The state is plain JSON so a long verification can stop after any chunk and resume later
 * (in a Durable Object's storage, or not at all in the CLI). Failures name the first sequence
 * number or object key that differs, with what was expected and what was found.
 */
import { fromBase64, toBase64 } from "./bytes";
import type { Checkpoint } from "./checkpoint";
import { GENESIS_PREV, entryLeafHash } from "./entry";
import { HASH_SIZE } from "./hash";
import { openManifest, sha256Base64, verifySealLink, type Manifest, type ManifestError } from "./manifest";
import { alignedSubtrees, CompactRange } from "./merkle";
import type { NoteVerifier } from "./note";

export type VerificationFailure =
  | { kind: "entry_missing"; seq: number }
  | { kind: "entry_unexpected"; seq: number; detail: string }
  | { kind: "entry_malformed"; seq: number; detail: string }
  | { kind: "entry_seq_mismatch"; seq: number; expected: number; found: string }
  | { kind: "entry_tenant_mismatch"; seq: number; expected: string; found: string }
  | { kind: "leaf_hash_mismatch"; seq: number; expected: string; found: string }
  | { kind: "entry_changed"; seq: number; expected: string; found: string }
  | { kind: "chain_broken"; seq: number; expected: string; found: string }
  | { kind: "root_mismatch"; seq: number; key: string; expected: string; found: string }
  | { kind: "seal_invalid"; key: string; detail: string; expected?: string | number | null; found?: string | number | null }
  | { kind: "seal_missing"; key: string }
  | { kind: "bundle_mismatch"; key: string; seq: number | null; detail: string; expected?: string; found?: string }
  | { kind: "index_mismatch"; key: string; expected: string; found: string }
  | { kind: "head_mismatch"; seq: number; expected: string; found: string }
  /** The newest checkpoint the log submitted lacks its witness quorum (docs/design.md "Witnessing"). */
  | { kind: "witness_quorum"; key: string; detail: string; expected: number; found: number }
  /** A c2sp.org/tlog-tiles object in R2 that is not the log's tile (src/durable/verification.ts "tiles"). */
  | { kind: "tile_mismatch"; key: string; detail: string };

/** Where a verification run is; JSON-serializable so it can be stored between chunks. */
export interface AuditState {
  tenant: string;
  /** The next sequence number expected. */
  next: number;
  /** Leaf hash of entry next-1 (base64), the `prev` the next entry must carry. */
  prevLeaf: string;
  /** Compact range over every leaf so far: frontier hashes by level (base64 or null). */
  frontier: (string | null)[];
  /** The last verified seal, for chaining the next one. */
  prevSeal: { id: number; note: string; to: number; root: string } | null;
  /** Once a row is missing and no other source has its leaf, roots cannot be recomputed. */
  treeBroken: boolean;
  checked: { entries: number; seals: number; bundle_entries: number; pruned?: number };
  failures: VerificationFailure[];
}

/**
 * Entries below a retention floor whose bodies were deleted on purpose (docs/design.md
 * "Retention"): learned from the newest `sealtrail.retention.pruned` entry in the log itself
 * (an entry above the floor, checked like every other), never from the server's word alone.
 */
export interface PrunedRange {
  from: number;
  to: number;
  /** The seq of the `sealtrail.retention.pruned` entry that recorded it. */
  under: number;
  /** The checkpoint the range is pruned under: size (= to) and root (base64). */
  checkpoint: { size: number; root: string };
}

/**
 * The pruned range an entry records, if it is a `sealtrail.retention.pruned` entry of `tenant` (any, if undefined)
 * with a well-formed range (`from` ≤ `to` ≤ its own seq) and checkpoint.
 */
export function prunedRangeOf(entry: string, tenant: string | undefined): PrunedRange | undefined {
  let e: { seq?: unknown; tenant?: unknown; event?: { action?: unknown; metadata?: Record<string, unknown> } };
  try {
    e = JSON.parse(entry) as typeof e;
  } catch {
    return undefined;
  }
  const m = e.event?.metadata;
  const cp = m?.checkpoint as { size?: unknown; root?: unknown } | undefined;
  const int = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  if ((tenant !== undefined && e.tenant !== tenant) || e.event?.action !== "sealtrail.retention.pruned" || !int(e.seq) || !m)
    return undefined;
  if (!int(m.from) || !int(m.to) || m.from > m.to || m.to > e.seq || !cp || cp.size !== m.to || typeof cp.root !== "string")
    return undefined;
  return { from: 0, to: m.to, under: e.seq, checkpoint: { size: m.to, root: cp.root } };
}

/** "pruned [0, to) under entry N (checkpoint size S, root R)": how every verifier reports a pruned range. */
export const describePruned = (p: PrunedRange): string =>
  `pruned [${p.from}, ${p.to}) under entry ${p.under} (checkpoint size ${p.checkpoint.size}, root ${p.checkpoint.root})`;

/** At most this many failures are kept in a report; the first ones matter most. */
export const MAX_REPORTED_FAILURES = 100;

export function initialAudit(tenant: string): AuditState {
  return {
    tenant,
    next: 0,
    prevLeaf: toBase64(GENESIS_PREV),
    frontier: [],
    prevSeal: null,
    treeBroken: false,
    checked: { entries: 0, seals: 0, bundle_entries: 0 },
    failures: [],
  };
}

export function fail(state: AuditState, f: VerificationFailure): void {
  if (state.failures.length < MAX_REPORTED_FAILURES) state.failures.push(f);
}

function rangeOf(state: AuditState): CompactRange {
  return new CompactRange(
    state.next,
    state.frontier.map((h) => (h === null ? undefined : fromBase64(h))),
  );
}

function saveRange(state: AuditState, range: CompactRange): void {
  state.frontier = range.frontierHashes().map((h) => (h === undefined ? null : toBase64(h)));
}

/** One entry row as a store holds it. */
export interface EntryRow {
  seq: number;
  entry: string;
  /** The leaf hash stored beside the bytes (D1's `leaf_hash` column), if any. */
  leafColumn?: string;
}

/**
 * Checks entries [state.next, state.next + count) given the rows found (in seq order, possibly
 * with gaps or extra rows). Each entry must parse, carry its seq and tenant, re-hash to its
 * stored leaf hash and to the log's own leaf (`logLeaves[i]` for seq state.next + i, from the
 * Durable Object's tree, when the caller has it), and link to the previous entry's leaf.
 */
export function checkEntries(
  state: AuditState,
  rows: readonly EntryRow[],
  count: number,
  logLeaves?: readonly (string | undefined)[],
  prechecked?: PrecheckedRows,
  /** Entries below this were pruned (PrunedRange.to): a missing row whose leaf is known is not a failure. */
  prunedBelow = 0,
): void {
  const range = rangeOf(state);
  const start = state.next;
  const end = start + count;
  for (const r of rows) {
    if (r.seq < state.next || r.seq >= end)
      fail(state, { kind: "entry_unexpected", seq: r.seq, detail: "row outside the range being checked" });
  }
  // Precomputed results apply only to rows as bundleRows makes them: row i holds seq start + i.
  const pre =
    prechecked &&
    prechecked.tenant === state.tenant &&
    rows.length === count &&
    prechecked.seqs.length === count &&
    rows.every((r, i) => r.seq === start + i)
      ? prechecked
      : undefined;
  if (
    pre?.subtrees?.from === start &&
    count > 0 &&
    logLeaves === undefined &&
    rows.every((r, i) => r.leafColumn === undefined && pre.seqs[i] === start + i && pre.linked[i] === 1) &&
    pre.firstPrev === state.prevLeaf
  ) {
    // Every row passes (as the loop below would find): the tree takes the subtrees whole.
    for (const node of pre.subtrees.nodes) range.appendSubtree(node.level, node.hash);
    state.checked.entries += count;
    state.prevLeaf = toBase64(pre.leaves.subarray((count - 1) * HASH_SIZE, count * HASH_SIZE));
    state.next = end;
    saveRange(state, range);
    return;
  }
  // Built only here: the whole-bundle path above needs no lookup (a Map of 10^5 rows was the
  // main thread's largest cost in `sealtrail verify`, issue #15).
  const bySeq = new Map(rows.map((r) => [r.seq, r]));
  // The fast path leaves state.prevLeaf behind; it is brought up to date before it is read.
  let pendingPrev: Uint8Array | undefined;
  for (let seq = state.next; seq < end; seq++) {
    const i = seq - start;
    const row = bySeq.get(seq);
    const logLeaf = logLeaves?.[i];
    if (
      pre &&
      row &&
      row.leafColumn === undefined &&
      logLeaf === undefined &&
      pre.seqs[i] === seq &&
      pre.linked[i] === 1 &&
      (i > 0 || pre.firstPrev === state.prevLeaf)
    ) {
      // Everything the checks below would look at was checked on the same bytes, and passed.
      const leafBytes = pre.leaves.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
      state.checked.entries += 1;
      range.append(leafBytes);
      pendingPrev = leafBytes;
      state.next = seq + 1;
      continue;
    }
    if (pendingPrev) {
      state.prevLeaf = toBase64(pendingPrev);
      pendingPrev = undefined;
    }
    let leaf: string | undefined;
    if (!row && seq < prunedBelow && logLeaf !== undefined) {
      // Pruned by retention: the body is gone, its leaf (from the log's tree or hash tiles) stays.
      state.checked.pruned = (state.checked.pruned ?? 0) + 1;
      leaf = logLeaf;
    } else if (!row) {
      fail(state, { kind: "entry_missing", seq });
      leaf = logLeaf;
    } else {
      leaf = toBase64(pre ? pre.leaves.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE) : entryLeafHash(row.entry));
      let parsed: { seq?: unknown; tenant?: unknown; prev?: unknown } | undefined;
      try {
        parsed = JSON.parse(row.entry) as typeof parsed;
      } catch {
        fail(state, { kind: "entry_malformed", seq, detail: "not JSON" });
      }
      if (parsed) {
        if (parsed.seq !== seq) fail(state, { kind: "entry_seq_mismatch", seq, expected: seq, found: String(parsed.seq) });
        if (parsed.tenant !== state.tenant)
          fail(state, { kind: "entry_tenant_mismatch", seq, expected: state.tenant, found: String(parsed.tenant) });
        if (parsed.prev !== state.prevLeaf)
          fail(state, { kind: "chain_broken", seq, expected: state.prevLeaf, found: String(parsed.prev) });
      }
      if (row.leafColumn !== undefined && row.leafColumn !== leaf) {
        fail(state, { kind: "leaf_hash_mismatch", seq, expected: leaf, found: row.leafColumn });
      }
      if (logLeaf !== undefined && logLeaf !== leaf) fail(state, { kind: "entry_changed", seq, expected: logLeaf, found: leaf });
      state.checked.entries += 1;
    }
    if (leaf === undefined) {
      state.treeBroken = true;
      leaf = toBase64(GENESIS_PREV);
    }
    range.append(fromBase64(leaf)!);
    state.prevLeaf = leaf;
    state.next = seq + 1;
  }
  if (pendingPrev) state.prevLeaf = toBase64(pendingPrev);
  saveRange(state, range);
}

/**
 * What checkEntries needs from a bundle's rows, computed from the bundle alone (the CLI does
 * it in worker threads, one bundle each): leaf hashes, the `seq` each entry carries, and
 * whether each entry names `tenant` and (after the first) links to the previous row's leaf.
 * checkEntries trusts a row's results only when they all pass; any other row is checked from
 * its bytes as usual, so a report is the same with or without them.
 */
export interface PrecheckedRows {
  /** RFC 6962 leaf hash of each row's entry, 32 bytes per row. */
  leaves: Uint8Array;
  /** The numeric `seq` each entry carries (NaN if none). */
  seqs: Float64Array;
  /** 1 where the entry parsed, names the tenant and (rows after the first) carries the previous row's leaf as `prev`. */
  linked: Uint8Array;
  /** `prev` of the first row, if it is a string. */
  firstPrev: string | undefined;
  /** The tenant the rows were checked against (must be the run's). */
  tenant: string;
  /**
   * The rows' leaves as aligned complete subtrees (alignedSubtrees), if they were computed
   * for rows starting at seq `from`: when every row passes, the tree takes these whole.
   */
  subtrees?: { from: number; nodes: { level: number; hash: Uint8Array }[] };
}

/** Bundle lines as bundleRows splits them. */
const bundleLines = (bundle: string): string[] =>
  bundle.length === 0 ? [] : bundle.endsWith("\n") ? bundle.slice(0, -1).split("\n") : bundle.split("\n");

function parseOrNull(text: string): { seq?: unknown; tenant?: unknown; prev?: unknown } | null {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === "object" && v !== null ? (v as { seq?: unknown; tenant?: unknown; prev?: unknown }) : null;
  } catch {
    return null;
  }
}

/** A bundle's SHA-256 and prechecked rows (see PrecheckedRows); `from`: the seq its first row should hold, if known. */
export function precheckBundle(bundle: string, tenant: string, from?: number): { sha256: string; rows: PrecheckedRows } {
  const lines = bundleLines(bundle);
  const leaves = new Uint8Array(lines.length * HASH_SIZE);
  const seqs = new Float64Array(lines.length);
  const linked = new Uint8Array(lines.length);
  let firstPrev: string | undefined;
  let previous: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const leaf = entryLeafHash(lines[i]!);
    leaves.set(leaf, i * HASH_SIZE);
    const parsed = parseOrNull(lines[i]!);
    seqs[i] = typeof parsed?.seq === "number" ? parsed.seq : NaN;
    const prev = typeof parsed?.prev === "string" ? parsed.prev : undefined;
    if (i === 0) firstPrev = prev;
    linked[i] = parsed !== null && parsed.tenant === tenant && prev !== undefined && (i === 0 || prev === previous) ? 1 : 0;
    previous = toBase64(leaf);
  }
  const subtrees = from === undefined ? undefined : { from, nodes: alignedSubtrees(from, leaves) };
  return { sha256: sha256Base64(bundle), rows: { leaves, seqs, linked, firstPrev, tenant, ...(subtrees ? { subtrees } : {}) } };
}

/** The root over every leaf checked so far (RFC 6962), or undefined if a leaf was unknowable. */
export function currentRoot(state: AuditState): string | undefined {
  return state.treeBroken ? undefined : toBase64(rangeOf(state).root());
}

function sealFailure(key: string, e: ManifestError): VerificationFailure {
  switch (e.reason) {
    case "manifest_mismatch":
      return { kind: "seal_invalid", key, detail: `manifest field ${e.field}`, expected: e.expected, found: e.got };
    case "root_mismatch":
      return {
        kind: "seal_invalid",
        key,
        detail: "consistency proof does not link the previous seal",
        expected: toBase64(e.expected),
        found: toBase64(e.got),
      };
    case "bundle_mismatch":
      return {
        kind: "bundle_mismatch",
        key,
        seq: e.seq,
        detail: e.detail,
        ...(e.expected ? { expected: e.expected } : {}),
        ...(e.got ? { found: e.got } : {}),
      };
    default:
      return { kind: "seal_invalid", key, detail: e.reason };
  }
}

export interface OpenedSeal {
  manifest: Manifest;
  checkpoint: Checkpoint;
}

/**
 * Opens seal `id`'s manifest and checks it against the previous seal: signature by the
 * tenant's key, embedded checkpoint, consistency proof, hash chain. Returns undefined (with
 * the failure recorded) if it does not hold.
 */
export function checkSealManifest(
  state: AuditState,
  key: string,
  note: string,
  origin: string,
  verifiers: readonly NoteVerifier[],
): OpenedSeal | undefined {
  const opened = openManifest(note, origin, verifiers);
  if (!opened.ok) {
    fail(state, sealFailure(key, opened.error));
    return undefined;
  }
  const m = opened.value;
  if (m.tenant !== state.tenant) {
    fail(state, { kind: "seal_invalid", key, detail: "manifest field tenant", expected: state.tenant, found: m.tenant });
    return undefined;
  }
  const prev = state.prevSeal;
  const prevOpened = prev ? openManifest(prev.note, origin, verifiers) : undefined;
  const link = verifySealLink(
    m,
    verifiers,
    prev && prevOpened?.ok
      ? {
          manifest: prevOpened.value,
          note: prev.note,
          checkpoint: { origin, size: prev.to, root: fromBase64(prev.root)!, extensions: [] },
        }
      : undefined,
  );
  if (!link.ok) {
    fail(state, sealFailure(key, link.error));
    return undefined;
  }
  return { manifest: m, checkpoint: link.value };
}

/** After the entries of a seal were checked: the recomputed root must be the signed one. */
export function closeSeal(state: AuditState, id: number, key: string, note: string, seal: OpenedSeal): void {
  const root = currentRoot(state);
  const signed = toBase64(seal.checkpoint.root);
  if (root !== undefined && root !== signed) {
    fail(state, { kind: "root_mismatch", seq: seal.manifest.to, key, expected: signed, found: root });
  }
  state.prevSeal = { id, note, to: seal.manifest.to, root: signed };
  state.checked.seals += 1;
}

/**
 * Compares a seal's bundle with the entries it must hold: its SHA-256 with the manifest's,
 * and each line with `entries` (the same range from another store), naming the first seq
 * that differs.
 */
export function checkBundleAgainst(
  state: AuditState,
  key: string,
  bundle: string,
  m: Manifest,
  entries: ReadonlyMap<number, string>,
  bundleSha256?: string,
): void {
  const digest = bundleSha256 ?? sha256Base64(bundle);
  if (digest !== m.bundle_sha256) {
    fail(state, { kind: "bundle_mismatch", key, seq: null, detail: "sha256", expected: m.bundle_sha256, found: digest });
  }
  const lines = bundle.endsWith("\n") ? bundle.slice(0, -1).split("\n") : bundle.split("\n");
  if (lines.length !== m.to - m.from) {
    fail(state, {
      kind: "bundle_mismatch",
      key,
      seq: null,
      detail: "entry count",
      expected: String(m.to - m.from),
      found: String(lines.length),
    });
  }
  for (let seq = m.from; seq < m.to; seq++) {
    const line = lines[seq - m.from];
    const other = entries.get(seq);
    if (line !== undefined && other !== undefined && line !== other) {
      fail(state, {
        kind: "bundle_mismatch",
        key,
        seq,
        detail: "bundle line differs from the stored entry",
        expected: sha256Base64(other),
        found: sha256Base64(line),
      });
      break;
    }
    state.checked.bundle_entries += 1;
  }
}

/** Splits a bundle into entry rows for [from, to) (the offline verifier's only source). */
export function bundleRows(bundle: string, from: number): EntryRow[] {
  if (bundle.length === 0) return [];
  const lines = bundle.endsWith("\n") ? bundle.slice(0, -1).split("\n") : bundle.split("\n");
  return lines.map((entry, i) => ({ seq: from + i, entry }));
}
