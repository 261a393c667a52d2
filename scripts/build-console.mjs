// Builds the web console into dist/console (served by the Worker as static assets):
// src/console/main.ts bundled by esbuild (with the pure core it imports), plus the static
// files. Run by `npm run build`, which `npm install`, `npm run dev`, `npm test` and
// `npm run deploy` all run first.
//
// It builds into a fresh folder next to dist/console and leaves dist/console untouched when
// the result is the same, so a rebuild never pulls files from under a server already serving
// them (e.g. `npm run dev` started while the browser tests run); otherwise it swaps folders.
import { build } from "esbuild";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = `${root}dist/console`;
const next = `${out}.next-${process.pid}`;
rmSync(next, { recursive: true, force: true });
mkdirSync(next, { recursive: true });
cpSync(`${root}src/console/static`, next, { recursive: true });
await build({
  entryPoints: [`${root}src/console/main.ts`],
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  minify: true,
  sourcemap: true,
  outfile: `${next}/console.js`,
  logLevel: "warning",
});
// The embeddable viewer (issue #19.5): the framed page's script, and the web component hosts
// load with a classic <script> from another origin (so an IIFE, not a module).
for (const [entry, file] of [
  ["viewer/viewer.ts", "viewer.js"],
  ["viewer/element.ts", "sealtrail-viewer.js"],
]) {
  await build({
    entryPoints: [`${root}src/console/${entry}`],
    bundle: true,
    format: "iife",
    target: "es2022",
    platform: "browser",
    minify: true,
    outfile: `${next}/${file}`,
    logLevel: "warning",
  });
}

/** Same files with the same bytes (the folders are flat, as src/console/static is). */
function sameTree(a, b) {
  if (!existsSync(b)) return false;
  const names = readdirSync(a).sort();
  const other = readdirSync(b).sort();
  if (names.join("\0") !== other.join("\0")) return false;
  return names.every((n) => {
    try {
      return readFileSync(`${a}/${n}`).equals(readFileSync(`${b}/${n}`));
    } catch {
      return false; // a folder: rebuild
    }
  });
}

if (sameTree(next, out)) {
  rmSync(next, { recursive: true, force: true });
} else {
  const old = `${out}.old-${process.pid}`;
  if (existsSync(out)) renameSync(out, old);
  renameSync(next, out);
  rmSync(old, { recursive: true, force: true });
}
