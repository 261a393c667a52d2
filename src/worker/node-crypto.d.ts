// The part of node:crypto (nodejs_compat) that src/worker/native-sha256.ts uses. The Workers
// runtime types that `wrangler types` generates do not declare node:* modules; Node's own
// types (@types/node) are for the CLI's type check only.
declare module "node:crypto" {
  interface Hash {
    update(data: Uint8Array | string): Hash;
    digest(): Uint8Array;
  }
  export function createHash(algorithm: "sha256"): Hash;
}

// node:async_hooks (nodejs_compat): the request scope of src/worker/request-scope.ts.
declare module "node:async_hooks" {
  export class AsyncLocalStorage<T> {
    run<R>(store: T, fn: () => R): R;
    getStore(): T | undefined;
  }
}
