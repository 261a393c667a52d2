/**
 * Where a tenant's data lives (docs/design.md "Shards and jurisdictions"): its jurisdiction and
 * its D1 shard within it. Chosen once, when the tenant is created (src/worker/placement.ts),
 * recorded in the control database (`tenant_placement`, insert-only) and never changed. The
 * Worker and both Durable Objects map a placement to bindings with this table and nothing else.
 *
 * The control database `DB` (people, tenants, keys, placements) is also shard 0 of the default
 * jurisdiction: every tenant created before shards existed has its rows there already, so "no
 * placement recorded" and "default shard 0" are the same place.
 */

/** The jurisdictions a tenant can be created in; "default" is none (Cloudflare chooses). */
export const JURISDICTIONS = ["default", "eu", "fedramp"] as const;
export type Jurisdiction = (typeof JURISDICTIONS)[number];

export interface Placement {
  jurisdiction: Jurisdiction;
  /** Index into the jurisdiction's `shards` below. */
  shard: number;
}

/** Tenants without a recorded placement: those created before shards existed. */
export const DEFAULT_PLACEMENT: Placement = Object.freeze({ jurisdiction: "default", shard: 0 });

type BindingOf<T> = { [K in keyof Env]: Env[K] extends T ? K : never }[keyof Env];

/**
 * Each jurisdiction's D1 shards (by index: a placement's `shard`) and R2 bucket, by binding name
 * (wrangler.toml). Adding a shard: a new [[d1_databases]] binding, appended here (never
 * inserted: indexes are recorded placements). New tenants of the jurisdiction then go to the
 * shard with the fewest tenants (src/worker/placement.ts `chooseShard`), so the new one first.
 * A jurisdiction's databases and bucket are created in it by `npm run deploy`.
 */
export const PLACEMENT_BINDINGS = {
  default: { shards: ["DB", "DB_S1"], bucket: "BUCKET" },
  eu: { shards: ["DB_EU_S0"], bucket: "BUCKET_EU" },
  fedramp: { shards: ["DB_FEDRAMP_S0"], bucket: "BUCKET_FEDRAMP" },
} as const satisfies Record<Jurisdiction, { shards: readonly BindingOf<D1Database>[]; bucket: BindingOf<R2Bucket> }>;

export const isJurisdiction = (value: unknown): value is Jurisdiction =>
  typeof value === "string" && (JURISDICTIONS as readonly string[]).includes(value);

/** A placement read back from storage, checked: an unknown jurisdiction or shard is an error, never another place. */
export function checkedPlacement(jurisdiction: unknown, shard: unknown): Placement {
  if (!isJurisdiction(jurisdiction)) throw new Error(`placement names an unknown jurisdiction: ${String(jurisdiction)}`);
  const n = Number(shard);
  if (!Number.isSafeInteger(n) || n < 0 || n >= PLACEMENT_BINDINGS[jurisdiction].shards.length) {
    throw new Error(`placement names shard ${String(shard)} of ${jurisdiction}, which is not configured`);
  }
  return { jurisdiction, shard: n };
}

/** The tenant's D1 shard and R2 bucket. */
export function tenantStores(env: Env, placement: Placement): { db: D1Database; bucket: R2Bucket } {
  const { jurisdiction, shard } = checkedPlacement(placement.jurisdiction, placement.shard);
  const bindings = PLACEMENT_BINDINGS[jurisdiction];
  return { db: env[bindings.shards[shard]!], bucket: env[bindings.bucket] };
}

type Namespace<T extends Rpc.DurableObjectBranded | undefined> = Pick<DurableObjectNamespace<T>, "idFromName" | "get">;

/**
 * The namespace a tenant's Durable Objects come from: `namespace.jurisdiction(j)` outside the
 * default jurisdiction, so that Cloudflare creates and keeps them there.
 *
 * Local stand-in: workerd (npm run dev, npm test) does not implement jurisdictions; its
 * `jurisdiction()` throws "… not implemented in workerd". There the objects are named
 * `<jurisdiction>:<tenant>` in the plain namespace: separate objects with their own storage,
 * which no tenant id (letters, digits, `_`, `-`) can name, so routing by jurisdiction is tested
 * locally; keeping them in the jurisdiction is Cloudflare's part.
 */
export function namespaceIn<T extends Rpc.DurableObjectBranded | undefined>(
  namespace: DurableObjectNamespace<T>,
  jurisdiction: Jurisdiction,
): Namespace<T> {
  if (jurisdiction === "default") return namespace;
  try {
    return namespace.jurisdiction(jurisdiction);
  } catch (e) {
    if (!(e instanceof Error && /not implemented in workerd/.test(e.message))) throw e;
  }
  return {
    idFromName: (name: string) => namespace.idFromName(`${jurisdiction}:${name}`),
    get: (id, options) => namespace.get(id, options),
  };
}

/** The tenant's object of `namespace` (TenantLog, LogAudit) in its jurisdiction. */
export function tenantObject<T extends Rpc.DurableObjectBranded | undefined>(
  namespace: DurableObjectNamespace<T>,
  placement: Placement,
  tenant: string,
): DurableObjectStub<T> {
  const ns = namespaceIn(namespace, placement.jurisdiction);
  return ns.get(ns.idFromName(tenant));
}

/**
 * A Durable Object's own record of its placement (DO key-value storage, key `placement`), given
 * by the Worker before its first call (`place`). None stored: the default placement, where every
 * object made before shards existed keeps its tenant's rows. Stored once; a different one later
 * is refused (a caller is broken). Read synchronously, cached: placements never change.
 */
export class StoredPlacement {
  #cached: Placement | undefined;
  readonly #storage: DurableObjectStorage;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
  }

  get(): Placement {
    if (this.#cached) return this.#cached;
    const stored = this.#storage.kv.get<Placement>("placement");
    this.#cached = stored ? checkedPlacement(stored.jurisdiction, stored.shard) : DEFAULT_PLACEMENT;
    return this.#cached;
  }

  /** Records `placement` if none is; throws if another is. `hasData`: the object already holds data (in the default place). */
  set(placement: Placement, hasData: boolean): void {
    const wanted = checkedPlacement(placement.jurisdiction, placement.shard);
    const stored = this.#storage.kv.get<Placement>("placement");
    const current = stored ? checkedPlacement(stored.jurisdiction, stored.shard) : undefined;
    const same = (p: Placement) => p.jurisdiction === wanted.jurisdiction && p.shard === wanted.shard;
    if (current) {
      if (!same(current))
        throw new Error(`placed in ${current.jurisdiction}/${current.shard}, asked to use ${wanted.jurisdiction}/${wanted.shard}`);
      return;
    }
    // Data written before any placement was recorded went to the default place: moving it is not built.
    if (hasData && !same(DEFAULT_PLACEMENT))
      throw new Error(`holds data in the default place, asked to use ${wanted.jurisdiction}/${wanted.shard}`);
    // Durable now: the placement. Written before the first use of the tenant's stores (the caller's next call).
    this.#storage.kv.put("placement", wanted);
    this.#cached = wanted;
  }
}

/**
 * A binding that resolves to the placement's store at each use (the parts of a log are built
 * before the Worker's first call tells a fresh object its placement; tenant-log.ts `openLog`).
 */
export function lazyBinding<T extends object>(resolve: () => T): T {
  return new Proxy({} as T, {
    get(_, prop) {
      const target = resolve();
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
