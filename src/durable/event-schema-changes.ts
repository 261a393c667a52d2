/**
 * Declaring an event schema as the TenantLog does it (`putEventSchema`): the schema's row
 * (event-schemas.ts) is written in the commit's own transaction that appends the entry recording
 * it, `sealtrail.schema.changed` (who: the entry's actor; metadata `{action, version, sha256}`;
 * target the action, type `event_schema`). A schema never applies without its entry, and a
 * refused declaration stores nothing.
 */
import type { JsonObject } from "../core/entry";
import { oversizedEntry } from "./entry-size";
import type { EventSchemaStore, EventSchemaView } from "./event-schemas";
import type { GroupCommit } from "./group-commit";
import { actorOf } from "./hold-changes";
import type { AppendItem, LogError, Receipt } from "./log-types";

export type SchemaChangeResult = { ok: true; schema: EventSchemaView; receipt: Receipt } | { ok: false; error: LogError };

/**
 * Declares a new version of `action`'s schema and appends `sealtrail.schema.changed` (metadata
 * `{action, version, sha256}`; target the action, type `event_schema`) in the same transaction.
 */
export async function putEventSchema(
  deps: { commit: GroupCommit; schemas: EventSchemaStore },
  tenant: string,
  action: string,
  schema: unknown,
  event: JsonObject,
  provenance: JsonObject,
): Promise<SchemaChangeResult> {
  const req = { items: [{ event }] as AppendItem[], provenance };
  let stored: EventSchemaView | undefined;
  const result = await deps.commit.enqueue(tenant, {
    req,
    prepare: () => {
      let items: AppendItem[] = [];
      const put = deps.schemas.put(action, schema, actorOf(event), (v) => {
        items = [
          {
            event: {
              ...event,
              targets: [{ id: action, type: "event_schema" }],
              metadata: { action, version: v.version, sha256: v.sha256 },
            },
          },
        ];
        // The entry that records the change must fit an entry bundle (entry-size.ts).
        return oversizedEntry(tenant, items, provenance);
      });
      if (!put.ok) return put.error;
      req.items = items;
      stored = put.value;
      return undefined;
    },
  });
  // Durable now (or not at all): the schema row and its entry were committed together; a crash
  // before the commit loses both, and the caller got no answer.
  if (!result.ok) return result;
  return { ok: true, schema: stored!, receipt: result.receipts[0]! };
}
