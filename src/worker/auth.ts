import { configureAuth, type Auth } from "./auth-config";
import { leaveHook, organizationHooks } from "./membership-log";

/** better-auth with the hooks that record membership changes in the tenant's log (membership-log.ts). */
export function createAuth(env: Env): Auth {
  return configureAuth(env, { before: leaveHook, organization: organizationHooks() });
}

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
