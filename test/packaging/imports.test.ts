import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { checkImports } from "../../src/packaging/imports.ts";
import { assertProblem } from "./helpers.ts";

const pkg = (entries: Record<string, string>) =>
  new Map(Object.entries(entries).map(([name, text]) => [name, Buffer.from(text)]));

describe("checkImports", () => {
  test("the SDK, relative files with their extension, re-exports and import.meta pass", () => {
    const problems = checkImports(
      pkg({
        "main.js": [
          'import { hook } from "@sbh/sdk";',
          'import { a } from "./lib/a.js";',
          'export * from "./lib/b.mjs";',
          'export { c } from "./lib/nested/c.js";',
          "const here = import.meta.url;",
          "// import('fs') in a comment is not code",
          'const s = "import(\\"fs\\")";',
        ].join("\n"),
        "lib/a.js": 'export const a = 1;',
        "lib/b.mjs": 'export const b = 2;',
        "lib/nested/c.js": 'import { a } from "../a.js"; export const c = a;',
        "plugin.json": "{ not code, never lexed",
      }),
    );
    assert.deepEqual(problems, []);
  });

  test("bare and node: specifiers are refused with file and line", () => {
    const problems = checkImports(pkg({ "main.js": 'import { hook } from "@sbh/sdk";\nimport fs from "fs";\nimport "node:child_process";\nimport x from "@sbh/sdk/internal";' }));
    assertProblem(problems, "main.js:2", '"fs" cannot be imported');
    assertProblem(problems, "main.js:3", "Node built-ins do not exist in the sandbox");
    assertProblem(problems, "main.js:4", '"@sbh/sdk/internal" cannot be imported');
  });

  test("any dynamic import is refused, literal or not", () => {
    const problems = checkImports(
      pkg({
        "main.js": 'async function f(name) {\n  await import("./lib/a.js");\n  await import(name);\n}',
        "lib/a.js": "",
      }),
    );
    assertProblem(problems, "main.js:2", 'dynamic import("./lib/a.js") is not allowed');
    assertProblem(problems, "main.js:3", "dynamic import(…) is not allowed");
  });

  test("relative imports must resolve to a .js file of the package, extension given", () => {
    const problems = checkImports(
      pkg({
        "main.js": [
          'import "./lib/util";',
          'import "./lib/missing.js";',
          'import "../outside.js";',
          'import data from "./data.json" with { type: "json" };',
          'export { x } from "/etc/x.js";',
        ].join("\n"),
        "lib/util.js": "",
        "lib/deep.js": 'import "../../escape.js";',
        "data.json": "{}",
      }),
    );
    assertProblem(problems, "main.js:1", "must name a .js, .mjs or .ts file, with its extension");
    assertProblem(problems, "main.js:2", "resolves to lib/missing.js, which is not in the package");
    assertProblem(problems, "main.js:3", "points outside the package");
    assertProblem(problems, "main.js:4", "import attributes");
    assertProblem(problems, "main.js:5", '"/etc/x.js" cannot be imported');
    assertProblem(problems, "lib/deep.js:1", "points outside the package");
  });

  test("a module the lexer cannot parse is reported with its line", () => {
    const problems = checkImports(pkg({ "transforms/t.js": "export function t(e) {\n  return e;\n}}}\n" }));
    assertProblem(problems, "transforms/t.js:3", "syntax error");
  });
});
