/**
 * Issue #19.3 and #19.4 in the console, in Chromium against wrangler dev: an admin declares an
 * event schema on the Schemas page (and sees the version and the entry recording it), an event
 * that does not match is refused by the API, and the Events page's search box finds events by
 * words in their names and metadata, with a hostile query shown as the API's refusal.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { launchChromium } from "./browser";
import { createAppendKey, signUpWithTenant } from "./console-flow";
import { startServer, type LocalServer } from "./server";

const PASSWORD = "correct horse battery";

let server: LocalServer;
let browser: Browser;
let page: Page;
let B: string;
let API: string;
let tenant = "";
let appendKey = "";

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

const post = (body: unknown) =>
  fetch(`${API}/v1/tenants/${tenant}/events`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": appendKey },
    body: JSON.stringify(body),
  });

describe("event schemas and search in the console", () => {
  test("sign up, create a tenant and an append key", async () => {
    tenant = await signUpWithTenant(
      page,
      B,
      { name: "Sam Search", email: `sam-search-${Date.now()}@example.com`, password: PASSWORD },
      "Search Inc",
    );
    appendKey = await createAppendKey(page);
  });

  test("the Schemas page declares a schema; a non-matching event is refused, a matching one stored", async () => {
    await page.getByRole("link", { name: "Schemas" }).click();
    await page.getByRole("heading", { name: "Event schemas" }).waitFor();
    await page.getByLabel("Action").fill("invoice.paid");
    // The example schema: metadata.amount, a number ≥ 0, required.
    await page.getByRole("button", { name: "Save as a new version" }).click();
    await page.getByTestId("schemas-status").getByText("Saved invoice.paid version 1.").waitFor();
    await expect(page.getByTestId("schemas-table").locator('tr[data-action="invoice.paid"]').textContent()).resolves.toContain("1 of 1");

    const bad = await post({ action: "invoice.paid", actor: { id: "u1", type: "user" }, outcome: "success", metadata: { amount: "12" } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe("schema_violation");
    const ok = await post({
      events: [
        {
          action: "invoice.paid",
          actor: { id: "u1", type: "user", name: "Grace Hopper" },
          outcome: "success",
          metadata: { amount: 12, note: "zanzibar" },
        },
        { action: "invoice.paid", actor: { id: "u2", type: "user", name: "Alan Turing" }, outcome: "success", metadata: { amount: 3 } },
      ],
    });
    expect(ok.status).toBe(201);
  });

  test("the Events page's search box finds by name and metadata words; a hostile query shows the refusal", async () => {
    await page.getByRole("link", { name: "Events" }).click();
    await page.getByTestId("event-search").fill("zanzibar");
    await page.getByRole("button", { name: "Search" }).click();
    const rows = page.locator("[data-testid=events-table] tbody tr");
    await expect.poll(() => rows.count()).toBe(1);
    await expect(rows.first().textContent()).resolves.toContain("Grace Hopper");
    expect(page.url()).toContain("q=zanzibar");

    await page.getByTestId("event-search").fill("turing");
    await page.getByRole("button", { name: "Search" }).click();
    await expect
      .poll(async () => (await rows.count()) === 1 && ((await rows.first().textContent()) ?? "").includes("Alan Turing"))
      .toBe(true);

    await page.getByTestId("event-search").fill('"NEAR(');
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByText(/plain words only/).waitFor();
  });
});
