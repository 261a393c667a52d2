// Emits dist/client.d.ts, the types of `sealtrail/client` (src/client/index.ts), for projects
// that install the package. Run by `npm run build`. The file must stand alone: the package
// ships dist/ only (package.json "files"), so a declaration that imported src/, zod or the
// Worker's code would not resolve. src/client/index.ts writes its public types out for that;
// this script refuses to write a declaration that imports anything.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = fileURLToPath(new URL("..", import.meta.url));
const entry = `${root}src/client/index.ts`;
const program = ts.createProgram([entry], {
  declaration: true,
  emitDeclarationOnly: true,
  strict: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ES2022,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ["lib.es2024.d.ts", "lib.dom.d.ts"],
  types: [],
  skipLibCheck: true,
  rootDir: `${root}src`,
  outDir: `${root}dist/types`,
});
const source = program.getSourceFile(entry);
let declaration;
const result = program.emit(source, (_name, text) => (declaration = text), undefined, true);
const problems = [...program.getDeclarationDiagnostics(source), ...result.diagnostics];
if (problems.length > 0 || declaration === undefined) {
  console.error(
    ts.formatDiagnostics(problems, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => "\n" }),
  );
  throw new Error("build-client-types: no declaration for src/client/index.ts");
}
const imports = declaration.match(/^\s*(import|export .* from)\b.*$|\bimport\(|\brequire\(|\/\/\/ <reference/gm);
if (imports) throw new Error(`build-client-types: dist/client.d.ts must import nothing, found: ${imports.join(" | ")}`);
writeFileSync(
  `${root}dist/client.d.ts`,
  `// sealtrail/client: generated from src/client/index.ts by scripts/build-client-types.mjs\n${declaration}`,
);
