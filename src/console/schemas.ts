/**
 * Event schemas (issue #19.3): the latest schema of each action (version, hash, who, when), one
 * action's versions, and a form to declare a new version (admin; logged as
 * sealtrail.schema.changed). Schemas are shown as text (`show`): never as markup.
 */
import { json, tenantPath } from "./api";
import { h, show } from "./dom";
import { go, tenantHash, type TenantContext } from "./route";
import { ago, banner, changeNotice, errorBanner, field, onSubmit, recordedBanner, str } from "./ui";
import type { EventSchema, EventSchemaChanged, EventSchemaList } from "./wire";

/** The last change, shown by the next render of this page only (with the entry recording it). */
const lastChange = changeNotice();

const EXAMPLE = '{\n  "type": "object",\n  "required": ["amount"],\n  "properties": { "amount": { "type": "number", "minimum": 0 } }\n}';

export async function schemasPage(ctx: TenantContext): Promise<Node> {
  const t = ctx.tenant.id;
  const status = h("div", { "data-testid": "schemas-status" });
  let list: EventSchemaList;
  try {
    list = await json<EventSchemaList>(tenantPath(t, "/schemas"));
  } catch (e) {
    return h("section", null, h("h1", null, "Event schemas"), errorBanner(e));
  }
  const change = lastChange.take(t);
  if (change) status.replaceChildren(recordedBanner(change, tenantHash(t, `/events/${change.seq}`)));
  // `#/t/<t>/schemas/<action>`: that action's latest schema, to read or edit.
  const selected = ctx.route.parts[0];
  let current: EventSchema | undefined;
  if (selected !== undefined) {
    try {
      current = await json<EventSchema>(tenantPath(t, `/schemas/${encodeURIComponent(selected)}`));
    } catch (e) {
      status.append(errorBanner(e));
    }
  }
  const text = h("textarea", { name: "schema", rows: 12, required: true, spellcheck: false, "data-testid": "schema-text" });
  text.value = current ? JSON.stringify(current.schema, null, 2) : EXAMPLE;
  const form = h(
    "form",
    { class: "panel", "data-testid": "put-schema" },
    h("h2", null, current ? `New version of ${current.action}` : "Declare a schema"),
    field(
      "Action",
      h("input", { name: "action", required: true, maxlength: 128, value: current?.action ?? "", placeholder: "invoice.paid" }),
      "Events of this action must match from the next commit on; others pass as before.",
    ),
    field("JSON Schema (draft 2020-12) for metadata", text, "Local $refs only; at most 16 KiB and 10 levels deep."),
    h("button", { type: "submit" }, "Save as a new version"),
  );
  onSubmit(form, status, async (d) => {
    let schema: unknown;
    try {
      schema = JSON.parse(str(d, "schema"));
    } catch {
      throw new Error("The schema is not valid JSON.");
    }
    const action = str(d, "action");
    const { schema: saved, receipt } = await json<EventSchemaChanged>(tenantPath(t, `/schemas/${encodeURIComponent(action)}`), {
      method: "PUT",
      body: { schema },
    });
    lastChange.set({ tenant: t, text: `Saved ${saved.action} version ${saved.version}.`, seq: receipt.seq });
    go(tenantHash(t, `/schemas/${encodeURIComponent(saved.action)}`));
  });
  return h(
    "section",
    null,
    h("h1", null, "Event schemas"),
    h(
      "p",
      { class: "muted" },
      "A schema constrains the metadata of one action: an event that does not match is refused (400) and nothing of its request is stored. " +
        "Every change is a new version, recorded in the log.",
    ),
    status,
    list.schemas.length === 0
      ? banner("info", "No schemas: every action is accepted as it is.")
      : h(
          "table",
          { "data-testid": "schemas-table" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["Action", "Version", "SHA-256", "Declared"].map((c) => h("th", null, c)),
            ),
          ),
          h(
            "tbody",
            null,
            list.schemas.map((s) =>
              h(
                "tr",
                { "data-action": s.action },
                h("td", null, h("a", { href: tenantHash(t, `/schemas/${encodeURIComponent(s.action)}`) }, show(s.action))),
                h("td", null, `${s.version} of ${s.versions}`),
                h("td", null, h("code", null, show(s.sha256.slice(0, 12)), "…")),
                h("td", { class: "nowrap" }, ago(s.created_at, ctx.now), h("br"), h("small", null, "by ", show(s.created_by))),
              ),
            ),
          ),
        ),
    form,
  );
}
