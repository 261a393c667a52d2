/** /v1/tenants/:t/events: append (POST) and read back (GET) a tenant's entries. */
import { and, asc, desc, eq, gt, lt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono, type Context } from "hono";
import { z } from "zod";
import { auditEvents } from "../../db/audit-schema";
import type { AppendItem, Durability } from "../../durable/log-types";
import { recordAccess } from "../access-log";
import type { AppEnv } from "../app-env";
import { prunedNotice } from "../retention-notice";
import { checkMissing, checkServedRows } from "../entry-integrity";
import { Cursor, EventFilter, filterConditions } from "../event-query";
import { Failure } from "../errors";
import { appendEvents } from "../fan-in";
import { Batch, Event, IdempotencyKey, LIMITS } from "../event-schema";
import { provenance } from "../provenance";
import { readJsonBody } from "../request";
import { parseBatch, parseEvent } from "../event-check";
import { LOG_APPEND, queryOf, route } from "../route-spec";
import { requirePermission } from "../tenant-access";
import { awaitMirror, tenantLog } from "../tenant-log";
import { tenantData } from "../placement";
import { personalViews, type PersonalField } from "../personal-view";
import { refuseOutsideView, requireEntryInView, viewOf } from "../view-access";

export const PAGE_SIZE_DEFAULT = 50;
export const PAGE_SIZE_MAX = 100;

const isBatch = (v: unknown): boolean => typeof v === "object" && v !== null && !Array.isArray(v) && "events" in v;

function idempotencyHeader(c: Context<AppEnv>): string | undefined {
  const key = c.req.header("idempotency-key");
  if (key === undefined) return undefined;
  const checked = IdempotencyKey.safeParse(key);
  if (!checked.success) throw new Failure({ reason: "invalid_idempotency_key", why: "malformed" });
  return checked.data;
}

/**
 * RFC 7240 `Prefer` on an append: `durability=mirrored` asks for the receipt only once D1 holds
 * the entries too (docs/design.md invariant 3); the default acknowledges at the log's commit.
 * Preferences are comma-separated, `token [= value]` with optional `;` parameters; tokens are
 * case-insensitive, values may be quoted. Unknown preferences and values are ignored (§2).
 */
export function preferredDurability(header: string | undefined): Durability | undefined {
  if (header === undefined) return undefined;
  for (const pref of header.split(",")) {
    const [nameValue = ""] = pref.split(";");
    const eq = nameValue.indexOf("=");
    const name = (eq < 0 ? nameValue : nameValue.slice(0, eq)).trim().toLowerCase();
    if (name !== "durability" || eq < 0) continue;
    const value = nameValue
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, "$1")
      .toLowerCase();
    if (value === "mirrored") return "mirrored";
  }
  return undefined;
}

const ListQuery = EventFilter.extend({
  cursor: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(PAGE_SIZE_MAX).default(PAGE_SIZE_DEFAULT),
});

const Seq = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** A receipt: where the entry is in the log (also in the settings route's answer). */
export const Receipt = z.object({ seq: z.number().int(), leaf_hash: z.string(), received_at: z.string(), tree_size: z.number().int() });

const Entry = z.object({
  seq: z.number().int(),
  leaf_hash: z.string(),
  received_at: z.string(),
  event: z.record(z.string(), z.unknown()),
  provenance: z.record(z.string(), z.string()),
  entry: z.string().describe("the stored entry bytes (RFC 8785 JSON), verbatim"),
  personal: z
    .array(
      z.object({
        path: z.string().describe("where in `event`, e.g. actor.name or targets.0.name"),
        state: z.enum(["decrypted", "erased", "undecryptable"]),
        value: z.json().optional().describe("the plaintext (state decrypted)"),
        erased_at: z.string().optional(),
        erased_by: z.number().int().optional().describe("the seq of the sealtrail.subject.erased entry"),
      }),
    )
    .optional()
    .describe("encrypted personal fields as the reader sees them (decrypted by the server, not covered by the proof: their ciphertext is)"),
});

/** The entries the tree contradicts are refused, not served (entry-integrity.ts). */
const READ_CHECKED = ["integrity_error", ...LOG_APPEND] as const;

export const EVENT_ROUTES = {
  append: route({
    method: "post",
    path: "/v1/tenants/{t}/events",
    summary:
      `Append one event, or {"events":[…]} (at most ${LIMITS.maxBatchEvents}). Acknowledged once the log has committed it; ` +
      "with `Prefer: durability=mirrored`, once D1 holds it too (`Preference-Applied` says so)",
    permissions: ["append"],
    body: z.union([Event, Batch]),
    invalid: "invalid_event",
    response: z.union([Receipt, z.object({ receipts: z.array(Receipt) })]),
    status: 201,
    errors: [
      "reserved_action",
      "event_too_deep",
      "event_too_large",
      "too_many_events",
      "invalid_idempotency_key",
      "idempotency_conflict",
      "schema_violation",
      "not_mirrored",
      ...LOG_APPEND,
    ],
  }),
  list: route({
    method: "get",
    path: "/v1/tenants/{t}/events",
    summary: "List events (filters, cursor pagination in sequence order); every row is checked against the log's tree",
    permissions: ["read"],
    query: ListQuery,
    response: z.object({
      events: z.array(Entry),
      next_cursor: z.string().nullable(),
      prev_cursor: z.string().nullable(),
      pruned: z
        .object({ below: z.number().int(), recorded_by: z.number().int().nullable() })
        .nullable()
        .describe("entries below `below` were pruned by retention (sealtrail.retention.pruned entry `recorded_by`); null: none"),
    }),
    errors: ["invalid_cursor", "invalid_search", ...READ_CHECKED],
  }),
  entry: route({
    method: "get",
    path: "/v1/tenants/{t}/events/{seq}",
    summary: "One entry, with its stored bytes, checked against the log's tree (410 entry_pruned below the retention floor)",
    permissions: ["read"],
    response: Entry,
    errors: ["not_found", "entry_pruned", "outside_view", ...READ_CHECKED],
  }),
  proof: route({
    method: "get",
    path: "/v1/tenants/{t}/events/{seq}/proof",
    summary: "c2sp.org/tlog-proof@v1 for one entry",
    permissions: ["read", "verify"],
    responseType: "text/plain",
    errors: ["not_found", "entry_not_found", "not_reconciled", "outside_view", ...LOG_APPEND],
  }),
};

/**
 * The wire form of a stored entry: its exact bytes (as `entry`) and what they contain; `event`
 * holds personal fields in their encrypted form, as stored, and `personal` what a reader sees of
 * them (personal-view.ts).
 */
export function entryView(row: { seq: number; entry: string; leafHash: string }, personal?: PersonalField[]) {
  const parsed = JSON.parse(row.entry) as { received_at: string; event: unknown; provenance: unknown };
  return {
    seq: row.seq,
    leaf_hash: row.leafHash,
    received_at: parsed.received_at,
    event: parsed.event,
    provenance: parsed.provenance,
    entry: row.entry,
    ...(personal ? { personal } : {}),
  };
}

const { append, list, entry, proof } = EVENT_ROUTES;

export const events = new Hono<AppEnv>()
  .post("/", requirePermission(...append.permissions), async (c) => {
    const body = await readJsonBody(c);
    let items: AppendItem[];
    const batch = isBatch(body);
    if (batch) {
      if (c.req.header("idempotency-key") !== undefined) throw new Failure({ reason: "invalid_idempotency_key", why: "header_on_batch" });
      const count = (body as { events?: unknown }).events;
      if (Array.isArray(count) && count.length > LIMITS.maxBatchEvents) {
        throw new Failure({ reason: "too_many_events", limit: LIMITS.maxBatchEvents });
      }
      items = parseBatch(body).events.map(({ idempotency_key, ...event }) => ({
        event,
        ...(idempotency_key === undefined ? {} : { idempotencyKey: idempotency_key }),
      }));
    } else {
      const key = idempotencyHeader(c);
      items = [{ event: parseEvent(body), ...(key === undefined ? {} : { idempotencyKey: key }) }];
    }
    const durability = preferredDurability(c.req.header("prefer"));
    // Single events through a batcher when fan-in is on (fan-in.ts), else straight to the TenantLog.
    const result = await appendEvents(c, items, provenance(c), durability);
    if (!result.ok) throw new Failure(result.error);
    // RFC 7240 §3: say which preference shaped this answer (the receipt waited for D1).
    if (durability === "mirrored") c.header("Preference-Applied", "durability=mirrored");
    return batch ? c.json({ receipts: result.receipts }, 201) : c.json(result.receipts[0]!, 201);
  })

  .get("/", requirePermission(...list.permissions), async (c) => {
    const q = queryOf(c, list);
    const { cursor, limit, ...filter } = q;
    // D1 follows the log's commits: let it catch up with what was acknowledged before this read.
    await awaitMirror(c);
    const db = drizzle((await tenantData(c)).db);
    const where = filterConditions(db, c.var.access.tenantId, filter, viewOf(c));
    const at = cursor ? Cursor.decode(cursor) : undefined;
    const backwards = at?.dir === "before";
    if (at) where.push(backwards ? lt(auditEvents.seq, at.seq) : gt(auditEvents.seq, at.seq));
    const rows = await db
      .select({ seq: auditEvents.seq, entry: auditEvents.entry, leafHash: auditEvents.leafHash })
      .from(auditEvents)
      .where(and(...where))
      .orderBy(backwards ? desc(auditEvents.seq) : asc(auditEvents.seq))
      .limit(limit + 1);
    const more = rows.length > limit;
    const page = rows.slice(0, limit);
    if (backwards) page.reverse();
    // Every row of the page is checked against the log's tree before any is served.
    await checkServedRows(c, page);
    const first = page[0]?.seq;
    const last = page[page.length - 1]?.seq;
    // Stable in both directions: cursors name sequence numbers, which never move.
    const next_cursor = last === undefined ? null : backwards || more ? Cursor.after(last) : null;
    const prev_cursor = first === undefined ? null : backwards ? (more ? Cursor.before(first) : null) : at ? Cursor.before(first) : null;
    const personal = await personalViews(c, page);
    // Entries below the retention floor are pruned, not missing: the answer says so (issue #17.4).
    const body = { events: page.map((row, i) => entryView(row, personal[i])), next_cursor, prev_cursor, pruned: await prunedNotice(c) };
    await recordAccess(
      c,
      "sealtrail.events.listed",
      { id: c.var.access.tenantId, type: "tenant" },
      {
        query: Object.fromEntries(
          Object.entries(q)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => [k, String(v)]),
        ),
        returned: page.length,
      },
    );
    return c.json(body);
  })

  .get("/:seq{[0-9]+}", requirePermission(...entry.permissions), async (c) => {
    const parsed = Seq.safeParse(c.req.param("seq"));
    if (!parsed.success) throw new Failure({ reason: "not_found", what: "Entry" });
    const seq = parsed.data;
    const shard = (await tenantData(c)).db;
    const fromD1 = () =>
      drizzle(shard)
        .select({ seq: auditEvents.seq, entry: auditEvents.entry, leafHash: auditEvents.leafHash })
        .from(auditEvents)
        .where(and(eq(auditEvents.tenantId, c.var.access.tenantId), eq(auditEvents.seq, seq)))
        .get();
    const row = await fromD1();
    // Not in D1 yet (the mirror may lag): the Durable Object holds every entry not yet there.
    const fromLog = row ? undefined : await tenantLog(c).entry(seq);
    // Else the log may have copied it to D1 and sealed it since D1 was read: read D1 once more.
    const found = row ?? (fromLog ? { seq: fromLog.seq, entry: fromLog.entry, leafHash: fromLog.leaf_hash } : await fromD1());
    if (!found) {
      // Missing everywhere: an integrity error if the log holds entry `seq`, else not found.
      await checkMissing(c, seq);
      throw new Failure({ reason: "not_found", what: "Entry" });
    }
    // Served only if these bytes are the log's entry `seq` (issue #13), and in the request's view.
    await checkServedRows(c, [found]);
    refuseOutsideView(c, found.entry, `Entry ${seq}`);
    const [personal] = await personalViews(c, [found]);
    await recordAccess(c, "sealtrail.event.read", { id: String(seq), type: "entry" });
    return c.json(entryView(found, personal));
  })

  .get("/:seq{[0-9]+}/proof", requirePermission(...proof.permissions), async (c) => {
    const parsed = Seq.safeParse(c.req.param("seq"));
    if (!parsed.success) throw new Failure({ reason: "not_found", what: "Entry" });
    await requireEntryInView(c, parsed.data);
    const r = await tenantLog(c).entryProof(c.var.access.tenantId, parsed.data);
    if (!r.ok) throw new Failure(r.error);
    await recordAccess(c, "sealtrail.proof.downloaded", { id: String(parsed.data), type: "entry" }, { format: "tlog-proof" });
    return c.text(r.value, 200, {
      "content-type": "text/plain; charset=utf-8",
      "content-disposition": `attachment; filename="${parsed.data}.tlog-proof"`,
    });
  });
