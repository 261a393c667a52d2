import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * The D1 mirror of every tenant's log (docs/design.md invariants 3, 4). Rows are only ever
 * INSERTed: migrations/0001_append_only.sql adds triggers that abort UPDATE and DELETE.
 * `entry` holds the entry bytes verbatim (RFC 8785 JSON, UTF-8); the other columns are
 * copies of fields inside it, for queries only. Verification trusts `entry`, never them.
 */
export const auditEvents = sqliteTable(
  "audit_events",
  {
    tenantId: text("tenant_id").notNull(),
    seq: integer("seq").notNull(),
    entry: text("entry").notNull(),
    leafHash: text("leaf_hash").notNull(),
    receivedAt: integer("received_at").notNull(),
    occurredAt: text("occurred_at"),
    action: text("action").notNull(),
    actorId: text("actor_id").notNull(),
    actorType: text("actor_type").notNull(),
    outcome: text("outcome").notNull(),
    idempotencyKey: text("idempotency_key"),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.seq] }),
    uniqueIndex("audit_events_idempotency").on(t.tenantId, t.idempotencyKey),
    index("audit_events_received_at").on(t.tenantId, t.receivedAt, t.seq),
    index("audit_events_action").on(t.tenantId, t.action, t.seq),
    index("audit_events_actor").on(t.tenantId, t.actorId, t.seq),
    index("audit_events_outcome").on(t.tenantId, t.outcome, t.seq),
    index("audit_events_actor_type").on(t.tenantId, t.actorType, t.seq),
  ],
);

/** One row per target of an event, so events can be found by target. Append-only too. */
export const auditEventTargets = sqliteTable(
  "audit_event_targets",
  {
    tenantId: text("tenant_id").notNull(),
    seq: integer("seq").notNull(),
    position: integer("position").notNull(),
    targetId: text("target_id").notNull(),
    targetType: text("target_type").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.seq, t.position] }),
    index("audit_event_targets_target").on(t.tenantId, t.targetId, t.seq),
    index("audit_event_targets_type").on(t.tenantId, t.targetType, t.seq),
  ],
);

/**
 * Verification reports (append-only like the log itself): one row per finished run, with
 * the full report as JSON. Triggers in migrations abort UPDATE, DELETE and a second INSERT of
 * the same job. `mode` is `full`, `incremental` or `range`; `from_seq`/`to_seq` are the entries
 * [from, to) the run checked (NULL in rows written before migration 0006).
 */
export const verificationReports = sqliteTable(
  "verification_reports",
  {
    tenantId: text("tenant_id").notNull(),
    jobId: text("job_id").notNull(),
    mode: text("mode").notNull(),
    ok: integer("ok", { mode: "boolean" }).notNull(),
    failures: integer("failures").notNull(),
    report: text("report").notNull(),
    createdAt: integer("created_at").notNull(),
    fromSeq: integer("from_seq"),
    toSeq: integer("to_seq"),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.jobId] }), index("verification_reports_created").on(t.tenantId, t.createdAt)],
);
