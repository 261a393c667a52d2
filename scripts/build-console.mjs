// Builds the web console into dist/console (served by the Worker as static assets):
// src/console/main.ts bundled by esbuild (with the pure core it imports), plus the static
// files. Run by `npm run build`, which `npm install`, `npm run dev`, `npm test` and
// `npm run deploy` all run first.
import { build } from "esbuild";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = `${root}dist/console`;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
cpSync(`${root}src/console/static`, out, { recursive: true });
await build({
  entryPoints: [`${root}src/console/main.ts`],
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  minify: true,
  sourcemap: true,
  outfile: `${out}/console.js`,
  logLevel: "warning",
});
