/**
 * GET /v1/tenants/:t/export?format=jsonl|csv&<filters>: every matching entry, streamed page by
 * page (never the whole range in memory). JSONL lines are the stored entry bytes unchanged, so
 * an export can be verified; CSV is for reading (see csv.ts). Exports are logged as events.
 * Every page is checked against the log's own tree before it is sent (entry-integrity.ts).
 */
import { and, asc, gt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { z } from "zod";
import { auditEvents } from "../../db/audit-schema";
import { recordAccess } from "../access-log";
import type { AppEnv } from "../app-env";
import { csvRow } from "../csv";
import { prunedHeaders, prunedNotice } from "../retention-notice";
import { checkServedRows } from "../entry-integrity";
import { EventFilter, filterConditions } from "../event-query";
import { LOG_APPEND, queryOf, route } from "../route-spec";
import { requirePermission } from "../tenant-access";
import { tenantData } from "../placement";
import { awaitMirror } from "../tenant-log";
import type { JsonObject } from "../../core/entry";
import { decryptedEvent, personalViews, type PersonalField } from "../personal-view";
import { entryView } from "./events";
import { viewOf } from "../view-access";

/** Rows read from D1 per page while streaming. */
export const EXPORT_PAGE = 1_000;

export const EXPORT_ROUTE = route({
  method: "get",
  path: "/v1/tenants/{t}/export",
  summary: "Stream matching entries as JSONL (stored bytes) or CSV",
  permissions: ["read"],
  query: EventFilter.extend({
    format: z.enum(["jsonl", "csv"]).default("jsonl"),
    personal: z
      .enum(["stored", "decrypted"])
      .optional()
      .describe(
        "jsonl: `stored` (default) writes the stored entry bytes, personal fields encrypted, verifiable; `decrypted` writes " +
          "each entry as GET /events/:seq does (with `personal`). csv is always decrypted (erased fields read [erased])",
      ),
  }),
  responseType: "application/x-ndjson",
  errors: ["integrity_error", "invalid_search", ...LOG_APPEND],
});

export const CSV_COLUMNS = [
  "seq",
  "received_at",
  "occurred_at",
  "action",
  "actor_type",
  "actor_id",
  "actor_name",
  "outcome",
  "targets",
  "context",
  "metadata",
  "principal_type",
  "principal_id",
  "ip",
  "origin",
  "leaf_hash",
] as const;

interface ParsedEntry {
  seq: number;
  received_at: string;
  event: {
    action: string;
    actor: { id: string; type: string; name?: string };
    targets?: { id: string; type: string }[];
    outcome: string;
    occurred_at?: string;
    context?: unknown;
    metadata?: unknown;
  };
  provenance: Record<string, string | undefined>;
}

function csvLine(entry: string, leafHash: string, personal: PersonalField[] | undefined): string {
  const e = JSON.parse(entry) as ParsedEntry;
  const ev = decryptedEvent(e.event as unknown as JsonObject, personal) as unknown as ParsedEntry["event"];
  return csvRow([
    e.seq,
    e.received_at,
    ev.occurred_at,
    ev.action,
    ev.actor.type,
    ev.actor.id,
    ev.actor.name === undefined ? undefined : typeof ev.actor.name === "string" ? ev.actor.name : JSON.stringify(ev.actor.name),
    ev.outcome,
    (ev.targets ?? []).map((t) => `${t.type}:${t.id}`).join("; "),
    ev.context === undefined ? "" : JSON.stringify(ev.context),
    ev.metadata === undefined ? "" : JSON.stringify(ev.metadata),
    e.provenance.principal_type,
    e.provenance.principal_id,
    e.provenance.ip,
    e.provenance.origin,
    leafHash,
  ]);
}

export const exporter = new Hono<AppEnv>().get("/export", requirePermission(...EXPORT_ROUTE.permissions), async (c) => {
  const { format, personal: personalMode, ...filter } = queryOf(c, EXPORT_ROUTE);
  const decrypted = format === "csv" || personalMode === "decrypted";
  const tenant = c.var.access.tenantId;
  const db = drizzle((await tenantData(c)).db);
  await recordAccess(
    c,
    "sealtrail.events.exported",
    { id: tenant, type: "tenant" },
    {
      format,
      ...(personalMode ? { personal: personalMode } : {}),
      query: Object.fromEntries(
        Object.entries(filter)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => [k, String(v)]),
      ),
    },
  );
  // D1 follows the log's commits: let it catch up with what was acknowledged before this export.
  await awaitMirror(c);
  const encoder = new TextEncoder();
  let after = -1;
  // Each page is checked against the log's tree before any of it is sent (entry-integrity.ts),
  // as the list and entry routes do. The first page is read before answering, so a tampered row
  // there is a 502 naming it; a later one ends the download with an error (a truncated file,
  // never a silently altered one).
  const nextPage = async () => {
    const rows = await db
      .select({ seq: auditEvents.seq, entry: auditEvents.entry, leafHash: auditEvents.leafHash })
      .from(auditEvents)
      .where(and(...filterConditions(db, tenant, filter, viewOf(c)), gt(auditEvents.seq, after)))
      .orderBy(asc(auditEvents.seq))
      .limit(EXPORT_PAGE);
    await checkServedRows(c, rows);
    if (rows.length > 0) after = rows[rows.length - 1]!.seq;
    return rows;
  };
  let pending: Awaited<ReturnType<typeof nextPage>> | undefined = await nextPage();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (format === "csv") controller.enqueue(encoder.encode(csvRow(CSV_COLUMNS)));
    },
    async pull(controller) {
      let rows = pending;
      pending = undefined;
      if (!rows) {
        try {
          rows = await nextPage();
        } catch (e) {
          console.error(`request ${c.var.requestId}: export of ${tenant} stopped`, e);
          controller.error(e);
          return;
        }
      }
      if (rows.length === 0) {
        controller.close();
        return;
      }
      let personal: (PersonalField[] | undefined)[] = [];
      try {
        // Decrypted on the way out by the tenant's log (personal-view.ts); the stored bytes never change.
        if (decrypted) personal = await personalViews(c, rows);
      } catch (e) {
        console.error(`request ${c.var.requestId}: export of ${tenant} stopped`, e);
        controller.error(e);
        return;
      }
      const line = (r: (typeof rows)[number], i: number) =>
        format === "csv"
          ? csvLine(r.entry, r.leafHash, personal[i])
          : decrypted
            ? `${JSON.stringify(entryView(r, personal[i]))}\n`
            : `${r.entry}\n`;
      const text = rows.map(line).join("");
      controller.enqueue(encoder.encode(text));
    },
  });
  const filename = `${tenant}.${format}`;
  // Entries below the retention floor are not in any export: the headers say so (issue #17.4).
  const pruned = prunedHeaders(await prunedNotice(c));
  return new Response(body, {
    headers: {
      ...pruned,
      "content-type": format === "jsonl" ? "application/x-ndjson; charset=utf-8" : "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${filename}"`,
      "cache-control": "no-store",
    },
  });
});
