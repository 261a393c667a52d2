/** Test helpers that drive the real Worker (better-auth, D1, the Durable Object) over fetch. */
import { env, exports } from "cloudflare:workers";
import { checkedPlacement, DEFAULT_PLACEMENT, tenantStores, type Placement } from "../../src/durable/placement";

export const BASE = "http://127.0.0.1:8787";

/** The tenant's TenantLog Durable Object (one per tenant, by name), for calls and faults the API does not offer. */
export const logOf = (tenant: string) => env.TENANT_LOG.get(env.TENANT_LOG.idFromName(tenant));
/**
 * Waits until D1 holds every entry the tenant's log has committed: acknowledgements no longer
 * wait for the D1 mirror (docs/design.md invariant 3), so a test that reads D1 directly asks first.
 */
export async function mirrored(tenant: string): Promise<void> {
  for (let i = 0; i < 100; i++) if (await logOf(tenant).drainMirror()) return;
  throw new Error(`the D1 mirror of ${tenant} did not catch up`);
}
/** The tenant's LogAudit Durable Object (its verification jobs). */
export const auditOf = (tenant: string) => env.LOG_AUDIT.get(env.LOG_AUDIT.idFromName(tenant));

/** The tenant's placement as recorded in the control database (none: the default shard 0). */
export async function placementOf(tenant: string): Promise<Placement> {
  const row = await env.DB.prepare("SELECT jurisdiction, shard FROM tenant_placement WHERE tenant_id = ?")
    .bind(tenant)
    .first<{ jurisdiction: string; shard: number }>();
  return row ? checkedPlacement(row.jurisdiction, row.shard) : DEFAULT_PLACEMENT;
}

/** The tenant's D1 shard: where its audit rows are (tests that read or plant rows use it). */
export const dbOf = async (tenant: string): Promise<D1Database> => tenantStores(env, await placementOf(tenant)).db;
/** The tenant's D1 shard once the mirror has caught up: acknowledgements do not wait for D1 (invariant 3). */
export async function mirroredDbOf(tenant: string): Promise<D1Database> {
  await mirrored(tenant);
  return dbOf(tenant);
}
/** The tenant's R2 bucket. */
export const bucketOf = async (tenant: string): Promise<R2Bucket> => tenantStores(env, await placementOf(tenant)).bucket;

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

/**
 * A tenant with an owner, an append-only key and a read-only key. Creating the keys writes
 * entries (`sealtrail.key.created`): `base` is the log's size after them, the sequence number
 * the test's first event gets.
 */
export async function tenantWithKeys() {
  const owner = await signUp();
  const tenant = await createTenant(owner);
  const appendKey = await createKey(owner, tenant, ["append"], "writer");
  const readKey = await createKey(owner, tenant, ["read"], "reader");
  const base = await logSize(owner, tenant);
  return { owner, tenant, appendKey, readKey, base };
}

export interface LoggedEvent {
  seq: number;
  event: Record<string, unknown>;
  provenance: Record<string, unknown>;
  entry: string;
}

/**
 * The tenant's entries whose action matches `action` (a name, or a prefix ending in ".*"), in
 * sequence order. Tests find entries by what they record rather than by fixed sequence numbers:
 * the log also holds the service's own entries (key creations, membership changes).
 */
export async function entriesOf(reader: Session | { key: string }, tenant: string, action: string): Promise<LoggedEvent[]> {
  const headers = "key" in reader ? { "x-api-key": reader.key } : bearer(reader);
  const res = await api(`/v1/tenants/${tenant}/events?action=${encodeURIComponent(action)}&limit=100`, { headers });
  if (res.status !== 200) throw new Error(`listing ${action} failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { events: LoggedEvent[] }).events;
}

/** The sequence number of the tenant's next entry (its log's size), read by a member. */
export async function logSize(reader: Session, tenant: string): Promise<number> {
  const res = await api(`/v1/tenants/${tenant}/stats`, { headers: bearer(reader) });
  if (res.status !== 200) throw new Error(`stats failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { size: number }).size;
}

/** A better-auth organization route, as the console calls it. */
export function orgRoute(who: Session, path: string, body: unknown) {
  return api(`/api/auth/organization/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: BASE, "cf-connecting-ip": clientIp(), ...bearer(who) },
    body: JSON.stringify(body),
  });
}

/** Invites `email` into the tenant; the answer carries the invitation link's one-time secret. */
export async function invite(owner: Session, tenant: string, email: string, role: string): Promise<{ id: string; secret: string }> {
  const res = await orgRoute(owner, "invite-member", { email, role, organizationId: tenant });
  if (res.status !== 200) throw new Error(`invite failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; secret: string };
}

/** Accepts an invitation with its link's secret, as the signed-in `who`. */
export function acceptInvitation(who: Session, id: string, secret: string | undefined) {
  return api(`/v1/invitations/${encodeURIComponent(id)}/accept`, {
    method: "POST",
    headers: { "content-type": "application/json", ...bearer(who) },
    body: JSON.stringify(secret === undefined ? {} : { secret }),
  });
}

/** Invites `who` with `role` and accepts; returns the new member's id. */
export async function join(owner: Session, tenant: string, who: Session, role: string): Promise<string> {
  const inv = await invite(owner, tenant, who.email, role);
  const res = await acceptInvitation(who, inv.id, inv.secret);
  if (res.status !== 200) throw new Error(`accept failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { member: { id: string } }).member.id;
}
