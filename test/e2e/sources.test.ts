/**
 * Missed events end to end (issue #18.4): the SDK as a Node app loads it (dist/client.mjs)
 * numbers a source's events with a counter file, against a locally running Worker (wrangler
 * dev on workerd); two events are lost on the way (their requests never reach the server and
 * the client gives up on them); the log reports exactly their numbers missing, the console's
 * Sources page shows the range in Chromium, and the late events close the gap.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
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

type Client = typeof import("../../src/client/index");

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

interface SourceRow {
  id: string;
  last_seq: number | null;
  gaps: { from: number; to: number }[];
  missing: number;
  filled: number;
}

describe("missed events: a numbered source through the SDK and the console", () => {
  test("sign up, create a tenant and an append key", async () => {
    tenant = await signUpWithTenant(
      page,
      B,
      { name: "Sam Sources", email: `sam-${Date.now()}@example.com`, password: PASSWORD },
      "Sources Inc",
    );
    appendKey = await createAppendKey(page);
    expect(appendKey).toMatch(/^st_/);
  });

  test("the SDK numbers events, two are lost, and the log and the console report exactly 5–6 missing", async () => {
    const { SealtrailClient, fileCounterStore } = (await import("../../dist/client.mjs" as string)) as Client;
    const counter = `${mkdtempSync(`${tmpdir()}/sealtrail-source-`)}/counter.json`;
    const event = (i: number) =>
      ({ action: "invoice.paid", actor: { id: "billing", type: "service" }, outcome: "success", metadata: { i } }) as const;
    // A network that loses every request while `down`: the client gives up (one attempt) and the events are lost.
    let down = false;
    const client = new SealtrailClient({
      baseUrl: API,
      tenant,
      key: appendKey,
      source: "billing-api",
      counterStore: fileCounterStore(counter),
      maxBatchDelayMs: 1,
      maxAttempts: 1,
      fetch: (input, init) => (down ? Promise.reject(new TypeError("connection reset")) : fetch(input, init)),
    });
    for (let i = 0; i < 5; i++) await client.log(event(i));
    down = true;
    const lost = await Promise.allSettled([client.log(event(5)), client.log(event(6))]);
    expect(lost.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    down = false;
    // The process restarts: a new client continues from the counter file.
    const restarted = new SealtrailClient({
      baseUrl: API,
      tenant,
      key: appendKey,
      source: "billing-api",
      counterStore: fileCounterStore(counter),
      maxBatchDelayMs: 1,
    });
    expect(restarted.nextSourceSeq).toBe(7);
    for (let i = 7; i < 10; i++) await restarted.log(event(i));

    const res = await fetch(`${API}/v1/tenants/${tenant}/sources`, { headers: { "x-api-key": appendKey } });
    // The append key may not read: the list needs read, verify or admin.
    expect(res.status).toBe(403);
    const listed = (await page.evaluate(async (t) => (await fetch(`/v1/tenants/${t}/sources`)).json(), tenant)) as { sources: SourceRow[] };
    expect(listed.sources).toHaveLength(1);
    expect(listed.sources[0]).toMatchObject({ id: "billing-api", last_seq: 9, missing: 2, gaps: [{ from: 5, to: 6 }] });

    await page.getByRole("link", { name: "Sources" }).click();
    await page.getByRole("heading", { name: "Sources", exact: true }).waitFor();
    const row = page.locator('tr[data-source="billing-api"]');
    await expect.poll(() => row.getByTestId("gaps").textContent()).toBe("5–6");
    expect(await row.getByTestId("source-status").textContent()).toBe("2 missing");
    await expect.poll(() => page.getByTestId("sources-gapped").textContent()).toBe("1");
    // The overview names the missing events too.
    await page.getByRole("link", { name: "Overview" }).click();
    await expect.poll(() => page.getByTestId("alerts").textContent()).toContain("2 event(s) missing from 1 source(s)");
  });

  test("the lost events sent late close the gap; the console says so", async () => {
    // The events the client gave up on, sent again by hand with their numbers.
    const res = await fetch(`${API}/v1/tenants/${tenant}/events`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": appendKey },
      body: JSON.stringify({
        events: [5, 6].map((seq) => ({
          action: "invoice.paid",
          actor: { id: "billing", type: "service" },
          outcome: "success",
          source: { id: "billing-api", seq },
        })),
      }),
    });
    expect(res.status).toBe(201);
    await page.getByRole("link", { name: "Sources" }).click();
    const row = page.locator('tr[data-source="billing-api"]');
    await expect.poll(() => row.getByTestId("gaps").textContent()).toBe("none");
    expect(await row.getByTestId("source-status").textContent()).toBe("complete");
  });

  test("a cadence declared in the console is logged; the KPI page shows coverage and lag", async () => {
    await page.locator("input[name=source]").fill("billing-api");
    await page.getByLabel("Expected every (seconds)").fill("600");
    await page.getByRole("button", { name: "Save cadence" }).click();
    await expect.poll(() => page.getByTestId("cadence-status").textContent()).toContain("recorded in the log as entry");
    await page.getByRole("link", { name: "KPIs" }).click();
    await page.getByRole("heading", { name: "KPIs" }).waitFor();
    await expect.poll(() => page.getByTestId("kpi-coverage").textContent()).toBe("100%");
    expect(await page.getByTestId("kpi-reporting").textContent()).toBe("1 reporting");
    expect(await page.getByTestId("kpi-ttd").textContent()).toBe("no incidents yet");
    expect(await page.getByRole("img", { name: "Mirror lag over time" }).count()).toBe(1);
  });
});
