import { parse, type Import } from "es-module-lexer";
import { resolveRelative } from "./package-path.ts";
import type { Problem } from "./problem.ts";

// The sandbox has no module loader beyond the package itself and the SDK, so anything else
// would fail at install time inside an isolate; refusing it here gives the author a clear
// message with file and line. The isolate stays the real barrier.

const SDK = "@sbh/sdk";
const CODE_FILE = /\.(m?js|ts)$/;
const isCode = (file: string) => CODE_FILE.test(file) && !file.endsWith(".d.ts");

/** Checks every import and re-export of every .js/.mjs/.ts file (TypeScript already compiled). */
export function checkImports(files: Map<string, Buffer>): Problem[] {
  const problems: Problem[] = [];
  for (const [name, data] of files) {
    if (!isCode(name)) continue;
    const source = data.toString("utf8").replace(/^\uFEFF/, "");
    let imports: readonly Import[];
    try {
      [imports] = parse(source, name);
    } catch (err) {
      const idx = (err as { idx?: number }).idx ?? 0;
      const column = idx - source.lastIndexOf("\n", idx - 1);
      problems.push({ path: `${name}:${lineOf(source, idx)}`, message: `syntax error at column ${column}` });
      continue;
    }
    for (const imp of imports) {
      const message = importProblem(name, imp, files);
      if (message) problems.push({ path: `${name}:${lineOf(source, imp.importStart)}`, message });
    }
  }
  return problems;
}

function importProblem(file: string, imp: Import, files: Map<string, Buffer>): string | undefined {
  if (imp.type === "import-meta") return undefined;
  if (imp.type === "dynamic") {
    const what = imp.specifier === undefined ? "import(…)" : `import(${JSON.stringify(imp.specifier)})`;
    return `dynamic ${what} is not allowed; use a static import at the top of the module`;
  }
  const spec = imp.specifier;
  if (imp.typeOnly) return `"import type" is TypeScript; ship compiled JavaScript`;
  if (imp.phase !== null) return `"import ${imp.phase}" is not supported`;
  if (imp.attributes !== null) return `import attributes (with { … }) are not supported for "${spec}"`;
  if (spec === SDK) return undefined;
  if (!spec.startsWith("./") && !spec.startsWith("../")) {
    const builtin = spec.startsWith("node:") ? " (Node built-ins do not exist in the sandbox)" : "";
    return `"${spec}" cannot be imported${builtin}; only "${SDK}" and relative files of the package (./x.js) can`;
  }
  const target = resolveRelative(file, spec);
  if (target === undefined) return `"${spec}" points outside the package`;
  if (!isCode(target)) return `"${spec}" must name a .js, .mjs or .ts file, with its extension`;
  if (!files.has(target)) return `"${spec}" resolves to ${target}, which is not in the package`;
  return undefined;
}

function lineOf(source: string, index: number): number {
  let line = 1;
  for (let i = source.indexOf("\n"); i !== -1 && i < index; i = source.indexOf("\n", i + 1)) line++;
  return line;
}
