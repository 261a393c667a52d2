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
import { queryOf, route } from "../route-spec";

const PublishedKey = z.object({
  tenant: z.string(),
  origin: z.string().describe("the log's checkpoint origin, <SEALTRAIL_ORIGIN>/<tenant id>"),
  version: z.number().int(),
  verifier_key: z.string().describe("c2sp.org/signed-note verifier key: <origin>+<key id>+<base64 key>"),
});

export const VERIFIER_KEYS_ROUTE = route({
  method: "get",
  path: "/v1/keys",
  summary: "Public verifier keys (c2sp.org/signed-note) of one tenant's log, every key version; tenants are never listed",
  query: z.strictObject({ tenant: z.string().min(1).max(64).describe("the tenant (organization) id; required") }),
  response: z.object({ keys: z.array(PublishedKey) }),
  errors: ["tenant_required", "not_found"],
});

export const verifierKeys = new Hono<AppEnv>().get("/", async (c) => {
  if (!c.req.query("tenant")) throw new Failure({ reason: "tenant_required" });
  const q = queryOf(c, VERIFIER_KEYS_ROUTE);
  const org = await drizzle(c.env.DB).select({ id: organization.id }).from(organization).where(eq(organization.id, q.tenant)).get();
  if (!org) throw new Failure({ reason: "not_found", what: "Tenant" });
  return c.json({ keys: publishedKeys(c.env, org.id) } satisfies z.infer<typeof VERIFIER_KEYS_ROUTE.response>);
});
