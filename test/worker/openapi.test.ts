import { describe, expect, it } from "vitest";
import { app } from "../../src/worker/app";
import { documentedRoutes } from "../../src/worker/openapi";
import { api } from "./helpers";

describe("OpenAPI document", () => {
  it("is served at /openapi.json, with a reference page at /docs/api", async () => {
    const res = await api("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe("3.1.0");
    const page = await api("/docs/api");
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await page.text()).toContain("/v1/tenants/{t}/events");
  });

  it("lists every route the app serves, and nothing it does not", () => {
    const served = new Set(
      app.routes
        .filter((r) => r.method !== "ALL")
        .map((r) => `${r.method} ${r.path.replace(/\{[^}]+\}/g, "").replace(/\/\*$/, "/:path")}`),
    );
    const documented = new Set(documentedRoutes().map(([m, p]) => `${m} ${p}`));
    expect([...served].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !served.has(r))).toEqual([]);
  });
});
