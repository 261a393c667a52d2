// The parts of node:crypto and node:buffer (nodejs_compat) that src/runtime/native-sha256.ts uses. The Workers
// runtime types that `wrangler types` generates do not declare node:* modules; Node's own
// types (@types/node) are for the CLI's type check only.
declare module "node:crypto" {
  interface Hash {
    update(data: Uint8Array | string): Hash;
    digest(): Uint8Array;
  }
  export function createHash(algorithm: "sha256"): Hash;
}

// The part of node:buffer (nodejs_compat) that native-sha256.ts uses: a reusable input buffer.
declare module "node:buffer" {
  interface Buffer extends Uint8Array {
    subarray(start?: number, end?: number): Buffer;
  }
  export const Buffer: { allocUnsafeSlow(size: number): Buffer };
}
