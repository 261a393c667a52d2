/**
 * GET /v1/keys?tenant=<id>: the public verifier keys (c2sp.org/signed-note format) of one
 * tenant's log, every key version. The tenant must be named: the route never lists tenants
 * (that would tell anyone who uses this deployment). Keys are derived once per isolate
 * (checkpoint-keys.ts `verifierKeys`).
 */
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { z } from "zod";
import { organization } from "../../db/auth-schema";
import { publishedKeys } from "../../durable/checkpoint-keys";
import type { AppEnv } from "../app-env";
import { Failure } from "../errors";
import { parseWith } from "../request";

export const VerifierKeysQuery = z.strictObject({ tenant: z.string().min(1).max(64).describe("the tenant (organization) id; required") });

export const verifierKeys = new Hono<AppEnv>().get("/", async (c) => {
  if (!c.req.query("tenant")) throw new Failure({ reason: "tenant_required" });
  const q = parseWith(VerifierKeysQuery, c.req.query(), "invalid_query");
  const org = await drizzle(c.env.DB).select({ id: organization.id }).from(organization).where(eq(organization.id, q.tenant)).get();
  if (!org) throw new Failure({ reason: "not_found", what: "Tenant" });
  return c.json({ keys: publishedKeys(c.env, org.id) });
});
