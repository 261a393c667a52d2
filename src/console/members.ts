/**
 * Members and roles, through better-auth's organization routes (which check the caller's own
 * role and refuse role names we did not define). Invitations are links: Sealtrail sends no
 * email, so the inviter passes the link on. The link carries a one-time secret, shown here once
 * (the server keeps only its hash); accepting needs it and an account with the invited address.
 */
import { json, query } from "./api";
import { h, show } from "./dom";
import { go, tenantHash, type TenantContext } from "./route";
import { ago, banner, copyable, errorBanner, field, onSubmit, str } from "./ui";
import type { InvitationRow, Invited, MemberList, MemberRow } from "./wire";

const ROLES = [
  ["member", "reads events"],
  ["auditor", "reads events, runs verification, downloads snapshots"],
  ["admin", "everything but deleting the owner"],
  ["owner", "everything"],
] as const;

/** The invitation link: the id and the one-time secret, in the fragment (never sent to a server by the browser). */
export const inviteLink = (id: string, secret: string) =>
  `${location.origin}/#/invite/${encodeURIComponent(id)}/${encodeURIComponent(secret)}`;

export async function membersPage(ctx: TenantContext): Promise<Node> {
  const t = ctx.tenant.id;
  const status = h("div");
  const reload = () => go(tenantHash(t, "/members"));
  const [members, invitations] = await Promise.all([
    json<MemberList>(`/api/auth/organization/list-members${query({ organizationId: t })}`),
    json<InvitationRow[]>(`/api/auth/organization/list-invitations${query({ organizationId: t })}`).catch(() => [] as InvitationRow[]),
  ]);
  const me = members.members.find((m) => m.userId === ctx.session.user.id);
  const canManage = me ? me.role.split(",").some((r) => r === "owner" || r === "admin") : false;
  const act = async (path: string, body: unknown) => {
    try {
      await json(path, { body });
      reload();
    } catch (e) {
      status.replaceChildren(errorBanner(e));
    }
  };
  const roleSelect = (m: MemberRow) => {
    const known = ROLES.some(([r]) => r === m.role);
    const s = h(
      "select",
      { "aria-label": `Role of ${m.user.email}`, disabled: !canManage || m.userId === ctx.session.user.id },
      // A role set outside the console (several roles, say) is shown as it is stored.
      known ? null : h("option", { value: m.role, selected: true }, m.role),
      ROLES.map(([r]) => h("option", { value: r, selected: m.role === r }, r)),
    );
    s.addEventListener(
      "change",
      () => void act("/api/auth/organization/update-member-role", { memberId: m.id, role: s.value, organizationId: t }),
    );
    return s;
  };
  const invited = h("div", { "data-testid": "invite-link" });
  const form = h(
    "form",
    { class: "panel inline" },
    field("Email", h("input", { name: "email", type: "email", required: true })),
    field(
      "Role",
      h(
        "select",
        { name: "role" },
        ROLES.map(([r, what]) => h("option", { value: r, title: what }, r)),
      ),
    ),
    h("button", { type: "submit" }, "Invite"),
  );
  onSubmit(form, status, async (d) => {
    const inv = await json<Invited>("/api/auth/organization/invite-member", {
      body: { email: str(d, "email"), role: str(d, "role"), organizationId: t },
    });
    invited.replaceChildren(
      h(
        "div",
        { class: "panel highlight" },
        h("p", null, "Send this link to ", show(inv.email), " yourself. They sign in (or sign up) with that address and accept:"),
        copyable(inviteLink(inv.id, inv.secret)),
        h(
          "p",
          { class: "muted" },
          "The link is shown only now. Anyone holding it who signs in with that address can join: send it privately.",
        ),
      ),
    );
    form.reset();
  });
  const pending = invitations.filter((i) => i.status === "pending");
  return h(
    "section",
    null,
    h("h1", null, "Members"),
    h(
      "p",
      { class: "muted" },
      ROLES.map(([r, what]) => h("span", { class: "role" }, h("strong", null, r), `: ${what}. `)),
    ),
    status,
    h(
      "table",
      { "data-testid": "members-table" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ["Person", "Role", "Member since", ""].map((c) => h("th", null, c)),
        ),
      ),
      h(
        "tbody",
        null,
        members.members.map((m) =>
          h(
            "tr",
            null,
            h("td", null, show(m.user.name), " ", h("small", null, show(m.user.email))),
            h("td", null, roleSelect(m)),
            h("td", null, ago(m.createdAt, ctx.now)),
            h(
              "td",
              null,
              canManage && m.userId !== ctx.session.user.id
                ? h(
                    "button",
                    {
                      type: "button",
                      class: "danger small",
                      onclick: () =>
                        confirm(`Remove ${m.user.email}?`) &&
                        void act("/api/auth/organization/remove-member", { memberIdOrEmail: m.id, organizationId: t }),
                    },
                    "Remove",
                  )
                : null,
            ),
          ),
        ),
      ),
    ),
    canManage ? [h("h2", null, "Invite someone"), form, invited] : banner("info", "Only owners and admins manage members."),
    pending.length > 0
      ? [
          h("h2", null, "Pending invitations"),
          h(
            "table",
            null,
            h(
              "tbody",
              null,
              pending.map((i) =>
                h(
                  "tr",
                  null,
                  h("td", null, show(i.email)),
                  h("td", null, i.role),
                  h("td", null, `expires ${i.expiresAt}`),
                  h("td", { class: "muted" }, "link shown once, when invited"),
                  h(
                    "td",
                    null,
                    canManage
                      ? h(
                          "button",
                          {
                            type: "button",
                            class: "secondary small",
                            onclick: () => void act("/api/auth/organization/cancel-invitation", { invitationId: i.id }),
                          },
                          "Cancel",
                        )
                      : null,
                  ),
                ),
              ),
            ),
          ),
        ]
      : null,
  );
}
