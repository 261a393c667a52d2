/**
 * Sealtrail's web console: a single page served by the Worker as static assets. Routing is by
 * location hash (#/t/<tenant>/<page>), so every path the server sees is an API path or a file.
 * The console holds no secrets: it uses the person's better-auth cookie session.
 */
import { accessPage } from "./access";
import { ApiError, json } from "./api";
import { h, mount, show } from "./dom";
import { authPage, homePage, invitePage } from "./home";
import { eventsPage } from "./events";
import { holdsPage } from "./holds";
import { schemasPage } from "./schemas";
import { keysPage } from "./keys";
import { kpiPage } from "./kpi";
import { membersPage } from "./members";
import { overviewPage } from "./overview";
import { settingsPage } from "./settings";
import { personalDataPage } from "./personal-data";
import { snapshotsPage } from "./snapshots";
import { sourcesPage } from "./sources";
import { streamsPage } from "./streams";
import { go, parseRoute, tenantHash, type TenantContext } from "./route";
import { errorBanner } from "./ui";
import { verifyPage } from "./verify";
import type { Org, Session } from "./wire";

const TENANT_PAGES: Record<string, { title: string; render: (ctx: TenantContext) => Promise<Node> }> = {
  overview: { title: "Overview", render: overviewPage },
  events: { title: "Events", render: eventsPage },
  verify: { title: "Verification", render: verifyPage },
  snapshots: { title: "Snapshots", render: snapshotsPage },
  sources: { title: "Sources", render: sourcesPage },
  kpis: { title: "KPIs", render: kpiPage },
  keys: { title: "Keys", render: keysPage },
  streams: { title: "Streams", render: streamsPage },
  members: { title: "Members", render: membersPage },
  access: { title: "Access", render: accessPage },
  holds: { title: "Legal holds", render: holdsPage },
  schemas: { title: "Schemas", render: schemasPage },
  settings: { title: "Settings", render: settingsPage },
  personal: { title: "Personal data", render: personalDataPage },
};

async function session(): Promise<Session | null> {
  return json<Session | null>("/api/auth/get-session");
}

function header(s: Session | null, orgs: Org[], current?: Org): HTMLElement {
  const switcher =
    s && orgs.length > 0
      ? h(
          "select",
          {
            "aria-label": "Tenant",
            "data-testid": "tenant-switcher",
            onchange: (ev: Event) => {
              const id = (ev.target as HTMLSelectElement).value;
              go(id === "" ? "#/" : tenantHash(id, "/overview"));
            },
          },
          h("option", { value: "" }, "All tenants…"),
          orgs.map((o) => h("option", { value: o.id, selected: o.id === current?.id }, o.name)),
        )
      : null;
  return h(
    "header",
    null,
    h("a", { href: "#/", class: "brand" }, "Sealtrail"),
    switcher,
    h("span", { class: "spacer" }),
    s
      ? [
          h("span", { class: "who" }, show(s.user.email)),
          h(
            "button",
            {
              type: "button",
              class: "secondary small",
              onclick: async () => {
                await json("/api/auth/sign-out", { method: "POST", body: {} });
                go("#/signin");
              },
            },
            "Sign out",
          ),
        ]
      : null,
  );
}

function nav(tenant: Org, page: string): HTMLElement {
  return h(
    "nav",
    null,
    Object.entries(TENANT_PAGES).map(([id, p]) =>
      h(
        "a",
        { href: tenantHash(tenant.id, `/${id}`), class: id === page ? "active" : null, "aria-current": id === page ? "page" : null },
        p.title,
      ),
    ),
  );
}

let rendering = 0;

export async function render(): Promise<void> {
  const ticket = ++rendering;
  const root = document.getElementById("app")!;
  try {
    const route = parseRoute(location.hash);
    const [first, ...rest] = route.parts;
    const s = await session();
    if (first === "signin" || first === "signup") {
      mount(root, header(s, []), h("main", null, authPage(first, route.params.get("next"))));
      return;
    }
    if (!s) {
      const next = location.hash && !location.hash.startsWith("#/signin") ? location.hash : "";
      go(`#/signin${next ? `?next=${encodeURIComponent(next)}` : ""}`);
      return;
    }
    const orgs = await json<Org[]>("/api/auth/organization/list");
    if (ticket !== rendering) return;
    if (first === "invite" && rest[0]) {
      mount(root, header(s, orgs), h("main", null, await invitePage(rest[0], rest[1])));
      return;
    }
    if (first !== "t" || !rest[0]) {
      mount(root, header(s, orgs), h("main", null, homePage(orgs)));
      return;
    }
    const tenant = orgs.find((o) => o.id === rest[0]);
    const pageId = rest[1] ?? "overview";
    const page = TENANT_PAGES[pageId];
    if (!tenant || !page) {
      mount(root, header(s, orgs), h("main", null, errorBanner(new ApiError(404, "not_found", "No such tenant or page for you."))));
      return;
    }
    const main = h("main", null, h("p", { class: "muted" }, "Loading…"));
    mount(root, header(s, orgs, tenant), nav(tenant, pageId), main);
    document.title = `${page.title} · ${tenant.name} · Sealtrail`;
    const content = await page.render({ tenant, session: s, orgs, route: { parts: rest.slice(2), params: route.params }, now: new Date() });
    if (ticket === rendering) mount(main, content);
  } catch (e) {
    if (ticket === rendering) mount(root, header(null, []), h("main", null, errorBanner(e)));
  }
}

window.addEventListener("hashchange", () => void render());
void render();
