/**
 * Legal holds: the active and released holds with who created and released them, why, and what
 * they cover; a form to create one and, per active hold, a release with its reason. Creating
 * and releasing need `admin`; auditors (`verify`) see the list. Every change is logged.
 */
import { describeHoldScope } from "../core/holds";
import { json, tenantPath } from "./api";
import { h, show } from "./dom";
import { go, tenantHash, type TenantContext } from "./route";
import { ago, banner, changeNotice, errorBanner, field, onSubmit, recordedBanner, str } from "./ui";
import type { Hold, HoldChanged, HoldList, HoldScope } from "./wire";

/** The last change, shown by the next render of this page only (with the entry recording it). */
const lastChange = changeNotice();

const KINDS = [
  ["tenant", "the whole tenant"],
  ["time", "a time range (received_at)"],
  ["actor", "an actor"],
  ["target", "a target"],
] as const;

function scopeOf(d: FormData): HoldScope {
  const kind = str(d, "kind");
  if (kind === "time") return { kind, from: str(d, "from"), to: str(d, "to") };
  if (kind === "actor") return { kind, id: str(d, "id") };
  if (kind === "target") {
    const type = str(d, "type");
    return type ? { kind, type, id: str(d, "id") } : { kind, id: str(d, "id") };
  }
  return { kind: "tenant" };
}

function releaseForm(t: string, hold: Hold, status: HTMLElement): HTMLFormElement {
  const form = h(
    "form",
    { class: "inline", "data-testid": "release-hold" },
    h("input", { name: "reason", required: true, maxlength: 1024, placeholder: "why it is released", "aria-label": "Release reason" }),
    h("button", { type: "submit", class: "danger small" }, "Release"),
  );
  onSubmit(form, status, async (d) => {
    const { hold: released, receipt } = await json<HoldChanged>(tenantPath(t, `/holds/${encodeURIComponent(hold.id)}/release`), {
      body: { reason: str(d, "reason") },
    });
    lastChange.set({ tenant: t, text: `Released ${released.id}.`, seq: receipt.seq });
    go(tenantHash(t, "/holds"));
  });
  return form;
}

function holdRow(t: string, hold: Hold, ctx: TenantContext, status: HTMLElement): HTMLTableRowElement {
  const active = hold.released_at === undefined;
  return h(
    "tr",
    { "data-hold": hold.id, "data-state": active ? "active" : "released" },
    h(
      "td",
      null,
      h("span", { class: active ? "badtext" : "muted" }, active ? "active" : "released"),
      h("br"),
      h("code", null, show(hold.id)),
    ),
    h("td", null, show(describeHoldScope(hold.scope))),
    h("td", null, show(hold.reason)),
    h("td", { class: "nowrap" }, ago(hold.created_at, ctx.now), h("br"), h("small", null, "by ", show(hold.created_by))),
    h(
      "td",
      null,
      active
        ? releaseForm(t, hold, status)
        : [
            ago(hold.released_at, ctx.now),
            h("br"),
            h("small", null, "by ", show(hold.released_by ?? "")),
            h("br"),
            show(hold.release_reason ?? ""),
          ],
    ),
  );
}

export async function holdsPage(ctx: TenantContext): Promise<Node> {
  const t = ctx.tenant.id;
  const status = h("div", { "data-testid": "holds-status" });
  let list: HoldList;
  try {
    list = await json<HoldList>(tenantPath(t, "/holds"));
  } catch (e) {
    return h("section", null, h("h1", null, "Legal holds"), errorBanner(e));
  }
  const change = lastChange.take(t);
  if (change) status.replaceChildren(recordedBanner(change, tenantHash(t, `/events/${change.seq}`)));
  // Active holds first, then released ones; each group oldest first (the API's order).
  const holds = [...list.holds.filter((x) => x.released_at === undefined), ...list.holds.filter((x) => x.released_at !== undefined)];
  const form = h(
    "form",
    { class: "panel", "data-testid": "create-hold" },
    h("h2", null, "New hold"),
    field("Reason", h("textarea", { name: "reason", rows: 2, required: true, maxlength: 1024, placeholder: "Litigation: Doe v. Acme" })),
    field(
      "Scope",
      h(
        "select",
        { name: "kind" },
        KINDS.map(([k, what]) => h("option", { value: k }, what)),
      ),
      "What the hold keeps. A time range holds entries received in [from, to).",
    ),
    field("From (time range)", h("input", { name: "from", placeholder: "2026-01-01T00:00:00Z" }), "RFC 3339"),
    field("To (time range)", h("input", { name: "to", placeholder: "2026-07-01T00:00:00Z" }), "RFC 3339, after from"),
    field("Id (actor or target)", h("input", { name: "id", maxlength: 256, placeholder: "user_123" })),
    field("Type (target, optional)", h("input", { name: "type", maxlength: 64, placeholder: "document" })),
    h("button", { type: "submit" }, "Create hold"),
  );
  onSubmit(form, status, async (d) => {
    const { hold, receipt } = await json<HoldChanged>(tenantPath(t, "/holds"), { body: { reason: str(d, "reason"), scope: scopeOf(d) } });
    lastChange.set({ tenant: t, text: `Created ${hold.id}.`, seq: receipt.seq });
    go(tenantHash(t, "/holds"));
  });
  return h(
    "section",
    null,
    h("h1", null, "Legal holds"),
    h(
      "p",
      { class: "muted" },
      "While a hold is active, the retention sweep keeps every entry it covers, the retention period cannot be lowered, " +
        "and the personal data of the people it covers cannot be erased. Creating and releasing a hold is recorded in the log.",
    ),
    status,
    h("p", { "data-testid": "holds-summary" }, `${list.active} active, ${list.holds.length - list.active} released.`),
    holds.length === 0
      ? banner("info", "No legal holds.")
      : h(
          "table",
          { "data-testid": "holds-table" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["Hold", "Scope", "Reason", "Created", "Released"].map((c) => h("th", null, c)),
            ),
          ),
          h(
            "tbody",
            null,
            holds.map((x) => holdRow(t, x, ctx, status)),
          ),
        ),
    form,
  );
}
