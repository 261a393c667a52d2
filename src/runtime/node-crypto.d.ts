// The part of node:crypto (nodejs_compat) that src/runtime/native-sha256.ts uses. The Workers
// runtime types that `wrangler types` generates do not declare node:* modules; Node's own
// types (@types/node) are for the CLI's type check only.
declare module "node:crypto" {
  interface Hash {
    update(data: Uint8Array | string): Hash;
    digest(): Uint8Array;
  }
  export function createHash(algorithm: "sha256"): Hash;
}
