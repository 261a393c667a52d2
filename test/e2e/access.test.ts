/**
 * Expiring keys and just-in-time elevation in the console (issue #19.1, #19.2), against a locally
 * running Worker (wrangler dev on workerd), in Chromium: a key made with an expiry shows it (with
 * the week's warning); a member's elevation request is approved on the Access page, and the
 * approval is in the log.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { launchChromium } from "./browser";
import { signUpWithTenant } from "./console-flow";
import { startServer, type LocalServer } from "./server";

const PASSWORD = "correct horse battery";

let server: LocalServer;
let browser: Browser;
let page: Page;
let B: string;
let API: string;
let tenant = "";

beforeAll(async () => {
  server = await startServer();
  B = server.browserBase;
  API = server.base;
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  server?.stop();
});

/** A second person, signed up through the API (a bearer token, no browser). */
async function signUpApi(name: string): Promise<{ token: string; userId: string; email: string }> {
  const email = `${name.toLowerCase()}-${Date.now()}@example.com`;
  const res = await fetch(`${API}/api/auth/sign-up/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: API },
    body: JSON.stringify({ email, password: PASSWORD, name }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { token: string; user: { id: string } };
  return { token: res.headers.get("set-auth-token") ?? body.token, userId: body.user.id, email };
}

describe("expiring keys and just-in-time elevation in the console", () => {
  test("sign up and create a tenant", async () => {
    tenant = await signUpWithTenant(
      page,
      B,
      { name: "Olive Owner", email: `olive-${Date.now()}@example.com`, password: PASSWORD },
      "Access Inc",
    );
  });

  test("a key created with an expiry shows it, with a warning inside the last week", async () => {
    await page.getByRole("link", { name: "Keys" }).click();
    await page.getByLabel("Name").fill("short-lived-reader");
    await page.getByRole("checkbox", { name: /read/ }).first().check();
    await page.getByLabel("Expires after (days)").fill("3");
    await page.getByLabel("Event type prefix").fill("billing");
    await page.getByRole("button", { name: "Create key" }).click();
    const raw = (await page.getByTestId("raw-key").textContent())!.trim();
    expect(raw).toMatch(/^st_/);
    const row = page.locator("[data-testid=keys-table] tbody tr").filter({ hasText: "short-lived-reader" });
    const warning = row.getByTestId("key-expiry-warning");
    await expect.poll(() => warning.textContent()).toMatch(/expires in 2 days/);
    expect(await row.textContent()).toContain("view: actions billing.*");
    // The key list (the same the console reads) carries the expiry three days out.
    const listed = (await page.evaluate(async (t) => (await fetch(`/v1/tenants/${t}/keys`)).json(), tenant)) as {
      keys: { name: string; expires_at: string | null }[];
    };
    const expiresAt = Date.parse(listed.keys.find((k) => k.name === "short-lived-reader")!.expires_at!);
    expect(Math.abs(expiresAt - (Date.now() + 3 * 86_400_000))).toBeLessThan(120_000);
  });

  test("a member's elevation request is approved on the Access page; your own request has no approve button", async () => {
    const member = await signUpApi("Mia");
    const invited = (await page.evaluate(
      async ({ t, email }) =>
        (
          await fetch("/api/auth/organization/invite-member", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ email, role: "member", organizationId: t }),
          })
        ).json(),
      { t: tenant, email: member.email },
    )) as { id: string; secret: string };
    const auth = { authorization: `Bearer ${member.token}`, "content-type": "application/json" };
    const accepted = await fetch(`${API}/v1/invitations/${invited.id}/accept`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ secret: invited.secret }),
    });
    expect(accepted.status).toBe(200);
    const asked = await fetch(`${API}/v1/tenants/${tenant}/elevations`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ permission: "admin", duration_seconds: 1800, reason: "INC-7: rotate the ingest key" }),
    });
    expect(asked.status).toBe(201);
    const { elevation } = (await asked.json()) as { elevation: { id: string } };
    expect((await fetch(`${API}/v1/tenants/${tenant}/keys`, { headers: auth })).status).toBe(403);

    await page.getByRole("link", { name: "Access" }).click();
    await page.getByRole("heading", { name: "Access", exact: true }).waitFor();
    const row = page.locator(`tr[data-elevation="${elevation.id}"]`);
    await expect.poll(() => row.getAttribute("data-state")).toBe("requested");
    expect(await row.textContent()).toContain("INC-7: rotate the ingest key");
    await row.getByLabel(/Decision reason/).fill("on call this week");
    await row.getByRole("button", { name: "Approve" }).click();
    await expect.poll(() => page.locator(`tr[data-elevation="${elevation.id}"]`).getAttribute("data-state")).toBe("active");
    // Now in force for the member.
    expect((await fetch(`${API}/v1/tenants/${tenant}/keys`, { headers: auth })).status).toBe(200);

    // The owner's own request: listed, but with no approve/refuse for them.
    const form = page.getByTestId("request-elevation");
    await form.locator("select[name=permission]").selectOption("verify");
    await form.getByLabel("For (minutes)").fill("30");
    await form.getByLabel("Reason").fill("quarterly check");
    await form.getByRole("button", { name: "Ask" }).click();
    const own = page.locator("tr[data-state=requested]").filter({ hasText: "quarterly check" });
    await expect.poll(() => own.count()).toBe(1);
    expect(await own.getByRole("button", { name: "Approve" }).count()).toBe(0);

    const approved = (await page.evaluate(
      async (t) => (await fetch(`/v1/tenants/${t}/events?action=sealtrail.elevation.approved`)).json(),
      tenant,
    )) as { events: { event: { metadata: Record<string, unknown> } }[] };
    expect(approved.events).toHaveLength(1);
    expect(approved.events[0]!.event.metadata).toMatchObject({ user_id: member.userId, permission: "admin", reason: "on call this week" });
  });
});
