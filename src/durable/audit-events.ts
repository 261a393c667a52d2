/**
 * Every statement the Durable Objects run against D1's `audit_events` and `audit_event_targets`:
 * the mirror's INSERTs (mirror.ts, rebuild.ts), the sealer's read of a bundle once DO storage has
 * evicted its entries (sealer.ts), and verification's reads (verification.ts). The Worker's read
 * routes query the same tables with drizzle (src/worker/event-query.ts).
 *
 * INSERT only (docs/design.md invariants 3, 4): every entry committed in the Durable Object is copied
 * into D1 with INSERT only. Inserts are idempotent: only rows whose key D1 does not hold yet are
 * inserted, so a pass that is retried after D1 applied it but the reply was lost adds nothing
 * twice. A row already there is left as it is, even if it differs (a forged or forked row):
 * verification names it; the mirror never replaces it, and the append-only triggers
 * (migrations/0006) would refuse that anyway.
 */
import { getTableName } from "drizzle-orm";
import { toBase64 } from "../core/bytes";
import { auditEvents, auditEventTargets } from "../db/audit-schema";
import type { StoredEntry } from "./log-store";
import { searchIndexStatements } from "./search-index";
import { insertChunks, MAX_BOUND_PARAMETERS, multiRowInsert } from "./sql";

/** Entries read from D1 per query. */
export const D1_CHUNK = 2_000;
/** Sequence numbers per `seq IN (…)` query (with the tenant id, under MAX_BOUND_PARAMETERS). */
const SEQS_PER_QUERY = MAX_BOUND_PARAMETERS - 10;

type EventRow = typeof auditEvents.$inferInsert;
type TargetRow = typeof auditEventTargets.$inferInsert;

interface ParsedEntry {
  tenant: string;
  received_at: string;
  event: {
    action?: string;
    actor?: { id?: string; type?: string };
    targets?: { id?: string; type?: string }[];
    outcome?: string;
    occurred_at?: string;
  };
}

/**
 * Query columns are copies of fields inside the entry bytes, which stay the only truth.
 * The Worker validates every event, but a missing field must never wedge the mirror (it would
 * retry the same entry forever), so absent fields become empty columns.
 */
export function mirrorRows(e: StoredEntry): { event: EventRow; targets: TargetRow[] } {
  const parsed = JSON.parse(e.entry) as ParsedEntry;
  const ev = parsed.event;
  return {
    event: {
      tenantId: parsed.tenant,
      seq: e.seq,
      entry: e.entry,
      leafHash: toBase64(e.leafHash),
      receivedAt: Date.parse(parsed.received_at),
      occurredAt: ev.occurred_at ?? null,
      action: ev.action ?? "",
      actorId: ev.actor?.id ?? "",
      actorType: ev.actor?.type ?? "",
      outcome: ev.outcome ?? "",
      idempotencyKey: e.idempotencyKey,
    },
    targets: (ev.targets ?? []).map((t, position) => ({
      tenantId: parsed.tenant,
      seq: e.seq,
      position,
      targetId: t.id ?? "",
      targetType: t.type ?? "",
    })),
  };
}

export const EVENT_SQL_COLUMNS = [
  "tenant_id",
  "seq",
  "entry",
  "leaf_hash",
  "received_at",
  "occurred_at",
  "action",
  "actor_id",
  "actor_type",
  "outcome",
  "idempotency_key",
] as const;
export const TARGET_SQL_COLUMNS = ["tenant_id", "seq", "position", "target_id", "target_type"] as const;

const eventValues = (r: EventRow): (string | number | null)[] => [
  r.tenantId,
  r.seq,
  r.entry,
  r.leafHash,
  r.receivedAt,
  r.occurredAt ?? null,
  r.action,
  r.actorId,
  r.actorType,
  r.outcome,
  r.idempotencyKey ?? null,
];
const targetValues = (r: TargetRow): (string | number)[] => [r.tenantId, r.seq, r.position, r.targetId, r.targetType];

/**
 * Writes entries to D1 in one batch (one D1 transaction). Throws if D1 fails. Plain prepared
 * statements with the columns of src/db/audit-schema.ts (test/durable/mirror-sql.test.ts "name
 * exactly the columns of the drizzle schema…"); INSERT only, of the rows D1 does not hold yet.
 */
export async function writeToD1(d1: D1Database, entries: readonly StoredEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const rows = entries.map(mirrorRows);
  const events = rows.map((r) => r.event);
  const targets = rows.flatMap((r) => r.targets);
  const statements = [
    // Rows D1 already holds are skipped (multiRowInsert's skipExisting: the key's columns), so
    // the BEFORE INSERT triggers never meet an existing key.
    ...insertChunks(events, EVENT_SQL_COLUMNS.length).map((c) =>
      // Key (tenant_id, seq): the first two columns.
      d1.prepare(multiRowInsert(getTableName(auditEvents), EVENT_SQL_COLUMNS, c.length, 2)).bind(...c.flatMap(eventValues)),
    ),
    ...insertChunks(targets, TARGET_SQL_COLUMNS.length).map((c) =>
      // Key (tenant_id, seq, position): the first three columns.
      d1.prepare(multiRowInsert(getTableName(auditEventTargets), TARGET_SQL_COLUMNS, c.length, 3)).bind(...c.flatMap(targetValues)),
    ),
    // The full-text index of the same entries, in the same D1 transaction (search-index.ts).
    ...searchIndexStatements(d1, entries),
  ];
  await d1.batch(statements);
}

/** A row as D1 holds it: the entry bytes and the leaf_hash column (base64). */
export interface D1Entry {
  seq: number;
  entry: string;
  leaf_hash: string;
}

/** The tenant's rows with seq in [from, to), in order, read D1_CHUNK at a time (rows D1 lacks are absent). */
export async function entriesIn(d1: D1Database, tenant: string, from: number, to: number): Promise<D1Entry[]> {
  const rows: D1Entry[] = [];
  for (let at = from; at < to; at += D1_CHUNK) {
    const { results } = await d1
      .prepare("SELECT seq, entry, leaf_hash FROM audit_events WHERE tenant_id = ? AND seq >= ? AND seq < ? ORDER BY seq")
      .bind(tenant, at, Math.min(to, at + D1_CHUNK))
      .all<D1Entry>();
    rows.push(...results);
  }
  return rows;
}

/** The tenant's rows at the given sequence numbers, by seq (rows D1 lacks are absent). */
export async function entriesAt(d1: D1Database, tenant: string, seqs: readonly number[]): Promise<Map<number, D1Entry>> {
  const found = new Map<number, D1Entry>();
  for (let i = 0; i < seqs.length; i += SEQS_PER_QUERY) {
    const chunk = seqs.slice(i, i + SEQS_PER_QUERY);
    const { results } = await d1
      .prepare(`SELECT seq, entry, leaf_hash FROM audit_events WHERE tenant_id = ? AND seq IN (${chunk.map(() => "?").join(",")})`)
      .bind(tenant, ...chunk)
      .all<D1Entry>();
    for (const r of results) found.set(r.seq, r);
  }
  return found;
}

/** Sequence numbers of the tenant's rows at or above `from`, at most `limit` (a forged tail, when above the log's head). */
export async function seqsFrom(d1: D1Database, tenant: string, from: number, limit: number): Promise<number[]> {
  const { results } = await d1
    .prepare("SELECT seq FROM audit_events WHERE tenant_id = ? AND seq >= ? ORDER BY seq LIMIT ?")
    .bind(tenant, from, limit)
    .all<{ seq: number }>();
  return results.map((r) => r.seq);
}

/** The tenant's newest row with `action` below seq `below` (the newest `sealtrail.retention.pruned` entry: verification.ts). */
export async function newestOfAction(d1: D1Database, tenant: string, action: string, below: number): Promise<D1Entry | undefined> {
  return (
    (await d1
      .prepare("SELECT seq, entry, leaf_hash FROM audit_events WHERE tenant_id = ? AND action = ? AND seq < ? ORDER BY seq DESC LIMIT 1")
      .bind(tenant, action, below)
      .first<D1Entry>()) ?? undefined
  );
}
