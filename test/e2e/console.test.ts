/**
 * The web console in a real browser (Chromium, found by ./browser.ts, driven by playwright-core) against a
 * locally running Worker (wrangler dev on workerd): a person signs up, creates a tenant and a
 * key, events arrive through the API, the person finds them with a filter, verifies the log
 * (on the server and in the browser), sees hostile content shown inert, downloads a snapshot,
 * invites an auditor, changes a setting, and sees a tampered D1 row named by the console.
 * E2E_SCREENSHOTS=1 (npm run screenshots) also writes the screenshots in docs/screenshots.
 */
import { createHash, generateKeyPairSync } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { launchChromium } from "./browser";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startServer, tamperD1, type LocalServer } from "./server";

const SHOTS = process.env.E2E_SCREENSHOTS === "1" ? "docs/screenshots" : null;
const PASSWORD = "correct horse battery";

let server: LocalServer;
let browser: Browser;
let owner: BrowserContext;
let page: Page;
/** The console's address in the browser (localhost); API calls from the test go to `API`. */
let B: string;
let API: string;
let tenant = "";
let appendKey = "";
/** The sequence number of a user.login event, tampered with in the last test. */
let loginSeq = -1;
const dialogs: string[] = [];

async function shot(p: Page, name: string) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await p.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

async function newPage(ctx: BrowserContext): Promise<Page> {
  const p = await ctx.newPage();
  p.on("dialog", async (d) => {
    // Only the console's own confirm() prompts are expected; anything else is injected script.
    dialogs.push(`${d.type()}: ${d.message()}`);
    if (d.type() === "confirm") await d.accept();
    else await d.dismiss();
  });
  return p;
}

async function signUp(p: Page, name: string, email: string, next = "") {
  await p.goto(`${B}/#/signup${next ? `?next=${encodeURIComponent(next)}` : ""}`);
  await p.getByLabel("Name").fill(name);
  await p.getByLabel("Email").fill(email);
  await p.getByLabel("Password").fill(PASSWORD);
  await p.getByRole("button", { name: "Create account" }).click();
}

async function append(events: unknown[]) {
  const res = await fetch(`${API}/v1/tenants/${tenant}/events`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": appendKey },
    body: JSON.stringify({ events }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { receipts: { seq: number }[] }).receipts;
}

beforeAll(async () => {
  server = await startServer();
  B = server.browserBase;
  API = server.base;
  browser = await launchChromium();
  owner = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  page = await newPage(owner);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  server?.stop();
});

describe("the console", () => {
  test("sign up, create a tenant, see its overview", async () => {
    await page.goto(`${B}/`);
    await expect.poll(() => page.url()).toContain("#/signin");
    await shot(page, "sign-in");
    await signUp(page, "Olivia Owner", `olivia-${Date.now()}@example.com`);
    await page.getByRole("heading", { name: "Tenants" }).waitFor();
    await page.getByLabel("Name").fill("Acme production");
    await page.getByRole("button", { name: "Create tenant" }).click();
    await page.getByRole("heading", { name: "Acme production" }).waitFor();
    tenant = /#\/t\/([^/]+)\/overview/.exec(page.url())![1]!;
    await expect.poll(() => page.getByTestId("alerts").textContent()).toContain("All is well");
    await expect.poll(() => page.getByText(/default D1 shard \d/).count()).toBe(1);
  });

  test("a tenant created in the EU: the overview says where its data lives", async () => {
    await page.goto(`${B}/#/`);
    await page.getByRole("heading", { name: "Tenants" }).waitFor();
    await page.getByLabel("Name").fill("Acme EU");
    await page.getByLabel("Data location").selectOption("eu");
    await page.getByRole("button", { name: "Create tenant" }).click();
    await page.getByRole("heading", { name: "Acme EU" }).waitFor();
    await expect.poll(() => page.getByText("eu D1 shard 0").count()).toBe(1);
    // Back to the first tenant for the tests that follow.
    await page.goto(`${B}/#/t/${tenant}/overview`);
    await page.getByRole("heading", { name: "Acme production" }).waitFor();
  });

  test("create an append key; the raw key is shown once and works", async () => {
    await page.getByRole("link", { name: "Keys" }).click();
    await page.getByLabel("Name").fill("billing-service");
    await page
      .getByRole("checkbox", { name: /append/ })
      .first()
      .check();
    await page.getByRole("button", { name: "Create key" }).click();
    appendKey = (await page.getByTestId("raw-key").textContent())!.trim();
    expect(appendKey).toMatch(/^st_/);
    // A new user is shown how to send a first event with it.
    expect(await page.getByTestId("try-it").textContent()).toContain(`-H "x-api-key: ${appendKey}"`);
    await shot(page, "keys");
    await page.getByRole("button", { name: "Done, I stored it" }).click();
    await expect.poll(() => page.getByTestId("raw-key").count()).toBe(0);
    const table = page.getByTestId("keys-table");
    await expect.poll(() => table.textContent()).toContain("billing-service");
    // The list never shows the raw key again.
    expect(await page.content()).not.toContain(appendKey);
  });

  test("a publishable key is bound to origins, which can be changed later", async () => {
    await page.getByLabel("Name").fill("marketing-site");
    await page.getByRole("checkbox", { name: /Publishable ingest key/ }).check();
    await page.getByLabel("Allowed origins (publishable keys)").fill("https://www.example.com");
    await page.getByRole("button", { name: "Create key" }).click();
    const publishable = (await page.getByTestId("raw-key").textContent())!.trim();
    expect(publishable).toMatch(/^pk_/);
    await page.getByRole("button", { name: "Done, I stored it" }).click();
    // The page is drawn again without the one-time panel: edit only once that is done.
    await expect.poll(() => page.getByTestId("raw-key").count()).toBe(0);
    const origins = page.getByLabel("Allowed origins of marketing-site");
    await expect.poll(() => origins.textContent()).toBe("https://www.example.com");
    await origins.fill("https://shop.example.com");
    await page.getByRole("button", { name: "Save origins" }).click();
    // The list is drawn again from the server: the textarea's text is what the server holds.
    await expect.poll(() => page.getByLabel("Allowed origins of marketing-site").textContent()).toBe("https://shop.example.com");
    // The new origin may send events with it; the old one may not.
    const send = (origin: string) =>
      fetch(`${API}/v1/tenants/${tenant}/events`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": publishable, origin },
        body: JSON.stringify({
          action: "page.viewed",
          actor: { id: "visitor", type: "anonymous" },
          targets: [{ id: "home", type: "page" }],
          outcome: "success",
        }),
      });
    expect((await send("https://shop.example.com")).status).toBe(201);
    expect((await send("https://www.example.com")).status).toBe(403);
  });

  test("events appended through the API are found with a filter", async () => {
    const batch = [];
    for (let i = 0; i < 30; i++) {
      batch.push({
        action: i % 3 === 0 ? "invoice.paid" : "user.login",
        actor: { id: `user-${i % 5}`, type: "user", name: `User ${i % 5}` },
        targets: [{ id: `inv-${i}`, type: "invoice" }],
        outcome: i % 7 === 0 ? "failure" : "success",
      });
    }
    const receipts = await append(batch);
    loginSeq = receipts[1]!.seq;
    await page.getByRole("link", { name: "Events" }).click();
    await page.getByLabel("Action").fill("invoice.*");
    await page.getByRole("button", { name: "Search" }).click();
    await expect.poll(() => page.url()).toContain("action=invoice.*");
    const rows = page.locator("[data-testid=events-table] tbody tr");
    await expect.poll(() => rows.count()).toBe(10);
    for (const text of await rows.locator("td:nth-child(3)").allTextContents()) expect(text).toBe("invoice.paid");
    await shot(page, "events");
    await page.getByLabel("Outcome").selectOption("failure");
    await page.getByRole("button", { name: "Search" }).click();
    // invoice.paid at i = 0, 21 (multiples of 3 and 7).
    await expect.poll(() => rows.count()).toBe(2);
  });

  test("hostile content is shown inert and visibly escaped", async () => {
    const hostile = "<img src=x onerror=alert(1)><script>alert(2)</script>\u001b[31mred\u001b[0m\u202Egnp.exe\r\nX-Injected: yes";
    const [receipt] = await append([
      {
        action: "document.shared",
        actor: { id: "mallory", type: "user", name: hostile },
        targets: [{ id: "doc-1", type: "document", name: hostile }],
        outcome: "success",
      },
    ]);
    // In the list, the actor's name (a plain string) shows every control character escaped.
    await page.goto(`${B}/#/t/${tenant}/events?action=document.shared`);
    const row = page.locator(`[data-testid=events-table] tr[data-seq="${receipt!.seq}"]`);
    await row.waitFor();
    const listed = await row.locator(".esc").allTextContents();
    expect(listed).toEqual(["\\u{001B}", "\\u{001B}", "\\u{202E}", "\\r", "\\n"]);
    expect(await row.locator("td:nth-child(4)").textContent()).toContain("<img src=x onerror=alert(1)>");
    // The stored bytes are RFC 8785 JSON, which escapes controls itself (\u001b); the
    // direction override it keeps as is is shown escaped.
    await page.goto(`${B}/#/t/${tenant}/events/${receipt!.seq}`);
    const bytes = page.getByTestId("entry-bytes");
    await bytes.waitFor();
    expect(await bytes.locator(".esc").allTextContents()).toEqual(["\\u{202E}", "\\u{202E}"]);
    expect(await bytes.textContent()).toContain("\\u001b[31mred");
    // The markup is text: no element was made from it, and no script ran.
    expect(await page.locator("main img").count()).toBe(0);
    expect(await page.locator("main script").count()).toBe(0);
    expect(await bytes.textContent()).toContain("<img src=x onerror=alert(1)>");
    expect(dialogs.filter((d) => d.startsWith("alert"))).toEqual([]);
    await expect.poll(() => page.getByTestId("entry-check").textContent()).toContain("Verified in your browser");
    await shot(page, "entry");
  });

  test("a verification passes, and the browser checks the proofs itself", async () => {
    await page.getByRole("link", { name: "Verification" }).click();
    await page.getByTestId("run-verification").click();
    const report = page.getByTestId("report");
    await report.waitFor({ timeout: 60_000 });
    expect(await report.getAttribute("data-ok")).toBe("true");
    expect(await report.textContent()).toContain("Verified.");
    await expect.poll(() => page.getByTestId("browser-checks").textContent(), { timeout: 30_000 }).toContain("all 20 proofs check out");
    expect(await page.getByTestId("pinned-key").first().textContent()).toContain(`sealtrail.localhost/${tenant}+`);
    // The same log from its c2sp.org/tlog-tiles alone, in the browser.
    await page.getByTestId("check-tiles").click();
    await expect
      .poll(() => page.getByTestId("tile-checks").textContent(), { timeout: 30_000 })
      .toMatch(/From tiles alone: \d+ entries, \d+ hash tiles, signed by the pinned key and hashing to its root, and it extends/);
    await shot(page, "verification");
  });

  test("seal now, then download the snapshot's bundle and manifest", async () => {
    await page.getByRole("link", { name: "Snapshots" }).click();
    await page.getByRole("button", { name: "Seal now" }).click();
    const rows = page.locator("[data-testid=snapshots-table] tbody tr");
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBeGreaterThan(0);
    const range = (await rows.first().locator("td:nth-child(2)").textContent())!;
    const [from, last] = range.split("–").map(Number);
    const [bundle] = await Promise.all([page.waitForEvent("download"), rows.first().getByRole("link", { name: "bundle" }).click()]);
    const lines = readFileSync((await bundle.path())!, "utf8")
      .trimEnd()
      .split("\n");
    expect(lines.length).toBe(last! - from! + 1);
    expect(JSON.parse(lines[0]!).seq).toBe(from);
    const [manifest] = await Promise.all([page.waitForEvent("download"), rows.first().getByRole("link", { name: "manifest" }).click()]);
    const note = readFileSync((await manifest.path())!, "utf8");
    expect(note).toContain(`"tenant":"${tenant}"`);
    expect(note).toContain(`\n\u2014 sealtrail.localhost/${tenant} `);
    expect(await page.getByTestId("cli-command").textContent()).toContain(`npx sealtrail verify audit-${tenant}`);
    await shot(page, "snapshots");
  });

  test("settings changes are saved and logged", async () => {
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByLabel("Seal interval (seconds)").fill("300");
    await page.getByLabel("Scheduled verification (hours)").fill("12");
    await page.getByRole("button", { name: "Save settings" }).click();
    await expect.poll(() => page.getByTestId("settings-status").textContent()).toContain("recorded in the log as entry");
    await page.getByTestId("settings-status").getByRole("link").click();
    await expect.poll(() => page.getByTestId("entry-bytes").textContent()).toContain('"action":"sealtrail.settings.updated"');
    expect(await page.getByTestId("entry-bytes").textContent()).toContain('"seal_interval_seconds":300');
    expect(await page.getByTestId("entry-bytes").textContent()).toContain('"audit_interval_hours":12');
  });

  test("a legal hold is created and released through the console, each change logged", async () => {
    await page.locator("nav").getByRole("link", { name: "Legal holds" }).click();
    await page.getByRole("heading", { name: "Legal holds" }).waitFor();
    await page.getByLabel("Reason", { exact: true }).fill("Litigation: Doe v. Acme");
    await page.getByLabel("Scope").selectOption("actor");
    await page.getByLabel("Id (actor or target)").fill("cfo@example.com");
    await page.getByRole("button", { name: "Create hold" }).click();
    const status = page.getByTestId("holds-status");
    await expect.poll(() => status.textContent()).toContain("Recorded in the log as entry");
    const active = page.locator("tr[data-state=active]");
    await expect.poll(() => active.count()).toBe(1);
    expect(await active.textContent()).toContain("actor cfo@example.com");
    expect(await active.textContent()).toContain("Litigation: Doe v. Acme");
    expect(await page.getByTestId("holds-summary").textContent()).toBe("1 active, 0 released.");
    await status.getByRole("link").click();
    await expect.poll(() => page.getByTestId("entry-bytes").textContent()).toContain('"action":"sealtrail.hold.created"');
    expect(await page.getByTestId("entry-bytes").textContent()).toContain('"reason":"Litigation: Doe v. Acme"');
    // While it is active the settings say so.
    await page.getByRole("link", { name: "Settings" }).click();
    await expect.poll(() => page.getByTestId("legal-hold").textContent()).toContain("A legal hold is active");
    await shot(page, "holds");

    await page.locator("nav").getByRole("link", { name: "Legal holds" }).click();
    await page.getByLabel("Release reason").fill("Case settled");
    await page.getByRole("button", { name: "Release" }).click();
    await expect.poll(() => status.textContent()).toContain("Released");
    const released = page.locator("tr[data-state=released]");
    await expect.poll(() => released.count()).toBe(1);
    expect(await released.textContent()).toContain("Case settled");
    expect(await page.locator("tr[data-state=active]").count()).toBe(0);
    expect(await page.getByTestId("holds-summary").textContent()).toBe("0 active, 1 released.");
    await status.getByRole("link").click();
    await expect.poll(() => page.getByTestId("entry-bytes").textContent()).toContain('"action":"sealtrail.hold.released"');
    expect(await page.getByTestId("entry-bytes").textContent()).toContain('"reason":"Case settled"');
  });

  test("a log stream is created on the Streams page: its secret shown once, its last error, lag and pause shown; pause and resume", async () => {
    // A closed loopback port: the stream fails and shows why (loopback http is allowed in local dev only).
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", () => resolve()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await page.getByRole("link", { name: "Streams" }).click();
    await page.getByRole("heading", { name: "Streams" }).waitFor();
    await page.getByLabel("Name").fill("siem");
    await page.getByLabel("URL").fill(`http://127.0.0.1:${port}/hook`);
    await page.getByRole("button", { name: "Create stream" }).click();
    const secret = (await page.getByTestId("stream-secret").textContent())!;
    expect(secret).toMatch(/whsec_[A-Za-z0-9+/=]+/);
    const raw = /whsec_[A-Za-z0-9+/=]+/.exec(secret)![0];
    const row = page.locator("tr", { hasText: "siem" });
    await expect
      .poll(
        async () => {
          await page.reload();
          return row.getByTestId("stream-state").textContent();
        },
        { timeout: 30_000 },
      )
      .toContain("Last error: network error");
    expect(await row.getByTestId("stream-lag").textContent()).toMatch(/\d+ entries, \d+ s/);
    await shot(page, "streams");
    // The list never shows the secret again.
    expect(await page.content()).not.toContain(raw);
    await row.getByRole("button", { name: "Pause" }).click();
    await expect.poll(() => page.locator("tr", { hasText: "siem" }).getByTestId("stream-state").textContent()).toContain("Paused");
    await page.getByRole("link", { name: "Overview" }).click();
    await expect.poll(() => page.getByTestId("alerts").textContent()).toContain("Log stream “siem” (webhook) is paused");
    await page.getByRole("link", { name: "Streams" }).click();
    await page.locator("tr", { hasText: "siem" }).getByRole("button", { name: "Resume" }).click();
    await expect.poll(() => page.locator("tr", { hasText: "siem" }).getByRole("button", { name: "Pause" }).count()).toBe(1);
    await page.locator("tr", { hasText: "siem" }).getByRole("button", { name: "Delete" }).click();
    await expect.poll(() => page.getByText("No streams yet.").count()).toBe(1);
  });

  test("personal fields: a reader sees them decrypted, then erased once the subject is erased; the entry still verifies", async () => {
    // As the signed-in owner, from the console's own origin (the cookie session).
    const call = (method: string, path: string, body?: unknown) =>
      page.evaluate(
        async ([m, p, b]) => {
          const r = await fetch(p, { method: m, ...(b ? { headers: { "content-type": "application/json" }, body: b } : {}) });
          return { status: r.status, text: await r.text() };
        },
        [method, path, body === undefined ? "" : JSON.stringify(body)] as const,
      );
    // Declared on the console's "Personal data" page (logged like any setting).
    await page.getByRole("link", { name: "Personal data" }).click();
    await page.getByLabel("Personal fields (one path a line)").fill("actor.name\nmetadata.email");
    await page.getByRole("button", { name: "Save personal fields" }).click();
    await expect.poll(() => page.getByTestId("personal-fields-status").textContent()).toContain("recorded in the log as entry");
    const [receipt] = await append([
      {
        action: "user.signup",
        actor: { id: "subject-e2e", type: "user", name: "Erin Erasable" },
        outcome: "success",
        metadata: { email: "erin@example.org", plan: "pro" },
      },
    ]);
    const seq = receipt!.seq;
    await page.goto(`${B}/#/t/${tenant}/events?action=user.signup`);
    const row = page.locator(`[data-testid=events-table] tr[data-seq="${seq}"]`);
    await row.waitFor();
    expect(await row.locator("td:nth-child(4)").textContent()).toContain("Erin Erasable");
    await page.goto(`${B}/#/t/${tenant}/events/${seq}`);
    const personal = page.getByTestId("entry-personal");
    await personal.waitFor();
    expect(await personal.locator('tr[data-path="actor.name"]').getAttribute("data-state")).toBe("decrypted");
    expect(await personal.textContent()).toContain("Erin Erasable");
    expect(await personal.textContent()).toContain("erin@example.org");
    // The stored bytes (what the proof covers) hold only the ciphertext.
    expect(await page.getByTestId("entry-bytes").textContent()).not.toContain("Erin");
    expect(await page.getByTestId("entry-bytes").textContent()).toContain("sealtrail:enc:v1:");
    await expect.poll(() => page.getByTestId("entry-check").textContent()).toContain("Verified in your browser");
    await shot(page, "entry-personal");

    // Erased from the same page (after a confirm() the test accepts).
    await page.getByRole("link", { name: "Personal data" }).click();
    await page.locator("input[name=subject]").fill("subject-e2e");
    await page.getByRole("button", { name: "Erase this subject's personal data" }).click();
    await expect.poll(() => page.getByTestId("erase-status").textContent()).toContain("Erased: 1 key destroyed");
    expect(dialogs.at(-1)).toContain("confirm: Erase the personal data of subject-e2e?");
    await page.goto(`${B}/#/t/${tenant}/events/${seq}`);
    await personal.waitFor();
    await expect.poll(() => personal.locator('tr[data-path="actor.name"]').getAttribute("data-state")).toBe("erased");
    expect(await personal.locator('tr[data-path="metadata.email"]').getAttribute("data-state")).toBe("erased");
    expect(await personal.textContent()).toContain("[erased]");
    // The same bytes still verify in the browser; the plaintext is nowhere on the page.
    await expect.poll(() => page.getByTestId("entry-check").textContent()).toContain("Verified in your browser");
    expect(await page.content()).not.toContain("Erin Erasable");
    expect(await page.content()).not.toContain("erin@example.org");
    await shot(page, "entry-erased");
    await page.goto(`${B}/#/t/${tenant}/events?action=user.signup`);
    await row.waitFor();
    expect(await row.locator("td:nth-child(4) .erased").textContent()).toBe("[erased]");
    // Back to no personal fields for the tests that follow.
    expect((await call("PUT", `/v1/tenants/${tenant}/settings`, { personal_fields: [] })).status).toBe(200);
  });

  test("an invited auditor joins, can verify, and cannot manage keys", async () => {
    const email = `ada-${Date.now()}@example.com`;
    await page.goto(`${B}/#/t/${tenant}/members`);
    await page.getByLabel("Email").fill(email);
    await page.locator("select[name=role]").selectOption("auditor");
    await page.getByRole("button", { name: "Invite" }).click();
    const link = (await page.getByTestId("invite-link").locator("pre").textContent())!.trim();
    // The link carries the invitation's one-time secret; it is shown this once.
    expect(link).toMatch(/#\/invite\/[A-Za-z0-9]+\/[A-Za-z0-9_-]{40,}$/);
    await shot(page, "members");
    const auditorCtx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const auditor = await newPage(auditorCtx);
      // The link, opened by someone not signed in, leads through sign-up back to the invitation.
      await auditor.goto(link);
      await expect.poll(() => auditor.url()).toContain("#/signin?next=");
      await auditor.getByRole("link", { name: "Create an account" }).click();
      await auditor.getByLabel("Name").fill("Ada Auditor");
      await auditor.getByLabel("Email").fill(email);
      await auditor.getByLabel("Password").fill(PASSWORD);
      await auditor.getByRole("button", { name: "Create account" }).click();
      await auditor.getByRole("button", { name: "Accept invitation" }).waitFor();
      // Without its secret the link is refused.
      await auditor.goto(link.replace(/\/[^/]+$/, ""));
      await expect.poll(() => auditor.locator("main").textContent()).toContain("incomplete");
      await auditor.goto(link);
      await auditor.getByRole("button", { name: "Accept invitation" }).click();
      await auditor.getByRole("heading", { name: "Acme production" }).waitFor();
      await auditor.getByRole("link", { name: "Keys" }).click();
      await expect.poll(() => auditor.locator("main").textContent()).toContain("admin");
      expect(await auditor.locator("[data-testid=keys-table]").count()).toBe(0);
    } finally {
      await auditorCtx.close();
    }
    await page.reload();
    await expect.poll(() => page.getByTestId("members-table").textContent()).toContain(email);
  });

  test("a row tampered with in D1 is named by the console", async () => {
    tamperD1(
      server.d1Files(),
      "UPDATE audit_events SET entry = replace(entry, 'user.login', 'user.logon') WHERE tenant_id = ? AND seq = ?",
      tenant,
      loginSeq,
    );
    await page.goto(`${B}/#/t/${tenant}/verify`);
    await page.getByTestId("run-verification").click();
    const report = page.getByTestId("report");
    await report.waitFor({ timeout: 60_000 });
    expect(await report.getAttribute("data-ok")).toBe("false");
    // The changed entry is named first; what follows from it (the chain link after it, the
    // seal's root, the log's head) is reported after it.
    const failures = report.locator("tbody tr");
    const first = failures.first();
    expect(await first.locator("td:nth-child(2)").textContent()).toBe(`entry ${loginSeq}`);
    const kinds = await failures.evaluateAll((rows) => rows.map((r) => r.getAttribute("data-kind")));
    expect(kinds).toContain("entry_changed");
    expect(kinds).toContain("bundle_mismatch");
    await expect.poll(() => page.getByTestId("history").locator("tbody tr").first().textContent()).toContain("failed");
    // The newest entries were not touched: the browser finds them (and the checkpoint) sound.
    await expect.poll(() => page.getByTestId("browser-checks").textContent(), { timeout: 30_000 }).toContain("all 20 proofs check out");
    await shot(page, "verification-failed");
    // The entry's own page says its bytes are not the ones the signed log holds: the server
    // checks the row against the log's tree and refuses to serve it (502 integrity_error).
    await page.goto(`${B}/#/t/${tenant}/events/${loginSeq}`);
    await expect
      .poll(() => page.getByTestId("entry-check").textContent())
      .toContain(`Entry ${loginSeq} FAILED the server's integrity check`);
    // And the overview raises the alarm.
    await page.goto(`${B}/#/t/${tenant}/overview`);
    await expect.poll(() => page.getByTestId("alerts").textContent()).toContain("The last verification failed");
    await shot(page, "overview");
  });

  test("a log that does not extend the checkpoint this browser saw is called out", async () => {
    // As if this browser had seen a different tree of 5 entries (a fork, or a rewritten log).
    await page.evaluate(
      (t) => localStorage.setItem(`sealtrail.seen.${t}`, JSON.stringify({ size: 5, root: btoa("x".repeat(32)) })),
      tenant,
    );
    await page.goto(`${B}/#/t/${tenant}/verify`);
    await page.getByRole("button", { name: "Check in this browser" }).click();
    await expect
      .poll(() => page.getByTestId("browser-checks").textContent())
      .toContain("The log is not an extension of the one this browser verified before");
    await page.getByTestId("check-tiles").click();
    await expect.poll(() => page.getByTestId("tile-checks").textContent()).toMatch(/From tiles: fork at size \d+/);
    // A signature by any key but the pinned one is refused too: pin a valid verifier key of this
    // log's name (c2sp.org/signed-note: id = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)[:4]) that the
    // server never used.
    const pinned = (await page.getByTestId("pinned-key").first().textContent())!.trim();
    const name = pinned.split("+")[0]!;
    const raw = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" }).subarray(-32);
    const typed = Buffer.concat([Buffer.of(0x01), raw]);
    const id = createHash("sha256")
      .update(Buffer.concat([Buffer.from(`${name}\n`), typed]))
      .digest()
      .subarray(0, 4)
      .toString("hex");
    const forged = `${name}+${id}+${typed.toString("base64")}`;
    await page.evaluate((t) => localStorage.removeItem(`sealtrail.seen.${t}`), tenant);
    await page.getByText("Pin a different key").click();
    await page.locator("details textarea").fill(forged);
    await page.getByRole("button", { name: "Pin this key instead" }).click();
    await page.waitForLoadState("load");
    await page.getByRole("button", { name: "Check in this browser" }).click();
    await expect.poll(() => page.getByTestId("browser-checks").textContent()).toContain("The checkpoint is not signed by the pinned key");
  });

  test("an alert the log raised is listed on the overview, open, with its start", async () => {
    // An event whose client clock is an hour off: the log raises `clock_skew` (README "Alerts").
    await append([
      {
        action: "user.login",
        actor: { id: "user-skew", type: "user" },
        outcome: "success",
        occurred_at: new Date(Date.now() - 3_600_000).toISOString(),
      },
    ]);
    await expect
      .poll(
        async () => {
          await page.goto(`${B}/#/t/${tenant}/overview?range=24h&n=${Date.now()}`);
          await page.getByTestId("incidents").waitFor();
          return (await page.getByTestId("incidents").textContent()) ?? "";
        },
        { timeout: 30_000, interval: 1_000 },
      )
      .toContain("Clock skew");
    await expect.poll(() => page.getByTestId("open-alerts").textContent()).toContain("Clock skew since");
    await expect.poll(() => page.getByTestId("recent-incidents").textContent()).toContain("open");
  });

  test("pages carry security headers; /docs/api renders under its CSP; a link from another site cannot read with the cookie", async () => {
    // The console's files (static assets: src/console/static/_headers) and what the Worker answers.
    for (const path of ["/", "/index.html", "/console.css", "/console.js", "/docs/api", "/no-such-page"]) {
      const res = await fetch(`${B}${path}`);
      await res.body?.cancel();
      expect(res.headers.get("content-security-policy"), path).toContain("frame-ancestors 'none'");
      expect(res.headers.get("content-security-policy"), path).toMatch(/default-src 'none'/);
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
      expect(res.headers.get("referrer-policy"), path).toBe("no-referrer");
    }
    const other = await newPage(owner);
    const refused: string[] = [];
    other.on("console", (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text());
    });
    await other.goto(`${B}/docs/api`);
    // Its inline style applies (max-width: 72rem); the browser refused nothing.
    expect(await other.evaluate(() => getComputedStyle(document.body).maxWidth)).toBe("1152px");
    expect(refused).toEqual([]);

    // A page of another site (127.0.0.1 is not the same site as localhost) sends the signed-in
    // person to a read whose query it chose: the browser attaches the cookie to this top-level
    // GET, with Sec-Fetch-Site: cross-site. It is refused, and nothing is logged in their name.
    const sizeNow = async () =>
      page.evaluate(async (t) => ((await (await fetch(`/v1/tenants/${t}/stats`)).json()) as { size: number }).size, tenant);
    const before = await sizeNow();
    const probe = "cross.site.probe";
    const target = `${B}/v1/tenants/${tenant}/events?action=${probe}`;
    await other.goto(`${API}/docs/api`);
    const [res] = await Promise.all([
      other.waitForResponse((r) => r.url() === target),
      other.evaluate((u) => {
        location.href = u;
      }, target),
    ]);
    expect(res.status()).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("cross_site_request");
    const logged = await page.evaluate(
      async ([t, from]) =>
        (
          (await (await fetch(`/v1/tenants/${t}/events?from_seq=${from}&limit=100`)).json()) as {
            events: { event: { metadata?: unknown } }[];
          }
        ).events,
      [tenant, before] as const,
    );
    expect(JSON.stringify(logged)).not.toContain(probe);
    // The same address typed into the browser (Sec-Fetch-Site: none) is the person's own read.
    const typed = await other.goto(target);
    expect(typed?.status()).toBe(200);
    await other.close();
  });

  test("sign out ends the session: tenant pages lead back to sign-in", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await expect.poll(() => page.url()).toContain("#/signin");
    await page.goto(`${B}/#/t/${tenant}/events`);
    await expect.poll(() => page.url()).toContain("#/signin");
    const res = await page.evaluate(async (t) => (await fetch(`/v1/tenants/${t}/events`)).status, tenant);
    expect(res).toBe(401);
  });
});
