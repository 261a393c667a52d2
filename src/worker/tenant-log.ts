import type { Context } from "hono";
import type { AppEnv } from "./app-env";
import { Failure } from "./errors";
import { placedLogAudit, placedTenantLog } from "./placement";

/**
 * The calling tenant's Durable Object: the tenant comes from the authenticated principal, the
 * object from its placement's jurisdiction (placement.ts).
 * A call that fails inside the object (it was reset, aborted or overloaded mid-call) becomes
 * 503 log_unavailable: the caller retries, and an Idempotency-Key makes the retry safe.
 * What the objects refuse they return as data (LogError, ProofRangeError): each is an AppError
 * variant, thrown as it is (`throw new Failure(result.error)`) and answered by errors.ts.
 */
export const tenantLog = (c: Context<AppEnv>) => {
  const tenant = c.var.access.tenantId;
  return failClosed("TenantLog", () => placedTenantLog(c.env, tenant));
};

/** How long a read served from D1 waits for the mirror to hold what was acknowledged before it. */
export const READ_MIRROR_WAIT_MS = 2_000;

/**
 * Read your writes (docs/design.md invariant 3): acknowledgements no longer wait for D1, so a
 * read served from D1 (list, export) first waits, at most READ_MIRROR_WAIT_MS, until D1 holds
 * every entry committed before it. While D1 is failing it waits for nothing and serves what D1
 * holds (/stats `mirror_lag` says how much is missing).
 */
export async function awaitMirror(c: Context<AppEnv>): Promise<void> {
  await tenantLog(c).awaitMirror(READ_MIRROR_WAIT_MS);
}

/** A tenant's Durable Object by id, for routes that may serve without a principal (routes/tiles.ts, public logs). */
export const tenantLogOf = (env: Env, tenantId: string) => failClosed("TenantLog", () => placedTenantLog(env, tenantId));

/** The calling tenant's LogAudit object (verification runs), failing closed the same way. */
export const logAudit = (c: Context<AppEnv>) => {
  const tenant = c.var.access.tenantId;
  return failClosed("LogAudit", () => placedLogAudit(c.env, tenant));
};

/**
 * `stub()` resolves the object at each call: the tenant's placement (placement.ts, cached per
 * isolate) picks its jurisdiction's namespace. A placement that cannot be read fails closed too.
 */
export function failClosed<T extends object>(name: string, stub: () => Promise<T>): T {
  return new Proxy({} as T, {
    get(_, prop) {
      // Not a thenable (an `await` of the stub itself must not call the object).
      if (prop === "then" || typeof prop === "symbol") return undefined;
      return async (...args: unknown[]) => {
        try {
          const target = await stub();
          const member = Reflect.get(target, prop) as (...a: unknown[]) => Promise<unknown>;
          // Reflect.apply: an RPC method is itself a proxy, on which `.apply` would be a remote call.
          return await Reflect.apply(member, target, args);
        } catch (e) {
          if (e instanceof Failure) throw e;
          console.error(`${name}.${String(prop)} failed`, e);
          throw new Failure({ reason: "log_unavailable" });
        }
      };
    },
  });
}
