// node:async_hooks (nodejs_compat): the request scope of src/worker/request-scope.ts. The Workers
// runtime types that `wrangler types` generates do not declare node:* modules.
declare module "node:async_hooks" {
  export class AsyncLocalStorage<T> {
    run<R>(store: T, fn: () => R): R;
    getStore(): T | undefined;
  }
}
