/**
 * Faults for the Durable Object's tests. Fault-injecting wrappers around real bindings (the real
 * binding does the work otherwise), given to the log's parts when a test builds them (`withLog`,
 * the same wiring TenantLog uses: src/durable/tenant-log.ts `openLog`); and faults injected into
 * real storage, which reach every caller (`d1RefusesRowsOf`).
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { JsonObject } from "../../src/core/entry";
import type { AppendResult } from "../../src/durable/log-types";
import { openLog, type Log, type LogOptions, type TenantLog } from "../../src/durable/tenant-log";

/**
 * Runs `body` with the tenant's log opened over its Durable Object's real storage by `openLog`,
 * with `options` (bindings wrapped in the doubles below; maxBatch; another `env`, as a deploy
 * would give it), and started as TenantLog starts. Then the object is evicted: the next call
 * builds a TenantLog, with the real bindings, from what storage holds (the one the runtime had
 * built before knows nothing of `body`'s work).
 */
type TestLogOptions = LogOptions & { env?: Env; storage?: DurableObjectStorage };

export async function withLog<T>(
  stub: DurableObjectStub<TenantLog>,
  tenant: string,
  options: TestLogOptions | ((state: DurableObjectState) => TestLogOptions),
  body: (log: Log, state: DurableObjectState) => Promise<T>,
): Promise<T> {
  try {
    return await runInDurableObject(stub, async (_runtime: TenantLog, state) => {
      const opened: TestLogOptions = typeof options === "function" ? options(state) : options;
      // `storage`: the object's storage wrapped by the test (the log's parts use it instead).
      const { storage } = opened;
      const ctx = storage ? new Proxy(state, { get: (t, p) => (p === "storage" ? storage : Reflect.get(t, p)) }) : state;
      const log = openLog(ctx, opened.env ?? env, opened);
      await log.start(tenant);
      return body(log, state);
    });
  } finally {
    await evictDurableObject(stub);
  }
}

/** Appends one event through the log's group commit (what TenantLog.append does). */
export function appendVia(log: Log, tenant: string, event: Record<string, unknown>, provenance: JsonObject = {}): Promise<AppendResult> {
  return log.commit.enqueue(tenant, { req: { items: [{ event: event as JsonObject }], provenance } });
}

/**
 * A D1 binding whose batch() fails: "before" fails without writing, "after" lets the write
 * land and then fails, as when D1 commits but the reply is lost. Only while `failing()` says so.
 */
export function failingD1(real: D1Database, mode: "before" | "after", failing: () => boolean = () => true): D1Database {
  return new Proxy(real, {
    get(target, prop) {
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          if (!failing()) return target.batch(statements);
          if (mode === "after") await target.batch(statements);
          throw new Error(`injected D1 failure (${mode} write)`);
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * A D1 binding whose batch() waits until `release()` is called (D1 slow or unreachable without
 * failing): the mirror's writes hang, everything else is the real binding. `entered` resolves
 * when a write first waits.
 */
export function blockingD1(real: D1Database): { db: D1Database; entered: Promise<void>; release: () => void } {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let entered!: () => void;
  const enteredP = new Promise<void>((resolve) => (entered = resolve));
  const db = new Proxy(real, {
    get(target, prop) {
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          entered();
          await released;
          return target.batch(statements);
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db, entered: enteredP, release };
}

/**
 * A Durable Object's storage whose transactionSync() commits and then runs `after` (for example
 * `state.abort()`: the object dies after its commit, before any reply leaves).
 */
export function afterCommitStorage(real: DurableObjectStorage, after: () => void): DurableObjectStorage {
  return new Proxy(real, {
    get(target, prop) {
      if (prop === "transactionSync") {
        return <T>(closure: () => T): T => {
          const result = target.transactionSync(closure);
          after();
          return result;
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * An R2 binding whose put() fails for keys matching `match`: "before" fails without writing,
 * "after" writes the object and then fails. `times` failures, then the real put again.
 * With `also`, list() and get() fail too (sharing the same count).
 */
export function failingR2(
  real: R2Bucket,
  mode: "before" | "after",
  match: RegExp,
  times = Infinity,
  also: { list?: boolean; get?: boolean } = {},
): R2Bucket {
  let left = times;
  return new Proxy(real, {
    get(target, prop) {
      if ((prop === "list" && also.list) || (prop === "get" && also.get)) {
        return async (...args: unknown[]) => {
          if (left > 0) {
            left -= 1;
            throw new Error(`injected R2 failure (${String(prop)})`);
          }
          return (Reflect.get(target, prop) as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      if (prop === "put") {
        return async (key: string, value: string, options?: R2PutOptions) => {
          if (left > 0 && match.test(key)) {
            left -= 1;
            if (mode === "after") await target.put(key, value, options);
            throw new Error(`injected R2 failure (${mode} write) at ${key}`);
          }
          return target.put(key, value, options);
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * A Durable Object namespace whose objects' `methods` fail (the call throws, as when the object
 * is reset or throws mid-call); every other method, and idFromName(), are the real ones.
 */
export function failingObjects<T extends Rpc.DurableObjectBranded | undefined>(
  real: DurableObjectNamespace<T>,
  methods: readonly string[],
): DurableObjectNamespace<T> {
  const bind = (target: object, prop: string | symbol) => {
    const value = Reflect.get(target, prop) as unknown;
    return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
  };
  return new Proxy(real, {
    get(target, prop) {
      if (prop !== "get") return bind(target, prop);
      return (id: DurableObjectId) =>
        new Proxy(target.get(id), {
          get(stub, method) {
            if (typeof method === "string" && methods.includes(method)) {
              return async () => {
                throw new Error(`injected Durable Object failure (${method})`);
              };
            }
            return Reflect.get(stub, method) as unknown;
          },
        });
    },
  });
}

/**
 * Makes D1 refuse the tenant's new `audit_events` rows, a fault in real storage (a BEFORE INSERT
 * trigger): every mirror pass for the tenant fails before writing, as while D1 is down, in
 * whichever object instance runs it; other tenants are unaffected. Returns what lifts it.
 */
export async function d1RefusesRowsOf(db: D1Database, tenant: string): Promise<() => Promise<void>> {
  if (!/^[A-Za-z0-9_-]+$/.test(tenant)) throw new Error(`unexpected tenant id ${tenant}`);
  const trigger = `inject_fault_${tenant.replaceAll("-", "_")}`;
  const refuse = "BEGIN SELECT RAISE(ABORT, 'injected D1 failure'); END";
  await db.prepare(`CREATE TRIGGER ${trigger} BEFORE INSERT ON audit_events WHEN NEW.tenant_id = '${tenant}' ${refuse}`).run();
  return async () => void (await db.prepare(`DROP TRIGGER ${trigger}`).run());
}
