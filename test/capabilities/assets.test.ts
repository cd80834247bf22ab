import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import AdmZip from "adm-zip";
import { loadPlugin, type LoadedPlugin } from "../../src/testing/index.ts";
import { FIXTURES, fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";
import { ok } from "../support/http-assert.ts";

// ctx.assets on the real platform and through the author test kit: the fixture calls
// ctx.assets with what the test sends and answers with the value or the error it caught.

const SLUG = "assets-reader";
const DIR = path.join(FIXTURES, SLUG);
const onDisk = (name: string) => readFileSync(path.join(DIR, name));

type Outcome = { value?: any; error?: { name: string; message: string; code: string | null } };

// Every call the parity test replays through both; the platform's answers are checked one by one below.
const CALLS: Array<[string, unknown[]]> = [
  ["read", ["templates/hello.html"]],
  ["read", ["templates/nested/note.txt"]],
  ["read", ["static/logo.png", { encoding: "base64" }]],
  ["read", ["static/logo.png"]],
  ["read", ["plugin.json"]],
  ["read", ["static/missing.css"]],
  ["read", ["main.js"]],
  ["read", ["lib/greeting.js"]],
  ["list", []],
  ["list", ["static/"]],
  ["list", ["templates"]],
  ["list", ["nothing/"]],
  ["read", ["../plugin.json"]],
  ["read", ["../../etc/passwd"]],
  ["read", ["/etc/passwd"]],
  ["read", ["a\\b"]],
  ["read", ["static/%2e%2e/x"]],
  ["read", ["static/\0"]],
  ["read", ["static/"]],
  ["list", ["../"]],
  ["read", [42]],
  ["read", ["static/style.css", { encoding: "hex" }]],
];

let app: TestApp;
let t: TestTenant;
let kit: LoadedPlugin;
before(async () => {
  app = await startTestApp();
  t = await app.tenant("assets");
  await ok(await t.upload(fixtureZip(SLUG)), 201);
  kit = await loadPlugin(DIR);
});
after(() => Promise.all([app.close(), kit?.close()]));

async function call(method: string, args: unknown[], tenant = t): Promise<Outcome> {
  return ok(await tenant.request("POST", `/ext/${SLUG}/call`, { json: { method, args } }));
}

async function value(method: string, ...args: unknown[]): Promise<any> {
  const out = await call(method, args);
  assert.equal(out.error, undefined, `ctx.assets.${method} failed: ${JSON.stringify(out.error)}`);
  return out.value;
}

describe("ctx.assets on the platform (no permission asked for)", () => {
  test("read gives a package file's UTF-8 text", async () => {
    assert.equal(await value("read", "templates/hello.html"), onDisk("templates/hello.html").toString("utf8"));
    assert.equal(await value("read", "templates/nested/note.txt"), "Grüße aus dem Paket ✓\n");
    assert.equal((await ok(await t.request("GET", `/ext/${SLUG}/hello`))).html, "<p>Hello, Ada!</p>\n");
  });

  test("a binary file round-trips through base64, and is refused as text", async () => {
    const bytes = Buffer.from(await value("read", "static/logo.png", { encoding: "base64" }), "base64");
    assert.deepEqual(bytes, onDisk("static/logo.png"));
    assert.equal(bytes.length, 8 + 512);
    const asText = await call("read", ["static/logo.png"]);
    assert.equal(asText.error?.name, "EncodingError", JSON.stringify(asText));
  });

  test("plugin.json is a package file and readable; code modules and missing files are null", async () => {
    assert.deepEqual(JSON.parse(await value("read", "plugin.json")), JSON.parse(onDisk("plugin.json").toString("utf8")));
    assert.equal(await value("read", "static/missing.css"), null);
    assert.equal(await value("read", "main.js"), null);
    assert.equal(await value("read", "lib/greeting.js"), null);
  });

  test("list gives the non-code paths, sorted, under an optional prefix", async () => {
    assert.deepEqual(await value("list"), ["plugin.json", "static/logo.png", "static/style.css", "templates/hello.html", "templates/nested/note.txt"]);
    assert.deepEqual(await value("list", "static/"), ["static/logo.png", "static/style.css"]);
    assert.deepEqual(await value("list", "templates"), ["templates/hello.html", "templates/nested/note.txt"]);
    assert.deepEqual(await value("list", "nothing/"), []);
  });

  test("names that would leave the package are refused with InvalidPath, and logged", async () => {
    for (const name of ["../plugin.json", "../../etc/passwd", "/etc/passwd", "a\\b", "static/%2e%2e/x", "static/\0", "static/"]) {
      const out = await call("read", [name]);
      assert.equal(out.error?.name, "InvalidPath", `${JSON.stringify(name)}: ${JSON.stringify(out)}`);
      assert.equal(out.error?.code, "invalid_path");
      assert.match(out.error!.message, /^ctx\.assets\.read: bad path /);
    }
    assert.equal((await call("list", ["../"])).error?.name, "InvalidPath");
    assert.equal((await call("read", [42])).error?.name, "TypeError");
    assert.equal((await call("read", ["static/style.css", { encoding: "hex" }])).error?.name, "TypeError");
    const { logs } = await ok(await t.request("GET", `/api/plugins/${SLUG}/logs?level=warn`));
    assert.ok(
      logs.some((l: { message: string }) => l.message.includes('bad path "../../etc/passwd"')),
      JSON.stringify(logs).slice(0, 500),
    );
  });

  test("a call reads the files of the version it runs: an upgrade's new template is what the next call sees", async () => {
    const other = await app.tenant("assets-upgrade");
    await ok(await other.upload(fixtureZip(SLUG)), 201);
    const before = await call("read", ["templates/hello.html"], other);
    assert.equal(before.value, "<p>Hello, {{name}}!</p>\n");
    const zip = new AdmZip(fixtureZip(SLUG));
    zip.updateFile("plugin.json", Buffer.from(JSON.stringify({ ...JSON.parse(zip.readAsText("plugin.json")), version: "1.1.0" })));
    zip.updateFile("templates/hello.html", Buffer.from("<p>Hi again, {{name}}</p>"));
    zip.addFile("static/new.txt", Buffer.from("new in 1.1.0"));
    await ok(await other.upload(zip.toBuffer()), 200);
    assert.deepEqual((await call("read", ["templates/hello.html"], other)).value, "<p>Hi again, {{name}}</p>");
    assert.deepEqual((await call("list", ["static/"], other)).value, ["static/logo.png", "static/new.txt", "static/style.css"]);
    // The first tenant still runs 1.0.0 and sees its own files.
    assert.equal(await value("read", "templates/hello.html"), "<p>Hello, {{name}}!</p>\n");
    assert.equal(await value("read", "static/new.txt"), null);
  });
});

test("the test kit answers every call exactly as the platform does", async () => {
  for (const [method, args] of CALLS) {
    const platform = await call(method, args);
    const answer = await kit.route("POST", "/call", { body: { method, args } });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, platform, `ctx.assets.${method}(${JSON.stringify(args)})`);
  }
  assert.deepEqual((await kit.route("GET", "/hello")).body, { html: "<p>Hello, Ada!</p>\n" });
});
