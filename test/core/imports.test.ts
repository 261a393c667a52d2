/**
 * The shape of src/ as its import statements draw it: no module imports itself back (no
 * cycles, type-only imports included), and each part imports only what its boundary allows.
 * Reads the sources as text; runs in workerd and on Node.
 */
import { describe, expect, it } from "vitest";

const texts = import.meta.glob<string>("../../src/**/*.ts", { eager: true, query: "?raw", import: "default" });
/** "src/a/b.ts" → its text (declaration files declare, they import nothing that runs). */
const sources = new Map(
  Object.entries(texts)
    .filter(([file]) => !file.endsWith(".d.ts"))
    .map(([file, text]) => [file.replace("../../", ""), text]),
);

/** Every module specifier a file names: `import … from`, `export … from`, `import "…"`, `import("…")`. */
function specifiersOf(text: string): string[] {
  const statements = /(?:^|\n)[ \t]*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']|(?:^|\n)[ \t]*import\s*["']([^"']+)["']/g;
  const dynamic = /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;
  return [...text.matchAll(statements)].map((m) => (m[1] ?? m[2])!).concat([...text.matchAll(dynamic)].map((m) => m[1]!));
}

/** The file a relative specifier names ("src/x/y.ts" or "src/x/y/index.ts"), if it exists. */
function resolve(from: string, spec: string, files: ReadonlySet<string>): string | undefined {
  const parts = from.split("/").slice(0, -1);
  for (const seg of spec.split("/")) {
    if (seg === "..") parts.pop();
    else if (seg !== ".") parts.push(seg);
  }
  const base = parts.join("/");
  return [`${base}.ts`, `${base}/index.ts`, base].find((f) => files.has(f));
}

/** Each file's imports of other files in the map (relative specifiers only). */
function importGraph(files: ReadonlyMap<string, string>): Map<string, string[]> {
  const names = new Set(files.keys());
  const graph = new Map<string, string[]>();
  for (const [file, text] of files) {
    const deps = specifiersOf(text)
      .filter((s) => s.startsWith("."))
      .map((s) => resolve(file, s, names))
      .filter((f): f is string => f !== undefined);
    graph.set(file, [...new Set(deps)]);
  }
  return graph;
}

/** Every cycle found by a depth-first search, each as the path a → … → a (one per back edge). */
function cyclesOf(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    stack.push(file);
    for (const dep of graph.get(file) ?? []) {
      if (state.get(dep) === "open") cycles.push([...stack.slice(stack.indexOf(dep)), dep]);
      else if (!state.has(dep)) visit(dep);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return cycles;
}

/** Which folders of src/ each part may import from (relative imports; src/core's own rule is purity.test.ts). */
const MAY_IMPORT: Record<string, readonly string[]> = {
  "src/cli": ["src/cli", "src/core", "src/runtime"],
  "src/client": ["src/client", "src/core"],
  "src/console": ["src/console", "src/core"],
  "src/runtime": ["src/runtime", "src/core"],
  "src/core": ["src/core"],
  // The witness is its own Worker (wrangler.witness.toml): nothing of Sealtrail's Worker or Durable Objects.
  "src/witness": ["src/witness", "src/core"],
};
/**
 * Which packages they may import directly. The SDK (src/client) and the console are bundled for
 * browsers and other people's code: no zod, no Worker or Node code (what the core bundles,
 * @noble/*, comes in through src/core).
 */
const MAY_USE_PACKAGES: Record<string, [what: string, allowed: RegExp]> = {
  "src/cli": ["Node's own (node:*)", /^node:/],
  "src/client": ["none", /^$/],
  "src/console": ["none", /^$/],
  "src/runtime": ["node:crypto and node:buffer", /^node:(crypto|buffer)$/],
  "src/witness": ["cloudflare:workers", /^cloudflare:workers$/],
};
const partOf = (file: string) => file.split("/").slice(0, 2).join("/");

describe("imports in src/", () => {
  const graph = importGraph(sources);

  it("reads the sources and their imports", () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get("src/worker/app.ts")).toContain("src/worker/routes/events.ts");
    expect(specifiersOf('import type {\n  A,\n  B,\n} from "./a";\nexport { c } from "../c";\nimport "./d";')).toEqual([
      "./a",
      "../c",
      "./d",
    ]);
  });

  it("finds a cycle when there is one (type-only imports count)", () => {
    const planted = new Map([
      ["src/x/main.ts", 'import { page } from "./page";'],
      ["src/x/page.ts", 'import type { Ctx } from "./main";\nimport { h } from "./dom";'],
      ["src/x/dom.ts", "export const h = 1;"],
    ]);
    expect(cyclesOf(importGraph(planted))).toEqual([["src/x/main.ts", "src/x/page.ts", "src/x/main.ts"]]);
  });

  it("has no import cycle", () => {
    expect(cyclesOf(graph).map((c) => c.join(" → "))).toEqual([]);
  });

  for (const [part, allowed] of Object.entries(MAY_IMPORT)) {
    it(`${part} imports only from ${allowed.join(", ")}`, () => {
      const crossings = [...graph]
        .filter(([file]) => partOf(file) === part)
        .flatMap(([file, deps]) => deps.filter((d) => !allowed.includes(partOf(d))).map((d) => `${file} → ${d}`));
      expect(crossings).toEqual([]);
    });
  }

  for (const [part, [what, allowed]] of Object.entries(MAY_USE_PACKAGES)) {
    it(`${part} imports packages: ${what}`, () => {
      const used = [...sources]
        .filter(([file]) => partOf(file) === part)
        .flatMap(([file, text]) =>
          specifiersOf(text)
            .filter((s) => !s.startsWith(".") && !allowed.test(s))
            .map((s) => `${file} → ${s}`),
        );
      expect(used).toEqual([]);
    });
  }
});
