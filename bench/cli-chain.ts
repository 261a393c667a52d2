/**
 * Writes a genuine 1,000,000-entry chain (10 seals of 100,000) for `npm run bench`'s offline
 * verification row, with the planning code the Durable Object uses (test/cli/chain.ts).
 * Bundled and run by bench/run.mjs; prints {dir, key, ms} as JSON.
 */
import { keyOf, writeChain } from "../test/cli/chain";

const seals = Number(process.argv[2] ?? "10");
const perSeal = Number(process.argv[3] ?? "100000");
const start = performance.now();
const { dir } = writeChain(
  "bench",
  Array.from({ length: seals }, () => perSeal),
);
console.log(JSON.stringify({ dir, key: keyOf("bench"), ms: performance.now() - start, entries: seals * perSeal }));
