import { betterAuth, type BetterAuthOptions } from "better-auth";
import { drizzleAdapter } from "better-auth/adapters/drizzle";
import { drizzle } from "drizzle-orm/d1";
import * as schema from "../db/schema";
import { AUTH_IP_OPTIONS, AUTH_RATE_LIMIT, authPlugins, trustedOrigins, type OrganizationHooks } from "./auth-options";
import { REFUSED_AUTH_PATHS } from "./auth-routes";

/**
 * better-auth on D1 (bindings are the isolate's on Workers). People sign in with email and
 * password (cookie session, or bearer token via the bearer plugin); organizations are tenants;
 * organization-owned API keys are machines. The membership hooks come in as a parameter
 * (auth.ts passes membership-log.ts's), so the `Auth` type every module uses does not depend
 * on the modules that use it.
 */

/** What records membership changes in the tenant's log (membership-log.ts). */
export interface MembershipHooks {
  before: NonNullable<BetterAuthOptions["hooks"]>["before"];
  organization: OrganizationHooks;
}

export function configureAuth(env: Env, hooks: MembershipHooks) {
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
    hooks: { before: hooks.before },
    plugins: authPlugins(hooks.organization),
  });
}

export type Auth = ReturnType<typeof configureAuth>;
