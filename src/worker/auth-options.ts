import { apiKey } from "@better-auth/api-key";
import { bearer, organization } from "better-auth/plugins";
import { createAccessControl } from "better-auth/plugins/access";
import { adminAc, defaultStatements, memberAc, ownerAc } from "better-auth/plugins/organization/access";
import { LOG_STATEMENT, PERMISSIONS, ROLE_PERMISSIONS } from "./permissions";

/**
 * better-auth plugins, shared by the Worker (src/worker/auth.ts) and the schema generator
 * (scripts/auth.config.ts) so the D1 tables always match the plugins that use them.
 */

/** The origins whose pages may use a signed-in person's cookie session: the Worker's own, and TRUSTED_ORIGINS. */
export function trustedOrigins(env: { BETTER_AUTH_URL: string; TRUSTED_ORIGINS: string }): string[] {
  const listed = env.TRUSTED_ORIGINS.split(",")
    .map((o) => o.trim())
    .filter(Boolean);
  return [new URL(env.BETTER_AUTH_URL).origin, ...listed];
}

const statements = {
  ...defaultStatements,
  [LOG_STATEMENT]: PERMISSIONS,
  // Without an apiKey statement only owners could manage organization-owned keys.
  apiKey: ["create", "read", "update", "delete"],
} as const;

export const ac = createAccessControl(statements);

const keyAdmin = { apiKey: ["create", "read", "update", "delete"] } as const;
export const roles = {
  owner: ac.newRole({ ...ownerAc.statements, ...keyAdmin, [LOG_STATEMENT]: [...ROLE_PERMISSIONS.owner] }),
  admin: ac.newRole({ ...adminAc.statements, ...keyAdmin, [LOG_STATEMENT]: [...ROLE_PERMISSIONS.admin] }),
  auditor: ac.newRole({ ...memberAc.statements, [LOG_STATEMENT]: [...ROLE_PERMISSIONS.auditor] }),
  member: ac.newRole({ ...memberAc.statements, [LOG_STATEMENT]: [...ROLE_PERMISSIONS.member] }),
};

/** The api-key configuration id for tenant-owned (organization-owned) secret keys. */
export const TENANT_KEY_CONFIG = "tenant";
export const API_KEY_PREFIX = "st_";
/** Publishable ingest keys: append only, bound to allowed browser origins. */
export const PUBLISHABLE_KEY_CONFIG = "publishable";
export const PUBLISHABLE_KEY_PREFIX = "pk_";

/**
 * Explicit per-key rate limits (better-auth's default is 10 requests per day), counted by
 * better-auth in D1 on every verification. Publishable keys live in web pages, where anyone
 * can copy them: they get a much lower limit.
 */
export const API_KEY_RATE_LIMIT = { enabled: true, timeWindow: 60_000, maxRequests: 600_000 };
export const PUBLISHABLE_KEY_RATE_LIMIT = { enabled: true, timeWindow: 60_000, maxRequests: 600 };

/**
 * Rate limits of the better-auth routes (sign-up, sign-in, …), per client IP. The IP comes from
 * cf-connecting-ip; IPv6 addresses count per /64, so rotating addresses within one allocation
 * does not escape the limit. Counters live in D1 so every isolate shares them. Sign-in and
 * sign-up keep better-auth's stricter built-in rule (3 per 10 s).
 */
export const AUTH_RATE_LIMIT = { enabled: true, storage: "database", window: 60, max: 100 } as const;
export const AUTH_IP_OPTIONS = { ipAddressHeaders: ["cf-connecting-ip"], ipv6Subnet: 64 } as const;

export type OrganizationHooks = NonNullable<Parameters<typeof organization>[0]>["organizationHooks"];

/** `hooks`: the Worker's (membership-log.ts); the schema generator passes none. */
export function authPlugins(hooks?: OrganizationHooks) {
  return [
    bearer(),
    // A tenant's log outlives its people: an organization (and with it the tenant's members and
    // keys) cannot be deleted through the API.
    organization({
      ac,
      roles,
      allowUserToCreateOrganization: true,
      disableOrganizationDeletion: true,
      ...(hooks ? { organizationHooks: hooks } : {}),
    }),
    apiKey([
      {
        configId: TENANT_KEY_CONFIG,
        references: "organization",
        defaultPrefix: API_KEY_PREFIX,
        enableMetadata: true,
        // A key must never act as a user (no session impersonation).
        enableSessionForAPIKeys: false,
        rateLimit: API_KEY_RATE_LIMIT,
        permissions: { defaultPermissions: { [LOG_STATEMENT]: [] } },
      },
      {
        configId: PUBLISHABLE_KEY_CONFIG,
        references: "organization",
        defaultPrefix: PUBLISHABLE_KEY_PREFIX,
        enableMetadata: true,
        enableSessionForAPIKeys: false,
        rateLimit: PUBLISHABLE_KEY_RATE_LIMIT,
        permissions: { defaultPermissions: { [LOG_STATEMENT]: ["append"] } },
      },
    ]),
  ];
}
