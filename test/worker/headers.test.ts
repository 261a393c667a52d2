/**
 * Security headers on everything the Worker answers: HTML (the API reference page) gets a CSP
 * that still lets it render (its inline style is allowed by hash; it has no script), framing
 * refused; every response gets nosniff and no referrer. (The console's static files get theirs
 * from src/console/static/_headers: test/e2e checks them as served.)
 */
import { describe, expect, it } from "vitest";
import { toBase64 } from "../../src/core/bytes";
import { sha256Text } from "../../src/core/hash";
import { api, bearer, tenantWithKeys } from "./helpers";

/** The CSP as a map of directive → sources. */
function csp(res: Response): Map<string, string[]> {
  const header = res.headers.get("content-security-policy");
  expect(header, res.url).toBeTruthy();
  return new Map(
    header!
      .split(";")
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...values]) => [name!, values]),
  );
}

function expectCommonHeaders(res: Response, what: string) {
  expect(res.headers.get("x-content-type-options"), what).toBe("nosniff");
  expect(res.headers.get("referrer-policy"), what).toBe("no-referrer");
  expect(res.headers.get("x-frame-options"), what).toBe("DENY");
  const policy = csp(res);
  expect(policy.get("frame-ancestors"), what).toEqual(["'none'"]);
  expect(policy.get("default-src"), what).toEqual(["'none'"]);
}

describe("security headers", () => {
  it("/docs/api has a CSP without script, its inline style allowed by hash, and refuses framing", async () => {
    const res = await api("/docs/api");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expectCommonHeaders(res, "/docs/api");
    const html = await res.text();
    const policy = csp(res);
    expect(policy.has("script-src")).toBe(false);
    expect(html).not.toMatch(/<script|\son[a-z]+=|javascript:/i);
    // Every inline style the page has is allowed by its hash, and nothing else is.
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => `'sha256-${toBase64(sha256Text(m[1]!))}'`);
    expect(styles.length).toBeGreaterThan(0);
    expect(policy.get("style-src")).toEqual(styles);
    expect(html).not.toMatch(/\sstyle=/i);
    expect(policy.get("base-uri")).toEqual(["'none'"]);
    expect(policy.get("form-action")).toEqual(["'none'"]);
  });

  it("every API response, errors and downloads included, is nosniff, sends no referrer and may not be framed", async () => {
    const { owner, tenant, readKey } = await tenantWithKeys();
    const responses: [string, Response][] = [
      ["healthz", await api("/healthz")],
      ["openapi.json", await api("/openapi.json")],
      ["unknown route", await api("/nope")],
      ["unknown html-looking route", await api("/index.php", { headers: { accept: "text/html" } })],
      ["unauthenticated", await api(`/v1/tenants/${tenant}/events`)],
      ["events", await api(`/v1/tenants/${tenant}/events`, { headers: { "x-api-key": readKey } })],
      ["checkpoint (text/plain)", await api(`/v1/tenants/${tenant}/checkpoint`, { headers: { "x-api-key": readKey } })],
      ["export (download)", await api(`/v1/tenants/${tenant}/export`, { headers: bearer(owner) })],
      ["verifier keys", await api(`/v1/keys?tenant=${tenant}`)],
      ["better-auth", await api("/api/auth/get-session", { headers: bearer(owner) })],
      // better-auth's own HTML error page: without its inline style, still readable, no script runs.
      ["better-auth error page (HTML)", await api("/api/auth/error?error=<b>x</b>")],
      [
        "preflight refused",
        await api(`/v1/tenants/${tenant}/events`, {
          method: "OPTIONS",
          headers: { origin: "https://x.example", "access-control-request-method": "POST" },
        }),
      ],
    ];
    for (const [what, res] of responses) {
      expect(res.status, what).toBeLessThan(500);
      expectCommonHeaders(res, what);
      await res.body?.cancel();
    }
  });
});
