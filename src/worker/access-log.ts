/**
 * Access events: reads of sensitive material (snapshot downloads, and later exports and
 * verifications) are appended to the tenant's own log with the reader's identity. The append
 * happens before the response, and a failed append refuses the read: an audit log does not
 * serve what it cannot record. These appends are writes, so they log nothing themselves.
 */
import type { Context } from "hono";
import type { JsonObject } from "../core/entry";
import type { AppEnv } from "./app-env";
import { Failure } from "./errors";
import { provenance } from "./provenance";
import { tenantLog } from "./tenant-log";

/** The event that records an action by the current principal on `target`. */
export function principalEvent(
  c: Context<AppEnv>,
  action: string,
  target: { id: string; type: string },
  metadata?: JsonObject,
): JsonObject {
  const { principal, view, via } = c.var.access;
  // A read through a view, or a use of a grant or elevation, says so in its entry (issue #19.1):
  // every use of a view is in the log with the view it saw.
  const scoped = { ...(view ? { view: view as JsonObject } : {}), ...(via ? { via: { kind: via.kind, id: via.id } } : {}) };
  const meta = metadata || view || via ? { ...metadata, ...scoped } : undefined;
  if (principal.type === "viewer_token") {
    // A viewer token's reads are its own: the token id as the actor, its view and minter beside them (issue #19.5).
    const viewer: JsonObject = { token_id: principal.tokenId, view: principal.view as JsonObject, minted_by: principal.mintedBy };
    return {
      action,
      actor: { id: principal.tokenId, type: "viewer_token" },
      targets: [target],
      outcome: "success",
      metadata: { ...metadata, viewer },
    };
  }
  return {
    action,
    actor: principal.type === "user" ? { id: principal.userId, type: "user" } : { id: principal.keyId, type: principal.type },
    targets: [target],
    outcome: "success",
    ...(meta ? { metadata: meta } : {}),
  };
}

export async function recordAccess(c: Context<AppEnv>, action: string, target: { id: string; type: string }, metadata?: JsonObject) {
  const result = await tenantLog(c).append(c.var.access.tenantId, [{ event: principalEvent(c, action, target, metadata) }], provenance(c));
  if (!result.ok) throw new Failure(result.error);
}
