import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src/worker/app";
import { failingObjects } from "../durable/faults";
import { BASE, bearer, createKey, tenantWithKeys } from "./helpers";

/** The Worker with its LogAudit binding failing on `methods` (the real object otherwise). */
const withFailingAudit =
  (methods: string[]) =>
  (path: string, init: RequestInit = {}) =>
    app.fetch(new Request(`${BASE}${path}`, init), { ...env, LOG_AUDIT: failingObjects(env.LOG_AUDIT, methods) }, createExecutionContext());

describe("a failing LogAudit call fails closed like a TenantLog call", () => {
  it("POST /verify, GET /verify/:job and GET /stats answer 503 log_unavailable, with Retry-After", async () => {
    const { owner, tenant } = await tenantWithKeys();
    const verifyKey = await createKey(owner, tenant, ["verify"]);
    const call = withFailingAudit(["start", "job", "lastFullVerification"]);
    const answers = [
      await call(`/v1/tenants/${tenant}/verify`, { method: "POST", headers: { "x-api-key": verifyKey } }),
      await call(`/v1/tenants/${tenant}/verify/00000000-0000-4000-8000-000000000000`, { headers: { "x-api-key": verifyKey } }),
      await call(`/v1/tenants/${tenant}/stats`, { headers: bearer(owner) }),
    ];
    for (const res of answers) {
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).not.toBeNull();
      expect(await res.json()).toMatchObject({ error: { code: "log_unavailable" } });
    }
  });
});
