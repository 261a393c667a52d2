import type { Auth } from "./auth-config";
import type { Permission } from "./permissions";
import type { View } from "../core/views";

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
}

export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    auth: Auth;
    access: TenantAccess;
  };
}
