/** Sign-in and sign-up, the tenant list, creating a tenant, and accepting an invitation. */
import { json } from "./api";
import { h, show } from "./dom";
import { go, tenantHash } from "./route";
import { banner, field, onSubmit, str } from "./ui";
import type { Invitation, Org } from "./wire";

export function authPage(mode: "signin" | "signup", next: string | null): HTMLElement {
  const status = h("div");
  const signup = mode === "signup";
  const form = h(
    "form",
    { class: "narrow" },
    h("h1", null, signup ? "Create your account" : "Sign in to Sealtrail"),
    signup ? field("Name", h("input", { name: "name", required: true, autocomplete: "name" })) : null,
    field("Email", h("input", { name: "email", type: "email", required: true, autocomplete: "email" })),
    field(
      "Password",
      h("input", {
        name: "password",
        type: "password",
        required: true,
        minlength: 10,
        autocomplete: signup ? "new-password" : "current-password",
      }),
      signup ? "At least 10 characters." : undefined,
    ),
    h("button", { type: "submit" }, signup ? "Create account" : "Sign in"),
    status,
    h(
      "p",
      { class: "muted" },
      signup ? "Already have an account? " : "New here? ",
      h(
        "a",
        { href: `#/${signup ? "signin" : "signup"}${next ? `?next=${encodeURIComponent(next)}` : ""}` },
        signup ? "Sign in" : "Create an account",
      ),
    ),
  );
  onSubmit(form, status, async (d) => {
    const body = signup
      ? { name: str(d, "name"), email: str(d, "email"), password: String(d.get("password")) }
      : { email: str(d, "email"), password: String(d.get("password")) };
    await json(signup ? "/api/auth/sign-up/email" : "/api/auth/sign-in/email", { body });
    go(next?.startsWith("#/") ? next : "#/");
  });
  return form;
}

const slugOf = (name: string) =>
  `${
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-|-$/g, "")
      .slice(0, 40) || "tenant"
  }-${crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36)}`;

/** Where a new tenant's data lives (src/durable/placement.ts JURISDICTIONS; the console imports only core). */
const JURISDICTIONS = [
  ["default", "Default"],
  ["eu", "European Union (eu)"],
  ["fedramp", "FedRAMP (fedramp)"],
] as const;

export function homePage(orgs: Org[]): HTMLElement {
  const status = h("div");
  const form = h(
    "form",
    { class: "inline" },
    field("Name", h("input", { name: "name", required: true, maxlength: 64, placeholder: "Acme production" })),
    // Chosen once: its entries never leave that jurisdiction (README "Where a tenant's data lives").
    field(
      "Data location",
      h(
        "select",
        { name: "jurisdiction" },
        JURISDICTIONS.map(([value, label]) => h("option", { value }, label)),
      ),
    ),
    h("button", { type: "submit" }, "Create tenant"),
  );
  onSubmit(form, status, async (d) => {
    const name = str(d, "name");
    const jurisdiction = str(d, "jurisdiction");
    const body = { name, slug: slugOf(name), ...(jurisdiction === "default" ? {} : { jurisdiction }) };
    const org = await json<Org>("/api/auth/organization/create", { body });
    go(tenantHash(org.id, "/overview"));
  });
  return h(
    "section",
    null,
    h("h1", null, "Tenants"),
    orgs.length === 0
      ? h("p", null, "You are not in any tenant yet. Create one (you become its owner), or open an invitation link someone sent you.")
      : h(
          "ul",
          { class: "tenants" },
          orgs.map((o) => h("li", null, h("a", { href: tenantHash(o.id, "/overview") }, show(o.name)), " ", h("code", null, o.id))),
        ),
    h("h2", null, "New tenant"),
    h("p", { class: "muted" }, "A tenant is an organization with its own append-only log, signing key and members."),
    form,
    status,
  );
}

export async function invitePage(id: string, secret: string | undefined): Promise<HTMLElement> {
  const status = h("div");
  if (!secret) {
    return h(
      "section",
      null,
      h("h1", null, "Invitation"),
      banner("bad", "This invitation link is incomplete: ask whoever invited you for the whole link."),
    );
  }
  let invitation: Invitation;
  try {
    invitation = await json<Invitation>(`/api/auth/organization/get-invitation?id=${encodeURIComponent(id)}`);
  } catch {
    return h(
      "section",
      null,
      h("h1", null, "Invitation"),
      banner("bad", "This invitation is not for the account you are signed in with, or it has expired or been used."),
    );
  }
  const accept = h("button", { type: "button" }, "Accept invitation");
  accept.addEventListener("click", async () => {
    try {
      // The link's one-time secret proves the link came from the inviter.
      await json(`/v1/invitations/${encodeURIComponent(id)}/accept`, { body: { secret } });
      go(tenantHash(invitation.organizationId, "/overview"));
    } catch (e) {
      status.replaceChildren(banner("bad", e instanceof Error ? e.message : String(e)));
    }
  });
  return h(
    "section",
    null,
    h("h1", null, "Invitation"),
    h(
      "p",
      null,
      "You are invited to ",
      h("strong", null, show(invitation.organizationName ?? invitation.organizationId)),
      " as ",
      h("strong", null, show(invitation.role)),
      ".",
    ),
    accept,
    status,
  );
}
