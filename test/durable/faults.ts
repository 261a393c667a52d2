/** Fault-injecting wrappers around real bindings (the real binding does the work otherwise). */

/**
 * A D1 binding whose batch() fails: "before" fails without writing, "after" lets the write
 * land and then fails, as when D1 commits but the reply is lost.
 */
export function failingD1(real: D1Database, mode: "before" | "after"): D1Database {
  return new Proxy(real, {
    get(target, prop) {
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
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
 * An R2 binding whose put() fails for keys matching `match`: "before" fails without writing,
 * "after" writes the object and then fails. `times` failures, then the real put again.
 * With `also`, list() and get() fail too (sharing the same count).
 */
export function failingR2(real: R2Bucket, mode: "before" | "after", match: RegExp, times = Infinity, also: { list?: boolean; get?: boolean } = {}): R2Bucket {
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
