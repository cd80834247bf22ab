import assert from "node:assert/strict";
import path from "node:path";
import { after, describe, test } from "node:test";
import AdmZip from "adm-zip";
import { validatePackage } from "../../src/packaging/validate-package.ts";
import { ok } from "../support/http-assert.ts";
import { fixtureZip, startTestApp } from "../support/test-app.ts";
import { zipDirectory } from "../support/zip-builder.ts";
import { assertProblem, limits, problemsThrown, upload } from "./helpers.ts";

// TypeScript plugins: `.ts` modules are compiled at upload (types erased, imports kept), and a
// module that does not compile is reported with its file and line like any other problem.

const FIXTURE = path.resolve(import.meta.dirname, "../fixtures/plugins/ts-entry");

function withFile(name: string, content: string): Buffer {
  const zip = new AdmZip(zipDirectory(FIXTURE));
  zip.addFile(name, Buffer.from(content));
  return zip.toBuffer();
}

describe("TypeScript entries", () => {
  test("a main.ts importing a .ts module validates; the sandbox gets JavaScript", () => {
    const pkg = validatePackage(zipDirectory(FIXTURE), { upload, limits });
    assert.equal(pkg.manifest.entry, "main.ts");
    const main = pkg.files.get("main.ts")!.toString("utf8");
    assert.doesNotMatch(main, /interface Body|: Context/, "types are erased");
    assert.match(main, /from "\.\/lib\/total\.ts"/, "imports keep naming the .ts file");
  });

  test("a syntax error is reported with file:line", () => {
    const problems = problemsThrown(() => validatePackage(withFile("lib/broken.ts", "export const x: number = 1;\nexport function f( {\n"), { upload, limits }));
    assertProblem(problems, "lib/broken.ts:3", "TypeScript:");
  });

  test("uploaded, its route answers and its hook runs", async () => {
    const app = await startTestApp();
    after(() => app.close());
    const ten = await app.tenant();
    await ok(await ten.upload(fixtureZip("ts-entry")), 201);
    const res = await ok(await ten.request("POST", "/ext/ts-entry/total", { json: { lines: [{ price: 2.5, quantity: 4 }, { price: 1, quantity: 3 }] } }));
    assert.deepEqual(res, { total: 13, tenant: ten.slug });
  });
});
