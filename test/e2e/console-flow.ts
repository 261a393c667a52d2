/**
 * Steps several browser tests start with, done through the console as a person would: sign up
 * and create a tenant, create an append key on the Keys page.
 */
import type { Page } from "playwright-core";

/** Signs up, creates a tenant and answers its id; the page is left on the tenant's overview. */
export async function signUpWithTenant(
  page: Page,
  base: string,
  who: { name: string; email: string; password: string },
  tenantName: string,
): Promise<string> {
  await page.goto(`${base}/#/signup`);
  await page.getByLabel("Name").fill(who.name);
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Tenants" }).waitFor();
  await page.getByLabel("Name").fill(tenantName);
  await page.getByRole("button", { name: "Create tenant" }).click();
  await page.getByRole("heading", { name: tenantName }).waitFor();
  return /#\/t\/([^/]+)\/overview/.exec(page.url())![1]!;
}

/** Creates an append-only key on the Keys page and answers it (shown once); the dialog is closed. */
export async function createAppendKey(page: Page, name = "billing-service"): Promise<string> {
  await page.getByRole("link", { name: "Keys" }).click();
  await page.getByLabel("Name").fill(name);
  await page
    .getByRole("checkbox", { name: /append/ })
    .first()
    .check();
  await page.getByRole("button", { name: "Create key" }).click();
  const key = (await page.getByTestId("raw-key").textContent())!.trim();
  await page.getByRole("button", { name: "Done, I stored it" }).click();
  return key;
}
