import type { Context } from "hono";
import type { AppEnv } from "./app-env";
import { Failure } from "./errors";

/**
 * The calling tenant's Durable Object: the tenant comes from the authenticated principal.
 * A call that fails inside the object (it was reset, aborted or overloaded mid-call) becomes
 * 503 log_unavailable: the caller retries, and an Idempotency-Key makes the retry safe.
 * What the objects refuse they return as data (LogError, ProofRangeError): each is an AppError
 * variant, thrown as it is (`throw new Failure(result.error)`) and answered by errors.ts.
 */
export const tenantLog = (c: Context<AppEnv>) =>
  failClosed("TenantLog", c.env.TENANT_LOG.get(c.env.TENANT_LOG.idFromName(c.var.access.tenantId)));

/** A tenant's Durable Object by id, for routes that may serve without a principal (routes/tiles.ts, public logs). */
export const tenantLogOf = (env: Env, tenantId: string) => failClosed("TenantLog", env.TENANT_LOG.get(env.TENANT_LOG.idFromName(tenantId)));

/** The calling tenant's LogAudit object (verification runs), failing closed the same way. */
export const logAudit = (c: Context<AppEnv>) =>
  failClosed("LogAudit", c.env.LOG_AUDIT.get(c.env.LOG_AUDIT.idFromName(c.var.access.tenantId)));

function failClosed<T extends object>(name: string, stub: T): T {
  return new Proxy(stub, {
    get(target, prop) {
      const member = Reflect.get(target, prop) as unknown;
      if (typeof member !== "function") return member;
      return async (...args: unknown[]) => {
        try {
          // Reflect.apply: an RPC method is itself a proxy, on which `.apply` would be a remote call.
          return await Reflect.apply(member as (...a: unknown[]) => Promise<unknown>, target, args);
        } catch (e) {
          if (e instanceof Failure) throw e;
          console.error(`${name}.${String(prop)} failed`, e);
          throw new Failure({ reason: "log_unavailable" });
        }
      };
    },
  });
}
