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
