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
