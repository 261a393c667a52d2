/** Test helpers that drive the real Worker (better-auth, D1, the Durable Object) over fetch. */
import { exports } from "cloudflare:workers";

export const BASE = "http://127.0.0.1:8787";

export function api(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(`${BASE}${path}`, init));
}

export interface Session {
  token: string;
  userId: string;
  email: string;
}

let counter = 0;
const unique = () => `${Date.now().toString(36)}${(counter++).toString(36)}`;

/** A distinct client address (an IPv6 /64 of the documentation range) per simulated person. */
export const clientIp = () => `2001:db8:${(counter++ % 65536).toString(16)}:${Math.floor(Math.random() * 65536).toString(16)}::1`;

export const bearer = (s: Session | string): Record<string, string> => ({
  authorization: `Bearer ${typeof s === "string" ? s : s.token}`,
});

export async function signUp(name = "Ada"): Promise<Session> {
  const email = `${name.toLowerCase()}-${unique()}@example.com`;
  const res = await api("/api/auth/sign-up/email", {
    method: "POST",
    headers: { "content-type": "application/json", origin: BASE, "cf-connecting-ip": clientIp() },
    body: JSON.stringify({ email, password: "correct horse battery", name }),
  });
  if (res.status !== 200) throw new Error(`sign-up failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { token: string; user: { id: string } };
  const token = res.headers.get("set-auth-token") ?? body.token;
  return { token, userId: body.user.id, email };
}

export async function createTenant(owner: Session, name = "Acme"): Promise<string> {
  const res = await api("/api/auth/organization/create", {
    method: "POST",
    headers: { "content-type": "application/json", origin: BASE, "cf-connecting-ip": clientIp(), ...bearer(owner) },
    body: JSON.stringify({ name, slug: `${name.toLowerCase()}-${unique()}` }),
  });
  if (res.status !== 200) throw new Error(`organization create failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

export async function createKey(owner: Session, tenant: string, permissions: string[], name = "key"): Promise<string> {
  const res = await api(`/v1/tenants/${tenant}/keys`, {
    method: "POST",
    headers: { "content-type": "application/json", ...bearer(owner) },
    body: JSON.stringify({ name, permissions }),
  });
  if (res.status !== 201) throw new Error(`key create failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { key: string }).key;
}

export function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    action: "user.login",
    actor: { id: "user-1", type: "user", name: "Ada" },
    targets: [{ id: "app-1", type: "application" }],
    outcome: "success",
    ...overrides,
  };
}

export function postEvent(tenant: string, key: string, body: unknown, headers: Record<string, string> = {}) {
  return api(`/v1/tenants/${tenant}/events`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": key, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** A tenant with an owner, an append-only key and a read-only key. */
export async function tenantWithKeys() {
  const owner = await signUp();
  const tenant = await createTenant(owner);
  const appendKey = await createKey(owner, tenant, ["append"], "writer");
  const readKey = await createKey(owner, tenant, ["read"], "reader");
  return { owner, tenant, appendKey, readKey };
}
