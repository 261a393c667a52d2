import type { Context } from "hono";
import type { ProofRangeError } from "../durable/log-types";
import type { AppEnv } from "./app-env";
import { Failure } from "./errors";

/**
 * The calling tenant's Durable Object: the tenant comes from the authenticated principal.
 * A call that fails inside the object (it was reset, aborted or overloaded mid-call) becomes
 * 503 log_unavailable: the caller retries, and an Idempotency-Key makes the retry safe.
 */
export const tenantLog = (c: Context<AppEnv>) => failClosed(c.env.TENANT_LOG.get(c.env.TENANT_LOG.idFromName(c.var.access.tenantId)));

/** The calling tenant's LogAudit object (verification runs), failing closed the same way. */
export const logAudit = (c: Context<AppEnv>) => failClosed(c.env.LOG_AUDIT.get(c.env.LOG_AUDIT.idFromName(c.var.access.tenantId)));

function failClosed<T extends object>(stub: T): T {
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
          console.error(`TenantLog.${String(prop)} failed`, e);
          throw new Failure({ reason: "log_unavailable" });
        }
      };
    },
  });
}

/** Out-of-range proof requests are the client's mistake: a clear 4xx, never a 500. */
export function proofFailure(e: ProofRangeError): Failure {
  switch (e.reason) {
    case "index_out_of_range":
      return new Failure({ reason: "invalid_request", code: "index_out_of_range", message: `index must be below size (${e.size}).` });
    case "size_out_of_range":
      return new Failure({
        reason: "invalid_request",
        code: "size_out_of_range",
        message: `Sizes must satisfy 0 < from <= to <= the tree size (${e.treeSize}).`,
      });
    case "entry_not_found":
      return new Failure({ reason: "not_found", what: "Entry" });
    case "split_view":
      return new Failure(e);
    case "not_reconciled":
      return new Failure({ reason: "log_unavailable" });
  }
}
