import type { View } from "../core/views";
import type { Auth } from "./auth-config";
import type { Permission } from "./permissions";

/** Who is calling, after authentication. */
export type Principal =
  | { type: "user"; userId: string; sessionId: string }
  | { type: "api_key"; keyId: string }
  /** A browser app's ingest key, used from one of its allowed origins. */
  | { type: "publishable_key"; keyId: string; origin: string }
  /**
   * A viewer token (viewer-token.ts, issue #19.5): `read` only, on the routes `VIEWER_ROUTES`
   * allows, within `view`. `mintedBy` is the key or user id that minted it.
   */
  | { type: "viewer_token"; tokenId: string; view: View; mintedBy: string };

/** The tenant a request acts on, resolved from the principal's membership or key owner. */
export interface TenantAccess {
  tenantId: string;
  principal: Principal;
  permissions: ReadonlySet<Permission>;
  /**
   * The view every read of this request is narrowed to (src/worker/view-access.ts); absent: the
   * whole log. Set by a key's view, or by a grant the request uses.
   */
  view?: View;
  /**
   * Time-bounded access a signed-in member holds now (grants.ts): used by `requirePermission` only
   * when the member's role lacks the permission a route needs (the use is then logged).
   */
  bounded?: readonly BoundedAccess[];
  /** The grant or elevation this request is using, once `requirePermission` chose one. */
  via?: { kind: "grant" | "elevation"; id: string };
  /**
   * When what this request's access rests on stops working (ms): an expiring key, or the grant or
   * elevation it uses. A viewer token minted with it expires no later (routes/viewer.ts).
   */
  expiresAtMs?: number;
}

/** A grant (permissions within a view) or an approved elevation (one permission, whole log) in force now. */
export interface BoundedAccess {
  kind: "grant" | "elevation";
  id: string;
  permissions: readonly Permission[];
  view?: View;
  reason: string;
  expiresAtMs: number;
}

export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    auth: Auth;
    access: TenantAccess;
  };
}
