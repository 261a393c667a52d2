/**
 * The D1 mirror (DESIGN.md invariant 3): every entry committed in the Durable Object is
 * copied into D1's `audit_events` with INSERT only. Inserts are idempotent (ON CONFLICT DO
 * NOTHING on the primary key), so a pass that is retried after D1 applied it but the reply
 * was lost adds nothing twice.
 */
import { drizzle } from "drizzle-orm/d1";
import { toBase64 } from "../core/bytes";
import { auditEvents, auditEventTargets } from "../db/audit-schema";
import type { StoredEntry } from "./log-store";

// D1 allows 100 bound parameters per statement.
const D1_MAX_PARAMS = 100;
const EVENT_COLUMNS = 11;
const TARGET_COLUMNS = 5;

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

function chunks<T>(rows: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

/** Writes entries to D1 in one batch (one D1 transaction). Throws if D1 fails. */
export async function writeToD1(d1: D1Database, entries: readonly StoredEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const db = drizzle(d1);
  const rows = entries.map(mirrorRows);
  const events = rows.map((r) => r.event);
  const targets = rows.flatMap((r) => r.targets);
  const statements = [
    ...chunks(events, Math.floor(D1_MAX_PARAMS / EVENT_COLUMNS)).map((c) =>
      db.insert(auditEvents).values(c).onConflictDoNothing({ target: [auditEvents.tenantId, auditEvents.seq] }),
    ),
    ...chunks(targets, Math.floor(D1_MAX_PARAMS / TARGET_COLUMNS)).map((c) =>
      db.insert(auditEventTargets).values(c).onConflictDoNothing(),
    ),
  ];
  const [first, ...rest] = statements;
  await db.batch([first!, ...rest]);
}
