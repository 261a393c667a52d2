import type { Context } from "hono";
import type { ProofRangeError } from "../durable/tenant-log";
import type { AppEnv } from "./app-env";
import { Failure } from "./errors";

/** The calling tenant's Durable Object: the tenant comes from the authenticated principal. */
export const tenantLog = (c: Context<AppEnv>) => c.env.TENANT_LOG.get(c.env.TENANT_LOG.idFromName(c.var.access.tenantId));

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
  }
}
