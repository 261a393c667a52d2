/**
 * The Hono context of the request being handled, for code that runs inside better-auth (its
 * organization hooks) and so is not handed the context. Set once per request in app.ts; read
 * with `requestScope()`. Also carries what such code hands back to the route that called
 * better-auth (an invitation link's secret, which invitation a secret was checked for).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Context } from "hono";
import type { AppEnv } from "./app-env";
import { Failure } from "./errors";

export interface RequestScope {
  c: Context<AppEnv>;
  /** Set by the invitation hook: the secret of the invitation this request created (shown once). */
  issuedInvitation?: { id: string; secret: string };
  /** Set by POST /v1/invitations/:id/accept once the link's secret matched: the one invitation it may accept. */
  acceptedInvitationId?: string;
  /** Set by authHandler for organization/create: the body's `jurisdiction` as sent (placement.ts validates it). */
  requestedJurisdiction?: unknown;
}

const storage = new AsyncLocalStorage<RequestScope>();

export const runInScope = <T>(c: Context<AppEnv>, fn: () => Promise<T>): Promise<T> => storage.run({ c }, fn);

/** The current request's scope. Outside a request (never in this Worker) nothing may change: fail closed. */
export function requestScope(): RequestScope {
  const scope = storage.getStore();
  if (!scope) {
    console.error("better-auth hook ran outside a request scope");
    throw new Failure({ reason: "internal" });
  }
  return scope;
}
