/**
 * Time-bounded access (issue #19.1 grants, #19.2 just-in-time elevation): a form to ask for a
 * permission for a while, the requests with approve/refuse for owners and admins (never for your
 * own: the server refuses self-approval), and the grants of auditor views with their windows.
 * Every request, decision, grant, use and end is an entry in the log.
 */
import { json, tenantPath } from "./api";
import { h, show } from "./dom";
import { go, tenantHash, type TenantContext } from "./route";
import { ago, banner, errorBanner, field, onSubmit, str } from "./ui";
import { describeView } from "./keys";
import type { Elevation, ElevationList, Grant, GrantList, View } from "./wire";

const PERMISSIONS = ["append", "read", "verify", "admin"] as const;

function decide(t: string, e: Elevation, status: HTMLElement): HTMLElement {
  const reason = h("input", { name: "reason", maxlength: 1024, placeholder: "why (logged)", "aria-label": `Decision reason for ${e.id}` });
  const act = (d: "approve" | "refuse") => async () => {
    try {
      const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
      await json(tenantPath(t, `/elevations/${encodeURIComponent(e.id)}/${d}`), { body });
      go(tenantHash(t, "/access"));
    } catch (err) {
      status.replaceChildren(errorBanner(err));
    }
  };
  return h(
    "div",
    { class: "inline", "data-testid": "decide-elevation" },
    reason,
    h("button", { type: "button", class: "small", onclick: act("approve") }, "Approve"),
    h("button", { type: "button", class: "danger small", onclick: act("refuse") }, "Refuse"),
  );
}

function elevationRow(t: string, e: Elevation, ctx: TenantContext, me: string, admin: boolean, status: HTMLElement) {
  const state = e.status === "approved" ? (e.active ? "active" : "ended") : e.status;
  return h(
    "tr",
    { "data-elevation": e.id, "data-state": state },
    h("td", null, h("span", { class: state === "active" ? "good" : state === "requested" ? "warntext" : "muted" }, state)),
    h("td", null, h("code", null, show(e.user_id)), e.user_id === me ? " (you)" : ""),
    h("td", null, e.permission),
    h("td", null, `${Math.round(e.duration_seconds / 60)} min`),
    h("td", null, show(e.reason)),
    h(
      "td",
      { class: "nowrap" },
      ago(e.requested_at, ctx.now),
      e.decided_by ? h("div", { class: "muted" }, `by ${e.decided_by}${e.decision_reason ? `: ${e.decision_reason}` : ""}`) : null,
      e.expires_at ? h("div", { class: "muted" }, `until ${e.expires_at}`) : null,
    ),
    h("td", null, e.status === "requested" && admin && e.user_id !== me ? decide(t, e, status) : null),
  );
}

function grantRow(t: string, g: Grant, status: HTMLElement) {
  const state = g.revoked_at ? "revoked" : g.active ? "active" : Date.parse(g.starts_at) > Date.now() ? "scheduled" : "ended";
  return h(
    "tr",
    { "data-grant": g.id, "data-state": state },
    h("td", null, h("span", { class: state === "active" ? "good" : "muted" }, state)),
    h("td", null, h("code", null, show(g.user_id))),
    h("td", null, describeView(g.view)),
    h("td", { class: "nowrap" }, `${g.starts_at} → ${g.expires_at}`),
    h("td", null, show(g.reason)),
    h(
      "td",
      null,
      state === "active" || state === "scheduled"
        ? h(
            "button",
            {
              type: "button",
              class: "danger small",
              onclick: async () => {
                try {
                  await json(tenantPath(t, `/grants/${encodeURIComponent(g.id)}/revoke`), { body: {} });
                  go(tenantHash(t, "/access"));
                } catch (e) {
                  status.replaceChildren(errorBanner(e));
                }
              },
            },
            "Revoke",
          )
        : null,
    ),
  );
}

export async function accessPage(ctx: TenantContext): Promise<Node> {
  const t = ctx.tenant.id;
  const status = h("div", { "data-testid": "access-status" });
  const me = ctx.session.user.id;
  let list: ElevationList;
  try {
    list = await json<ElevationList>(tenantPath(t, "/elevations"));
  } catch (e) {
    return h("section", null, h("h1", null, "Access"), errorBanner(e));
  }
  // Admins see every request and the grants; the list of grants needs admin, so try it.
  const grants = await json<GrantList>(tenantPath(t, "/grants")).then(
    (g) => g.grants,
    () => null,
  );
  const admin = grants !== null;

  const request = h(
    "form",
    { class: "panel", "data-testid": "request-elevation" },
    h("h2", null, "Ask for a permission"),
    field(
      "Permission",
      h(
        "select",
        { name: "permission" },
        PERMISSIONS.map((p) => h("option", { value: p }, p)),
      ),
    ),
    field(
      "For (minutes)",
      h("input", {
        name: "minutes",
        type: "number",
        min: 1,
        max: Math.floor(list.max_elevation_seconds / 60),
        required: true,
        value: "60",
      }),
      `At most ${Math.floor(list.max_elevation_seconds / 60)} minutes (setting max_elevation_seconds). It starts when approved and ends by itself.`,
    ),
    field("Reason", h("input", { name: "reason", required: true, maxlength: 1024, placeholder: "INC-1234: rotate the ingest key" })),
    h("button", { type: "submit" }, "Ask"),
  );
  onSubmit(request, status, async (d) => {
    await json(tenantPath(t, "/elevations"), {
      body: { permission: str(d, "permission"), duration_seconds: Number(str(d, "minutes")) * 60, reason: str(d, "reason") },
    });
    go(tenantHash(t, "/access"));
  });

  const grantForm = h(
    "form",
    { class: "panel", "data-testid": "create-grant" },
    h("h2", null, "Grant an auditor view"),
    h("p", { class: "muted" }, "read and verify within the view, for the window; it ends by itself."),
    field("Member's user id", h("input", { name: "user_id", required: true, maxlength: 64 })),
    field("For (hours)", h("input", { name: "hours", type: "number", min: 1, max: 2160, required: true, value: "24" })),
    field("Event type prefix", h("input", { name: "view_action", maxlength: 128 })),
    field("Target id", h("input", { name: "view_target", maxlength: 256 })),
    field("Reason", h("input", { name: "reason", required: true, maxlength: 1024 })),
    h("button", { type: "submit" }, "Grant"),
  );
  onSubmit(grantForm, status, async (d) => {
    const view: View = {
      ...(str(d, "view_action") ? { action_prefix: str(d, "view_action") } : {}),
      ...(str(d, "view_target") ? { target: { id: str(d, "view_target") } } : {}),
    };
    await json(tenantPath(t, "/grants"), {
      body: { user_id: str(d, "user_id"), view, duration_seconds: Number(str(d, "hours")) * 3600, reason: str(d, "reason") },
    });
    go(tenantHash(t, "/access"));
  });

  const pending = list.elevations.filter((e) => e.status === "requested").length;
  return h(
    "section",
    null,
    h("h1", null, "Access"),
    h(
      "p",
      { class: "muted" },
      "Just-in-time elevation: a member asks for a permission for a while; an owner or admin other than them approves or refuses. " +
        "Each request, decision, use and end is recorded in the log.",
    ),
    status,
    pending > 0 && admin ? banner("warn", `${pending} request${pending === 1 ? "" : "s"} awaiting a decision.`) : null,
    list.elevations.length === 0
      ? banner("info", "No elevation requests.")
      : h(
          "table",
          { "data-testid": "elevations-table" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["State", "Member", "Permission", "For", "Reason", "Asked", ""].map((c) => h("th", null, c)),
            ),
          ),
          h(
            "tbody",
            null,
            list.elevations.map((e) => elevationRow(t, e, ctx, me, admin, status)),
          ),
        ),
    request,
    admin
      ? [
          h("h2", null, "Grants"),
          grants.length === 0
            ? banner("info", "No grants.")
            : h(
                "table",
                { "data-testid": "grants-table" },
                h(
                  "thead",
                  null,
                  h(
                    "tr",
                    null,
                    ["State", "Member", "View", "Window", "Reason", ""].map((c) => h("th", null, c)),
                  ),
                ),
                h(
                  "tbody",
                  null,
                  grants.map((g) => grantRow(t, g, status)),
                ),
              ),
          grantForm,
        ]
      : null,
  );
}
