/**
 * GET /v1/keys: public verifier keys (c2sp.org/signed-note format) of every tenant's log,
 * every key version. `?tenant=` narrows to one tenant; `cursor` pages through the rest.
 */
import { asc, eq, gt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { z } from "zod";
import { organization } from "../../db/auth-schema";
import { publishedKeys } from "../../durable/checkpoint-keys";
import type { AppEnv } from "../app-env";
import { Failure } from "../errors";
import { parseWith } from "../request";

const PAGE = 100;
const Query = z.strictObject({ tenant: z.string().max(64).optional(), cursor: z.string().max(64).optional() });

export const verifierKeys = new Hono<AppEnv>().get("/", async (c) => {
  const q = parseWith(Query, c.req.query(), "invalid_query");
  const db = drizzle(c.env.DB);
  if (q.tenant !== undefined) {
    const org = await db.select({ id: organization.id }).from(organization).where(eq(organization.id, q.tenant)).get();
    if (!org) throw new Failure({ reason: "not_found", what: "Tenant" });
    return c.json({ keys: publishedKeys(c.env, org.id), next_cursor: null });
  }
  const orgs = await db
    .select({ id: organization.id })
    .from(organization)
    .where(q.cursor ? gt(organization.id, q.cursor) : undefined)
    .orderBy(asc(organization.id))
    .limit(PAGE + 1);
  const page = orgs.slice(0, PAGE);
  return c.json({
    keys: page.flatMap((o) => publishedKeys(c.env, o.id)),
    next_cursor: orgs.length > PAGE ? page[page.length - 1]!.id : null,
  });
});
