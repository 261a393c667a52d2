import { betterAuth } from "better-auth";
import { drizzleAdapter } from "better-auth/adapters/drizzle";
import { drizzle } from "drizzle-orm/d1";
import * as schema from "../db/schema";
import { AUTH_IP_OPTIONS, AUTH_RATE_LIMIT, authPlugins, trustedOrigins } from "./auth-options";
import { REFUSED_AUTH_PATHS } from "./auth-routes";
import { leaveHook, organizationHooks } from "./membership-log";

/**
 * better-auth on D1, built per request (bindings are per request on Workers). People sign in
 * with email and password (cookie session, or bearer token via the bearer plugin);
 * organizations are tenants; organization-owned API keys are machines.
 */
export function createAuth(env: Env) {
  return betterAuth({
    appName: "Sealtrail",
    baseURL: env.BETTER_AUTH_URL,
    secret: env.BETTER_AUTH_SECRET,
    trustedOrigins: trustedOrigins(env),
    database: drizzleAdapter(drizzle(env.DB, { schema }), { provider: "sqlite", schema }),
    emailAndPassword: { enabled: true, minPasswordLength: 10 },
    advanced: { ipAddress: { ...AUTH_IP_OPTIONS, ipAddressHeaders: [...AUTH_IP_OPTIONS.ipAddressHeaders] } },
    rateLimit: AUTH_RATE_LIMIT,
    // The Worker refuses these before better-auth sees them (auth-routes.ts); better-auth too.
    disabledPaths: REFUSED_AUTH_PATHS,
    // Errors that are not better-auth's own (a Failure from a hook: the log could not record a
    // change) reach the Worker's error handler instead of becoming a bare 500.
    onAPIError: { throw: true },
    // Membership changes are recorded in the tenant's log (membership-log.ts).
    hooks: { before: leaveHook },
    plugins: authPlugins(organizationHooks()),
  });
}

export type Auth = ReturnType<typeof createAuth>;

const instances = new WeakMap<Env, Auth>();

/**
 * One better-auth instance per isolate and environment. Building it costs ~20% of a
 * single-event append's CPU (plugins, schema checks); the bindings it holds (env.DB) are the
 * isolate's, not one request's, so every request may share it.
 */
export function authFor(env: Env): Auth {
  let auth = instances.get(env);
  if (!auth) {
    auth = createAuth(env);
    instances.set(env, auth);
  }
  return auth;
}
