/**
 * Hash routing: #/t/<tenant>/<page>[/…][?query]. What a page gets from the router (its
 * TenantContext) and how pages link and navigate. main.ts renders routes; pages import this
 * module, never main.ts.
 */
import type { Org, Session } from "./wire";

export interface Route {
  parts: string[];
  params: URLSearchParams;
}

/** What a tenant's page is rendered with. */
export interface TenantContext {
  tenant: Org;
  session: Session;
  orgs: Org[];
  route: Route;
  /** The console's one clock: read once per render. */
  now: Date;
}

export function parseRoute(hash: string): Route {
  const [path = "", q = ""] = hash.replace(/^#/, "").split("?", 2);
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(q) };
}

/** The hash of one of a tenant's pages: `rest` is "/<page>[/…][?query]". */
export const tenantHash = (tenant: string, rest: string) => `#/t/${encodeURIComponent(tenant)}${rest}`;

/** Navigates to a console page (a hash); the same hash renders again. */
export function go(hash: string): void {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}
