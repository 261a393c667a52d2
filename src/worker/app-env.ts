import type { Auth } from "./auth-config";
import type { Permission } from "./permissions";

/** Who is calling, after authentication. */
export type Principal =
  | { type: "user"; userId: string; sessionId: string }
  | { type: "api_key"; keyId: string }
  /** A browser app's ingest key, used from one of its allowed origins. */
  | { type: "publishable_key"; keyId: string; origin: string };

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
