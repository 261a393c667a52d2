/**
 * The embeddable viewer (issue #19.5) in Chromium, embedded in a page of ANOTHER origin: a
 * tenant's backend (this test, over HTTP) mints a viewer token for one customer organization;
 * a host page served by a tiny Node server on another port loads `<sealtrail-viewer>`; the
 * viewer shows only that organization's entries, each proved included in the signed log, styled
 * by the host's CSS variables, with search and export; the token never appears in a URL. A host
 * origin the tenant did not allow cannot frame it (frame-ancestors).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, Frame, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { launchChromium } from "./browser";
import { startServer, type LocalServer } from "./server";

let server: LocalServer;
let browser: Browser;
let page: Page;
let API = "";
let tenant = "";
let token = "";
let allowedHost: Server;
let otherHost: Server;

/** A host page: the web component from Sealtrail, the token from "its backend", its own colors. */
const hostPage = (sealtrail: string) =>
  `<!doctype html><html><head><title>Customer portal</title>
<script src="${sealtrail}/sealtrail-viewer.js"></script>
<style>sealtrail-viewer { --sealtrail-accent: rgb(200, 0, 100); --sealtrail-bg: rgb(250, 250, 240); }</style></head>
<body><h1>Your organization's audit log</h1>
<sealtrail-viewer tenant="${tenant}" token="${token}" height="600px"></sealtrail-viewer></body></html>`;

/** A page that frames the viewer directly, the token in the fragment. */
const framingPage = (sealtrail: string) =>
  `<!doctype html><html><body><iframe id="v" src="${sealtrail}/embed/viewer/${tenant}#token=${token}"></iframe></body></html>`;

function host(body: () => string): Promise<Server> {
  const s = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(body());
  });
  return new Promise((resolve) => s.listen(0, "127.0.0.1", () => resolve(s)));
}
const portOf = (s: Server) => (s.address() as AddressInfo).port;

async function call(path: string, init: RequestInit & { json?: unknown } = {}) {
  const res = await fetch(`${API}${path}`, {
    ...init,
    headers: {
      origin: API,
      ...(init.json === undefined ? {} : { "content-type": "application/json" }),
      ...(init.headers as Record<string, string>),
    },
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
  return { res, body: JSON.parse(text) as Record<string, unknown> };
}

beforeAll(async () => {
  server = await startServer();
  API = server.base;
  allowedHost = await host(() => hostPage(API));
  otherHost = await host(() => framingPage(API));
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true })).newPage();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  allowedHost?.close();
  otherHost?.close();
  server?.stop();
});

const ALLOWED = () => `http://localhost:${portOf(allowedHost)}`;

describe("the embeddable viewer on another origin", () => {
  test("a tenant's backend sets up: events for two organizations, the host origin allowed, a viewer token for one", async () => {
    const email = `vera-${Date.now()}@example.com`;
    const signUp = await call("/api/auth/sign-up/email", {
      method: "POST",
      json: { email, password: "correct horse battery", name: "Vera" },
    });
    const session = { authorization: `Bearer ${signUp.res.headers.get("set-auth-token") ?? signUp.body.token}` };
    const org = await call("/api/auth/organization/create", {
      method: "POST",
      headers: session,
      json: { name: "Viewer Inc", slug: `viewer-${Date.now()}` },
    });
    tenant = org.body.id as string;
    const key = async (body: unknown) =>
      (await call(`/v1/tenants/${tenant}/keys`, { method: "POST", headers: session, json: body })).body.key as string;
    const appendKey = await key({ name: "ingest", permissions: ["append"] });
    const readKey = await key({ name: "backend", permissions: ["read"] });
    // The host page's origin, listed on a publishable key: the viewer's frame-ancestors.
    await key({ name: "portal", permissions: ["append"], allowed_origins: [ALLOWED()] });
    for (const [i, org] of ["org-a", "org-b", "org-a", "org-b", "org-a"].entries()) {
      const action = i === 4 ? "invoice.paid" : "user.login";
      await call(`/v1/tenants/${tenant}/events`, {
        method: "POST",
        headers: { "x-api-key": appendKey },
        json: { action, actor: { id: `person-${i}`, type: "user" }, targets: [{ id: org, type: "organization" }], outcome: "success" },
      });
    }
    const minted = await call(`/v1/tenants/${tenant}/viewer-tokens`, {
      method: "POST",
      headers: { "x-api-key": readKey },
      json: { view: { target: { type: "organization", id: "org-a" } }, ttl_seconds: 900 },
    });
    token = minted.body.token as string;
    expect(token).toMatch(/^stv1\./);
  });

  test("embedded with <sealtrail-viewer>: only org-a's entries, each proved in the browser, the host's colors, search and export", async () => {
    const urls: string[] = [];
    page.on("request", (r) => urls.push(r.url()));
    await page.goto(ALLOWED());
    await page.getByRole("heading", { name: "Your organization's audit log" }).waitFor();
    let frame: Frame | undefined;
    await expect.poll(() => (frame = page.frames().find((f) => f.url().includes("/embed/viewer/")))).toBeDefined();
    const f = frame!;
    await f.locator(".status.ok").waitFor({ timeout: 30_000 });
    const rows = f.locator("tr[data-seq]");
    expect(await rows.count()).toBe(3);
    for (const t of await rows.locator("td:nth-child(5)").allTextContents()) expect(t).toBe("organization:org-a");
    expect(await f.locator('[data-proof="ok"]').count()).toBe(3);
    expect(await f.locator('[data-proof="bad"]').count()).toBe(0);
    // The host's CSS variables reached the viewer.
    const accent = await f.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue("--sealtrail-accent").trim());
    expect(accent).toBe("rgb(200, 0, 100)");
    expect(await f.locator("button[type=submit]").evaluate((b) => getComputedStyle(b).backgroundColor)).toBe("rgb(200, 0, 100)");

    // Search within the slice.
    await f.locator('input[name="action"]').fill("invoice.*");
    await f.getByRole("button", { name: "Search" }).click();
    await expect.poll(() => rows.count()).toBe(1);
    await f.locator(".status.ok").waitFor();
    expect(await f.locator('[data-proof="ok"]').count()).toBe(1);

    // Export: the slice only (and the filter).
    await f.locator('input[name="action"]').fill("");
    const [download] = await Promise.all([page.waitForEvent("download"), f.getByRole("button", { name: "Export JSONL" }).click()]);
    const stream = await download.createReadStream();
    let text = "";
    for await (const chunk of stream) text += chunk.toString();
    const lines = text.trim().split("\n");
    expect(lines).toHaveLength(3);
    for (const l of lines) expect((JSON.parse(l) as { event: { targets: { id: string }[] } }).event.targets[0]!.id).toBe("org-a");

    // The token travelled only in headers and postMessage: no URL carried it.
    expect(urls.filter((u) => u.includes(token.slice(5, 40)))).toEqual([]);
  });

  test("a host origin the tenant did not allow cannot frame the viewer (frame-ancestors)", async () => {
    const refusals: string[] = [];
    page.on("console", (m) => {
      if (/frame-ancestors/.test(m.text())) refusals.push(m.text());
    });
    await page.goto(`http://localhost:${portOf(otherHost)}`);
    await expect.poll(() => refusals.length).toBeGreaterThan(0);
    const framed = page.frames().find((f) => f !== page.mainFrame());
    const loaded = framed ? await framed.locator("[data-status]").count() : 0;
    expect(loaded).toBe(0);
    // Refused by the directive that lists only the tenant's allowed origin.
    expect(refusals[0]).toContain(`"frame-ancestors ${ALLOWED()}"`);
  });
});
