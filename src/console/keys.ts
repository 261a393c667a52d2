/** API keys: secret keys for machines and publishable ingest keys for browsers. */
import { json, tenantPath } from "./api";
import { h, show } from "./dom";
import { go, tenantHash, type TenantContext } from "./route";
import { ago, banner, copyable, errorBanner, field, onSubmit, str } from "./ui";
import type { CreatedKey, KeyList, KeyRow, View } from "./wire";

const WEEK_MS = 7 * 86_400_000;

/** A key's expiry as the table shows it: never, expired, a warning within a week, or the date. */
export function expiryCell(k: Pick<KeyRow, "expires_at" | "expired">, now: Date): HTMLElement {
  if (k.expires_at === null) return h("span", { class: "muted" }, "never");
  const left = Date.parse(k.expires_at) - now.getTime();
  if (k.expired || left <= 0) return h("span", { class: "badtext", "data-testid": "key-expired" }, `expired ${k.expires_at}`);
  const when = h("time", { datetime: k.expires_at }, k.expires_at);
  if (left <= WEEK_MS) {
    const days = Math.floor(left / 86_400_000);
    const hours = Math.floor(left / 3_600_000);
    const inText = days >= 1 ? `${days} day${days === 1 ? "" : "s"}` : hours >= 1 ? `${hours} h` : "less than an hour";
    return h("span", { class: "warntext", "data-testid": "key-expiry-warning" }, when, ` (expires in ${inText})`);
  }
  return h("span", null, when);
}

/** A view in words, for the key table. */
export function describeView(v: View | undefined): string {
  if (!v) return "whole log";
  const parts: string[] = [];
  if (v.action_prefix) parts.push(`actions ${v.action_prefix}.*`);
  if (v.actor) parts.push(`actor ${v.actor}`);
  if (v.target) parts.push(`target ${v.target.type ? `${v.target.type}:` : ""}${v.target.id}`);
  if (v.received_from) parts.push(`from ${v.received_from}`);
  if (v.received_to) parts.push(`until ${v.received_to}`);
  return parts.length === 0 ? "whole log" : parts.join(", ");
}

const PERMISSIONS = [
  ["append", "append events"],
  ["read", "read and export events"],
  ["verify", "run verification, download snapshots"],
  ["admin", "manage keys, members, settings and legal holds"],
] as const;

/** The key just created, shown by the next render of this page only (then forgotten). */
let justCreated: (CreatedKey & { tenant: string }) | null = null;

const originsOf = (text: string) =>
  text
    .split(/[\s,]+/)
    .map((o) => o.trim())
    .filter(Boolean);

function originsEditor(t: string, k: KeyRow, status: HTMLElement): HTMLElement {
  const area = h("textarea", { rows: 2, "aria-label": `Allowed origins of ${k.name}` }, (k.allowed_origins ?? []).join("\n"));
  const save = h("button", { type: "button", class: "secondary small" }, "Save origins");
  save.addEventListener("click", async () => {
    try {
      await json(tenantPath(t, `/keys/${k.id}`), { method: "PATCH", body: { allowed_origins: originsOf(area.value) } });
      go(tenantHash(t, "/keys"));
    } catch (e) {
      status.replaceChildren(errorBanner(e));
    }
  });
  return h("div", { class: "origins" }, area, save);
}

export async function keysPage(ctx: TenantContext): Promise<Node> {
  const t = ctx.tenant.id;
  const status = h("div");
  let rows: KeyRow[];
  try {
    rows = (await json<KeyList>(tenantPath(t, "/keys"))).keys;
  } catch (e) {
    return h("section", null, h("h1", null, "Keys"), errorBanner(e));
  }
  const created = h("div", { "data-testid": "created-key" });
  const fresh = justCreated?.tenant === t ? justCreated : null;
  justCreated = null;
  if (fresh) created.replaceChildren(createdPanel(t, fresh));
  const publishable = h("input", { type: "checkbox", name: "publishable" });
  const origins = field(
    "Allowed origins (publishable keys)",
    h("textarea", { name: "origins", rows: 2, placeholder: "https://app.example.com" }),
    "One per line. Browsers on these origins may append with the key; nothing else.",
  );
  const form = h(
    "form",
    { class: "panel", "data-testid": "create-key" },
    h("h2", null, "New key"),
    field("Name", h("input", { name: "name", required: true, maxlength: 64, placeholder: "billing-service" })),
    h(
      "fieldset",
      null,
      h("legend", null, "Permissions"),
      PERMISSIONS.map(([p, what]) =>
        h("label", { class: "check" }, h("input", { type: "checkbox", name: "perm", value: p }), ` ${p} `, h("small", null, what)),
      ),
    ),
    h("label", { class: "check" }, publishable, " Publishable ingest key for browsers (append only, bound to origins)"),
    origins,
    field(
      "Expires after (days)",
      h("input", { name: "expires_days", type: "number", min: 1, max: 1830, placeholder: "never" }),
      "Empty: the key never expires. An expired key is refused (401 key_expired).",
    ),
    h(
      "fieldset",
      null,
      h("legend", null, "View (optional): what reads through this key may see"),
      field("Event type prefix", h("input", { name: "view_action", maxlength: 128, placeholder: "billing" })),
      field("Actor id", h("input", { name: "view_actor", maxlength: 256 })),
      field("Target id", h("input", { name: "view_target", maxlength: 256, placeholder: "org_acme" })),
    ),
    h("button", { type: "submit" }, "Create key"),
  );
  onSubmit(form, status, async (d) => {
    const isPublishable = d.get("publishable") !== null;
    const body = {
      name: str(d, "name"),
      permissions: isPublishable ? ["append"] : d.getAll("perm").map(String),
      ...(isPublishable ? { allowed_origins: originsOf(str(d, "origins")) } : {}),
      ...(str(d, "expires_days") ? { expires_in_seconds: Number(str(d, "expires_days")) * 86_400 } : {}),
    };
    const view: View = {
      ...(str(d, "view_action") ? { action_prefix: str(d, "view_action") } : {}),
      ...(str(d, "view_actor") ? { actor: str(d, "view_actor") } : {}),
      ...(str(d, "view_target") ? { target: { id: str(d, "view_target") } } : {}),
    };
    if (Object.keys(view).length > 0) Object.assign(body, { view });
    const k = await json<CreatedKey>(tenantPath(t, "/keys"), { body });
    // Rendered again so the list shows the new key; the raw key is shown by that render only.
    justCreated = { ...k, tenant: t };
    go(tenantHash(t, "/keys"));
  });
  return h(
    "section",
    null,
    h("h1", null, "Keys"),
    h(
      "p",
      { class: "muted" },
      "Keys belong to the tenant. Give each service its own key with the least permission it needs. Revoking a key and changing its origins is recorded in the log.",
    ),
    created,
    status,
    rows.length === 0
      ? banner("info", "No keys yet.")
      : h(
          "table",
          { "data-testid": "keys-table" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["Name", "Type", "Starts with", "Permissions", "Expires", "Created", "Last used", ""].map((c) => h("th", null, c)),
            ),
          ),
          h(
            "tbody",
            null,
            rows.map((k) =>
              h(
                "tr",
                { "data-key": k.id },
                h("td", null, show(k.name)),
                h("td", null, k.type, k.type === "publishable" ? originsEditor(t, k, status) : null),
                h("td", null, h("code", null, show(k.start ?? ""))),
                h("td", null, k.permissions.join(", "), k.view ? h("div", { class: "muted" }, `view: ${describeView(k.view)}`) : null),
                h("td", { class: "nowrap", "data-testid": "key-expiry" }, expiryCell(k, ctx.now)),
                h("td", { class: "nowrap" }, ago(k.created_at, ctx.now)),
                h("td", { class: "nowrap" }, ago(k.last_used_at, ctx.now)),
                h(
                  "td",
                  null,
                  h(
                    "button",
                    {
                      type: "button",
                      class: "danger small",
                      onclick: async () => {
                        if (!confirm(`Revoke “${k.name}”? Anything using it stops working at once.`)) return;
                        try {
                          await json(tenantPath(t, `/keys/${k.id}`), { method: "DELETE" });
                          go(tenantHash(t, "/keys"));
                        } catch (e) {
                          status.replaceChildren(errorBanner(e));
                        }
                      },
                    },
                    "Revoke",
                  ),
                ),
              ),
            ),
          ),
        ),
    form,
  );
}

function createdPanel(t: string, k: { key: string; name: string; type: string; permissions: string[] }): HTMLElement {
  const example = JSON.stringify({
    action: "user.login",
    actor: { id: "user-42", type: "user" },
    targets: [{ id: "app", type: "application" }],
    outcome: "success",
  });
  const tryIt =
    k.type === "secret" && k.permissions.includes("append")
      ? [
          h("p", null, "Try it: append an event, then find it on the Events page."),
          copyable(
            `curl -X POST ${location.origin}${tenantPath(t, "/events")} \\\n  -H "x-api-key: ${k.key}" -H "content-type: application/json" \\\n  -d '${example}'`,
            "try-it",
          ),
        ]
      : null;
  return h(
    "div",
    { class: "panel highlight" },
    h("strong", null, `Your new ${k.type} key “`, show(k.name), "”. Copy it now: it is shown only once."),
    copyable(k.key, "raw-key"),
    tryIt,
    h("button", { type: "button", class: "secondary small", onclick: () => go(tenantHash(t, "/keys")) }, "Done, I stored it"),
  );
}
