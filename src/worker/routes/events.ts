/** /v1/tenants/:t/events: append (POST) and read back (GET) a tenant's entries. */
import { and, asc, eq, exists, gt, gte, lt, sql, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono, type Context } from "hono";
import { z } from "zod";
import { auditEvents, auditEventTargets } from "../../db/audit-schema";
import type { AppendItem } from "../../durable/sequencer";
import type { AppEnv } from "../app-env";
import { Failure } from "../errors";
import { Batch, Event, IdempotencyKey, LIMITS } from "../event-schema";
import { provenance } from "../provenance";
import { parseWith, readJsonBody } from "../request";
import { requirePermission } from "../tenant-access";
import { proofFailure, tenantLog } from "../tenant-log";

export const PAGE_SIZE_DEFAULT = 50;
export const PAGE_SIZE_MAX = 100;

const isBatch = (v: unknown): boolean => typeof v === "object" && v !== null && !Array.isArray(v) && "events" in v;

function idempotencyHeader(c: Context<AppEnv>): string | undefined {
  const key = c.req.header("idempotency-key");
  if (key === undefined) return undefined;
  const checked = IdempotencyKey.safeParse(key);
  if (!checked.success) {
    throw new Failure({
      reason: "invalid_request",
      code: "invalid_idempotency_key",
      message: "Idempotency-Key must be 1 to 128 printable ASCII characters.",
    });
  }
  return checked.data;
}

const Cursor = {
  encode: (seq: number) => btoa(`after:${seq}`).replace(/=+$/, ""),
  decode(cursor: string): number {
    const m = /^after:(\d{1,15})$/.exec(safeAtob(cursor));
    if (!m) throw new Failure({ reason: "invalid_request", code: "invalid_cursor", message: "cursor is not one this API issued." });
    return Number(m[1]);
  },
};

function safeAtob(s: string): string {
  try {
    return atob(s);
  } catch {
    return "";
  }
}

const ListQuery = z.strictObject({
  action: z.string().max(128).optional(),
  actor: z.string().max(256).optional(),
  target: z.string().max(256).optional(),
  outcome: z.enum(["success", "failure", "denied", "unknown"]).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  cursor: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(PAGE_SIZE_MAX).default(PAGE_SIZE_DEFAULT),
});

const Seq = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** The wire form of a stored entry: its exact bytes (as `entry`) and what they contain. */
function entryView(row: { seq: number; entry: string; leafHash: string }) {
  const parsed = JSON.parse(row.entry) as { received_at: string; event: unknown; provenance: unknown };
  return {
    seq: row.seq,
    leaf_hash: row.leafHash,
    received_at: parsed.received_at,
    event: parsed.event,
    provenance: parsed.provenance,
    entry: row.entry,
  };
}

export const events = new Hono<AppEnv>()
  .post("/", requirePermission("append"), async (c) => {
    const body = await readJsonBody(c);
    let items: AppendItem[];
    const batch = isBatch(body);
    if (batch) {
      if (c.req.header("idempotency-key") !== undefined) {
        throw new Failure({
          reason: "invalid_request",
          code: "invalid_idempotency_key",
          message: "A batch takes an idempotency_key per event, not an Idempotency-Key header.",
        });
      }
      const count = (body as { events?: unknown }).events;
      if (Array.isArray(count) && count.length > LIMITS.maxBatchEvents) {
        throw new Failure({
          reason: "invalid_request",
          code: "too_many_events",
          message: `A batch holds at most ${LIMITS.maxBatchEvents} events.`,
          status: 413,
        });
      }
      items = parseWith(Batch, body).events.map(({ idempotency_key, ...event }) => ({
        event,
        ...(idempotency_key === undefined ? {} : { idempotencyKey: idempotency_key }),
      }));
    } else {
      const key = idempotencyHeader(c);
      items = [{ event: parseWith(Event, body), ...(key === undefined ? {} : { idempotencyKey: key }) }];
    }
    const result = await tenantLog(c).append(c.var.access.tenantId, items, provenance(c));
    if (!result.ok) throw new Failure(result.error);
    return batch ? c.json({ receipts: result.receipts }, 201) : c.json(result.receipts[0]!, 201);
  })

  .get("/", requirePermission("read"), async (c) => {
    const q = parseWith(ListQuery, c.req.query(), "invalid_query");
    const t = c.var.access.tenantId;
    const where: SQL[] = [eq(auditEvents.tenantId, t)];
    if (q.action) where.push(eq(auditEvents.action, q.action));
    if (q.actor) where.push(eq(auditEvents.actorId, q.actor));
    if (q.outcome) where.push(eq(auditEvents.outcome, q.outcome));
    if (q.since) where.push(gte(auditEvents.receivedAt, Date.parse(q.since)));
    if (q.until) where.push(lt(auditEvents.receivedAt, Date.parse(q.until)));
    if (q.cursor) where.push(gt(auditEvents.seq, Cursor.decode(q.cursor)));
    const db = drizzle(c.env.DB);
    if (q.target) {
      where.push(
        exists(
          db
            .select({ one: sql`1` })
            .from(auditEventTargets)
            .where(
              and(
                eq(auditEventTargets.tenantId, t),
                eq(auditEventTargets.seq, auditEvents.seq),
                eq(auditEventTargets.targetId, q.target),
              ),
            ),
        ),
      );
    }
    const rows = await db
      .select({ seq: auditEvents.seq, entry: auditEvents.entry, leafHash: auditEvents.leafHash })
      .from(auditEvents)
      .where(and(...where))
      .orderBy(asc(auditEvents.seq))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    const more = rows.length > q.limit;
    return c.json({ events: page.map(entryView), next_cursor: more ? Cursor.encode(page[page.length - 1]!.seq) : null });
  })

  .get("/:seq{[0-9]+}", requirePermission("read"), async (c) => {
    const parsed = Seq.safeParse(c.req.param("seq"));
    if (!parsed.success) throw new Failure({ reason: "not_found", what: "Entry" });
    const seq = parsed.data;
    const row = await drizzle(c.env.DB)
      .select({ seq: auditEvents.seq, entry: auditEvents.entry, leafHash: auditEvents.leafHash })
      .from(auditEvents)
      .where(and(eq(auditEvents.tenantId, c.var.access.tenantId), eq(auditEvents.seq, seq)))
      .get();
    if (row) return c.json(entryView(row));
    // Not in D1 yet (the mirror may lag): the Durable Object holds every unsealed entry.
    const fromLog = await tenantLog(c).entry(seq);
    if (!fromLog) throw new Failure({ reason: "not_found", what: "Entry" });
    return c.json(entryView({ seq: fromLog.seq, entry: fromLog.entry, leafHash: fromLog.leaf_hash }));
  })

  .get("/:seq{[0-9]+}/proof", requirePermission("read", "verify"), async (c) => {
    const parsed = Seq.safeParse(c.req.param("seq"));
    if (!parsed.success) throw new Failure({ reason: "not_found", what: "Entry" });
    const r = await tenantLog(c).entryProof(c.var.access.tenantId, parsed.data);
    if (!r.ok) throw proofFailure(r.error);
    return c.text(r.value, 200, {
      "content-type": "text/plain; charset=utf-8",
      "content-disposition": `attachment; filename="${parsed.data}.tlog-proof"`,
    });
  });
