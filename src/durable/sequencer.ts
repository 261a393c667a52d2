/**
 * Sequencing one group commit (docs/design.md "The path of one event"; invariants 2, 5, 6, 7).
 * Runs entirely inside the caller's transactionSync: it reads and writes through LogStore
 * synchronously and never awaits, so idempotency checks, sequence numbers, entry bytes, leaf
 * hashes and the new head commit together or not at all.
 */
import { toBase64 } from "../core/bytes";
import { encodeEntry, entryLeafHash, eventDigest, formatTimestamp, type JsonObject } from "../core/entry";
import type { CompactRange, StoredNode } from "../core/merkle";
import type { Head, LogStore, StoredEntry, StoredReceipt } from "./log-store";
import type { AppendItem, Receipt } from "./log-types";
import type { SourceTracker } from "./sources";

export interface AppendRequest {
  items: readonly AppendItem[];
  provenance: JsonObject;
}

/**
 * The event as it is stored, given the one the client sent and its seq (personal-fields.ts:
 * declared fields encrypted). Runs inside the commit's transaction: synchronous, no await.
 */
export type StoredEvent = (tenant: string, seq: number, event: JsonObject, nowMs: number) => JsonObject;

export type SequenceOutcome = { ok: true; receipts: Receipt[] } | { ok: false; error: { reason: "idempotency_conflict"; key: string } };

export interface SequencedGroup {
  head: Head;
  outcomes: SequenceOutcome[];
  /** Entries created by this group, in sequence order. */
  created: StoredEntry[];
  /** How many of them had a client clock more than maxClockSkewMs off the server's. */
  skewed: number;
}

/**
 * The client's clock versus the server's, for events that carry occurred_at: the difference
 * (received_at − occurred_at, in ms) when it exceeds the tenant's limit, else undefined.
 * The event is stored as sent either way; the difference goes into its provenance.
 */
export function clockSkew(event: JsonObject, receivedAtMs: number, maxSkewMs: number): number | undefined {
  const occurred = typeof event.occurred_at === "string" ? Date.parse(event.occurred_at) : NaN;
  if (Number.isNaN(occurred)) return undefined;
  const skew = receivedAtMs - occurred;
  return Math.abs(skew) > maxSkewMs ? skew : undefined;
}

/**
 * The form an idempotency key is stored and looked up in: scoped by the credential that sent
 * it (principal type and id, from the provenance the Worker stamps; the tenant is the object
 * itself), so one credential can never claim, replay or block another's key (issue #13).
 * Client keys are printable ASCII without spaces (event-schema.ts), so `<type>:<id> <key>` is
 * never a key stored unscoped by an older version (see `sequenceGroup` for those).
 */
export function scopedIdempotencyKey(provenance: JsonObject, key: string): string {
  const type = typeof provenance.principal_type === "string" ? provenance.principal_type : "";
  const id = typeof provenance.principal_id === "string" ? provenance.principal_id : "";
  return `${type}:${id} ${key}`;
}

/**
 * The idempotency key an entry carries into D1's `idempotency_key` column: its scoped key and its
 * seq. A key may be used again once it has expired (invariant 7); D1 holds one row per value of
 * that column (a unique index and the append-only triggers), so each use must be its own value.
 */
export const entryIdempotencyKey = (scoped: string, seq: number): string => `${scoped} @${seq}`;

const toReceipt = (r: StoredReceipt): Receipt => ({
  seq: r.seq,
  leaf_hash: toBase64(r.leafHash),
  received_at: formatTimestamp(r.receivedAtMs),
  tree_size: r.treeSize,
});

/**
 * Assigns sequence numbers to every request of a group, in arrival order, and writes the
 * entries, tree nodes, idempotency rows and head through `store`. `tree` is the compact range
 * of the current tree; it is advanced in place, so pass a copy the caller keeps only if the
 * transaction commits. A request is all-or-nothing: if any of
 * its items reuses an Idempotency-Key with a different body, none of its items is appended.
 * Keys are per credential (`scopedIdempotencyKey`). A key stored before keys were scoped
 * (unscoped, one namespace per tenant) still answers a retry of it, from any credential: its
 * original receipt, or a conflict; new keys are never stored unscoped.
 *
 * `nowMs` is the server clock for the whole group; received_at is clamped to never go below
 * the previous entry's (invariant 6). Keys first used more than `idempotencyWindowMs` before
 * `nowMs` have expired: the same key is then a new request (invariant 7). Must be called
 * inside transactionSync. `sources` (sources.ts) is told the `source` of every entry created.
 * `storedEvent` turns each new entry's event into the one stored (its
 * idempotency digest stays that of the event as sent, so a retry matches).
 */
export function sequenceGroup(
  store: LogStore,
  tenant: string,
  head: Head,
  tree: CompactRange,
  requests: readonly AppendRequest[],
  nowMs: number,
  maxClockSkewMs = Infinity,
  idempotencyWindowMs = Infinity,
  sources?: Pick<SourceTracker, "observe">,
  storedEvent?: StoredEvent,
): SequencedGroup {
  const notBefore = nowMs - idempotencyWindowMs;
  if (tree.size !== head.size) throw new Error(`tree size ${tree.size} differs from head size ${head.size}`);
  let { size, lastLeaf } = head;
  const receivedAtMs = Math.max(nowMs, head.lastReceivedAtMs);
  const created: StoredEntry[] = [];
  // Written together after the loop, in multi-row INSERTs (same transaction, same rows).
  const nodes: StoredNode[] = [];
  let skewed = 0;
  // The `source` of each entry created (validated by the Worker: event-schema.ts `Source`), for gap detection.
  const sourced: { id: string; seq: number }[] = [];
  // Keys first used in this group. Their receipts get the tree size at the end of the group,
  // so their idempotency rows are written once that size is known.
  const groupKeys = new Map<string, { digest: string; receipt: Receipt; leafHash: StoredEntry["leafHash"] }>();
  // Stored rows looked up once per group (a key is looked up by both passes of a request).
  const storedKeys = new Map<string, { digest: string; receipt: Receipt } | undefined>();
  const prior = (scoped: string, key: string): { digest: string; receipt: Receipt } | undefined => {
    const inGroup = groupKeys.get(scoped);
    if (inGroup) return inGroup;
    if (!storedKeys.has(scoped)) {
      // The scoped row, else an unscoped row stored before keys were scoped.
      const stored = store.findIdempotency(scoped, notBefore) ?? store.findIdempotency(key, notBefore);
      storedKeys.set(scoped, stored && { digest: stored.digest, receipt: toReceipt(stored.receipt) });
    }
    return storedKeys.get(scoped);
  };

  const outcomes = requests.map((req): SequenceOutcome => {
    const scoped = req.items.map((item) =>
      item.idempotencyKey === undefined ? undefined : scopedIdempotencyKey(req.provenance, item.idempotencyKey),
    );
    const digests = req.items.map((item) => (item.idempotencyKey === undefined ? "" : eventDigest(item.event)));
    // First pass: refuse the whole request if any key conflicts, before writing anything.
    const seen = new Map<string, string>();
    for (const [i, item] of req.items.entries()) {
      const key = item.idempotencyKey;
      if (key === undefined) continue;
      const earlier = seen.get(key) ?? prior(scoped[i]!, key)?.digest;
      if (earlier !== undefined && earlier !== digests[i]) {
        return { ok: false, error: { reason: "idempotency_conflict", key } };
      }
      seen.set(key, digests[i]!);
    }

    const receipts = req.items.map((item, i): Receipt => {
      const key = scoped[i];
      const replay = key === undefined ? undefined : prior(key, item.idempotencyKey!);
      if (replay) return { ...replay.receipt };
      const seq = size;
      const skew = clockSkew(item.event, receivedAtMs, maxClockSkewMs);
      if (skew !== undefined) skewed += 1;
      const provenance = skew === undefined ? req.provenance : { ...req.provenance, clock_skew_ms: skew };
      const event = storedEvent ? storedEvent(tenant, seq, item.event, receivedAtMs) : item.event;
      const entry = encodeEntry({ tenant, seq, receivedAtMs, prev: lastLeaf, event, provenance });
      const leaf = entryLeafHash(entry);
      const stored: StoredEntry = { seq, entry, leafHash: leaf, idempotencyKey: key === undefined ? null : entryIdempotencyKey(key, seq) };
      for (const n of tree.append(leaf)) nodes.push(n);
      created.push(stored);
      if (item.event.source !== undefined) sourced.push(item.event.source as unknown as { id: string; seq: number });
      size += 1;
      lastLeaf = leaf;
      const receipt: Receipt = { seq, leaf_hash: toBase64(leaf), received_at: formatTimestamp(receivedAtMs), tree_size: 0 };
      if (key !== undefined) groupKeys.set(key, { digest: digests[i]!, receipt, leafHash: leaf });
      return receipt;
    });
    return { ok: true, receipts };
  });

  store.insertEntries(created);
  store.insertNodes(nodes);
  // Per-source gaps and last-seen times, in this transaction (sources.ts).
  if (sourced.length > 0) sources?.observe(sourced, receivedAtMs);
  // The group's size is now known: fix it in every receipt it created, then persist the keys.
  for (const o of outcomes) {
    if (o.ok) for (const r of o.receipts) if (r.seq >= head.size) r.tree_size = size;
  }
  for (const [key, g] of groupKeys) {
    store.insertIdempotency(key, g.digest, { seq: g.receipt.seq, leafHash: g.leafHash, receivedAtMs, treeSize: size });
  }
  const newHead: Head = {
    size,
    lastLeaf,
    lastReceivedAtMs: created.length > 0 ? receivedAtMs : head.lastReceivedAtMs,
  };
  return { head: newHead, outcomes, created, skewed };
}
