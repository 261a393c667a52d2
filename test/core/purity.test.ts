import { describe, expect, it } from "vitest";

// src/core runs unchanged in workerd, Node (the CLI) and the browser (the console).
const sources = import.meta.glob<string>("../../src/core/**/*.ts", { eager: true, query: "?raw", import: "default" });
const ALLOWED = [/^\.\.?\//, /^@noble\/hashes\//, /^@noble\/curves\//, /^@noble\/post-quantum\//];

describe("src/core is pure", () => {
  it("has sources to check", () => expect(Object.keys(sources).length).toBeGreaterThan(3));
  for (const [file, text] of Object.entries(sources)) {
    it(`${file.replace("../../", "")} imports only pure modules`, () => {
      const imports = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^;]*?from\s+["']([^"']+)["']/g)].map((m) => m[1]!);
      for (const spec of imports)
        expect(
          ALLOWED.some((re) => re.test(spec)),
          `${file} imports ${spec}`,
        ).toBe(true);
      expect(text).not.toMatch(/\bimport\s*\(/);
      expect(text).not.toMatch(/\b(?:fetch|process|Deno|caches|crypto\.subtle)\b\s*[.(]/);
    });
  }
});
