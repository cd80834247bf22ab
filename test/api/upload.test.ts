import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import AdmZip from "adm-zip";
import { FIXTURES, fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";
import { buildZip, zipDirectory } from "../support/zip-builder.ts";
import { expectError, json } from "../support/http-assert.ts";

// POST /api/plugins/upload end to end: real HTTP, real sandbox processes, PGlite.
// The upload limit is lowered to 64 KiB so "too large" needs no big buffer; every fixture is far below it.

const UPLOAD_MAX_BYTES = 64 * 1024;

let app: TestApp;
before(async () => {
  app = await startTestApp({ env: { UPLOAD_MAX_BYTES: String(UPLOAD_MAX_BYTES) } });
});
after(() => app.close());

interface Problem {
  path: string;
  message: string;
}

type Edit = { manifest?: Record<string, unknown>; files?: Record<string, string> };

/** A fixture zipped after an in-memory edit: manifest keys merged over plugin.json, files added or replaced. */
function fixtureVariant(name: string, edit: Edit): Buffer {
  return edited(fixtureZip(name), edit);
}

function edited(zipBuf: Buffer, edit: Edit): Buffer {
  const zip = new AdmZip(zipBuf);
  const manifest = { ...JSON.parse(zip.readAsText("plugin.json")), ...edit.manifest };
  zip.updateFile("plugin.json", Buffer.from(JSON.stringify(manifest, null, 2)));
  for (const [file, text] of Object.entries(edit.files ?? {})) {
    if (zip.getEntry(file)) zip.updateFile(file, Buffer.from(text));
    else zip.addFile(file, Buffer.from(text));
  }
  return zip.toBuffer();
}

const ADMIN_MAIN = readFileSync(path.join(FIXTURES, "api-admin/main.js"), "utf8");

/** api-admin at `version`, its /version route answering `behaviour`. */
function adminAt(version: string, behaviour = "v1", extraFiles: Record<string, string> = {}): Buffer {
  if (version === "1.0.0" && behaviour === "v1" && !Object.keys(extraFiles).length) return fixtureZip("api-admin");
  const main = ADMIN_MAIN.replace('const BEHAVIOUR = "v1";', `const BEHAVIOUR = ${JSON.stringify(behaviour)};`);
  if (behaviour !== "v1") assert.notEqual(main, ADMIN_MAIN, "api-admin/main.js no longer has the BEHAVIOUR line");
  return fixtureVariant("api-admin", { manifest: { version }, files: { "main.js": main, ...extraFiles } });
}

/** 422 invalid_plugin whose details name every path in `paths`; returns the details. */
async function expectInvalid(res: Response, paths: string[]): Promise<Problem[]> {
  const body = await expectError(res, 422, "invalid_plugin");
  const details = body.error.details as Problem[];
  assert.ok(Array.isArray(details) && details.length > 0, "details must list the problems");
  for (const p of details) {
    assert.equal(typeof p.path, "string");
    assert.ok(typeof p.message === "string" && p.message.length > 0, `problem at ${p.path} has no message`);
  }
  const got = details.map((p) => p.path);
  for (const p of paths) assert.ok(got.includes(p), `expected a problem at "${p}"; got ${JSON.stringify(details, null, 2)}`);
  return details;
}

function problemAt(details: Problem[], p: string, fragment: RegExp): void {
  assert.ok(
    details.some((d) => d.path === p && fragment.test(d.message)),
    `no problem at "${p}" matching ${fragment} in ${JSON.stringify(details, null, 2)}`,
  );
}

async function listSlugs(t: TestTenant): Promise<unknown> {
  const res = await t.request("GET", "/api/plugins");
  const body = await json(res);
  assert.equal(res.status, 200);
  return body.plugins.map((p: { slug: string; version: string; status: string }) => [p.slug, p.version, p.status]);
}

async function getJson(t: TestTenant, urlPath: string): Promise<any> {
  const res = await t.request("GET", urlPath);
  const body = await json(res);
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}

describe("a valid upload", () => {
  test("a new slug is installed: 201 with the plugin's fields", async () => {
    const t = await app.tenant();
    const res = await t.upload(fixtureZip("api-admin"));
    const body = await json(res);
    assert.equal(res.status, 201, JSON.stringify(body));
    const p = body.plugin;
    assert.match(p.id, /^[0-9a-f-]{36}$/);
    assert.equal(p.slug, "api-admin");
    assert.equal(p.name, "Admin API fixture");
    assert.equal(p.version, "1.0.0");
    assert.equal(p.status, "enabled");
    assert.deepEqual(p.permissions, []);
    assert.deepEqual(p.secrets, ["API_KEY"]);
    assert.deepEqual(p.config, {});
    assert.equal(p.has_previous_version, false);
    assert.match(p.sha256, /^[0-9a-f]{64}$/);
    assert.deepEqual(Object.keys(p.configuration).sort(), ["greeting", "limit"]);
    assert.deepEqual(
      p.routes.map((r: { path: string }) => r.path),
      ["/ext/api-admin/version", "/ext/api-admin/secret", "/ext/api-admin/config", "/ext/api-admin/log", "/ext/api-admin/boom"],
    );
    assert.deepEqual(p.routes[0], { path: "/ext/api-admin/version", methods: ["GET"], auth: "user" });
    assert.equal("previous_version" in body, false);

    assert.deepEqual(await listSlugs(t), [["api-admin", "1.0.0", "enabled"]]);
    assert.deepEqual(await getJson(t, "/ext/api-admin/version"), { behaviour: "v1", version: "1.0.0" });
  });

  test("a package inside a single top folder installs like one at the root", async () => {
    const t = await app.tenant();
    const res = await t.upload(zipDirectory(path.join(FIXTURES, "api-admin"), "api-admin/"));
    const body = await json(res);
    assert.equal(res.status, 201, JSON.stringify(body));
    assert.equal(body.plugin.slug, "api-admin");
    assert.deepEqual(await getJson(t, "/ext/api-admin/version"), { behaviour: "v1", version: "1.0.0" });
  });

  test("a higher version upgrades: 200 with previous_version; secrets and config are kept", async () => {
    const t = await app.tenant();
    assert.equal((await t.upload(adminAt("1.0.0"))).status, 201);
    const put = await t.request("PUT", "/api/plugins/api-admin/secrets/API_KEY", { json: { value: "kept-across-upgrade" } });
    assert.equal(put.status, 204);
    const cfg = await t.request("PUT", "/api/plugins/api-admin/config", { json: { limit: 42 } });
    assert.equal(cfg.status, 200, await cfg.clone().text());

    const res = await t.upload(adminAt("1.1.0", "v2"));
    const body = await json(res);
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.previous_version, "1.0.0");
    assert.equal(body.plugin.version, "1.1.0");
    assert.equal(body.plugin.status, "enabled");
    assert.equal(body.plugin.has_previous_version, true);
    assert.deepEqual(body.plugin.config, { limit: 42 });

    const secrets = await getJson(t, "/api/plugins/api-admin/secrets");
    assert.deepEqual(secrets.secrets.map((s: { name: string }) => s.name), ["API_KEY"]);
    assert.deepEqual(await getJson(t, "/ext/api-admin/secret"), { api_key: "kept-across-upgrade" });
    assert.deepEqual(await getJson(t, "/ext/api-admin/config"), { limit: 42, greeting: "hello" });
    assert.deepEqual(await getJson(t, "/ext/api-admin/version"), { behaviour: "v2", version: "1.1.0" });
  });

  test("a disabled install stays disabled through an upgrade", async () => {
    const t = await app.tenant();
    assert.equal((await t.upload(adminAt("1.0.0"))).status, 201);
    assert.equal((await t.request("POST", "/api/plugins/api-admin/disable")).status, 200);
    const res = await t.upload(adminAt("1.1.0", "v2"));
    const body = await json(res);
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.plugin.status, "disabled");
    await expectError(await t.request("GET", "/ext/api-admin/version"), 404, "plugin_not_found");
  });
});

describe("version rules", () => {
  test("the same version again is 409 version_conflict", async () => {
    const t = await app.tenant();
    assert.equal((await t.upload(adminAt("1.0.0"))).status, 201);
    const body = await expectError(await t.upload(adminAt("1.0.0")), 409, "version_conflict");
    assert.deepEqual(body.error.details, { installed: "1.0.0", uploaded: "1.0.0" });
    // The same number with other files is still "not newer".
    const other = await expectError(await t.upload(adminAt("1.0.0", "changed")), 409, "version_conflict");
    assert.deepEqual(other.error.details, { installed: "1.0.0", uploaded: "1.0.0" });
    assert.deepEqual(await getJson(t, "/ext/api-admin/version"), { behaviour: "v1", version: "1.0.0" });
  });

  test("a lower version is 409 version_conflict and the installed one stays", async () => {
    const t = await app.tenant();
    assert.equal((await t.upload(adminAt("1.1.0", "v2"))).status, 201);
    const body = await expectError(await t.upload(adminAt("1.0.0")), 409, "version_conflict");
    assert.deepEqual(body.error.details, { installed: "1.1.0", uploaded: "1.0.0" });
    assert.deepEqual(await listSlugs(t), [["api-admin", "1.1.0", "enabled"]]);
    assert.deepEqual(await getJson(t, "/ext/api-admin/version"), { behaviour: "v2", version: "1.1.0" });
  });

  test("after a rollback, a known version with other content is 409 version_content_conflict; the same content upgrades", async () => {
    const t = await app.tenant();
    assert.equal((await t.upload(adminAt("1.0.0"))).status, 201);
    assert.equal((await t.upload(adminAt("1.1.0", "v2"))).status, 200);
    const rb = await t.request("POST", "/api/plugins/api-admin/rollback");
    assert.equal(rb.status, 200, await rb.clone().text());
    assert.equal((await json(rb)).plugin.version, "1.0.0");

    const body = await expectError(await t.upload(adminAt("1.1.0", "v3")), 409, "version_content_conflict");
    assert.deepEqual(body.error.details, { version: "1.1.0" });
    assert.deepEqual(await getJson(t, "/ext/api-admin/version"), { behaviour: "v1", version: "1.0.0" });

    const again = await t.upload(adminAt("1.1.0", "v2"));
    const againBody = await json(again);
    assert.equal(again.status, 200, JSON.stringify(againBody));
    assert.equal(againBody.previous_version, "1.0.0");
    assert.deepEqual(await getJson(t, "/ext/api-admin/version"), { behaviour: "v2", version: "1.1.0" });
  });
});

describe("an invalid package is 422 invalid_plugin with every problem in details", () => {
  const cases: [string, string[]][] = [
    ["bad-slug", ["slug"]],
    ["bad-version", ["version"]],
    ["unknown-permission", ["permissions[1]"]],
    ["bad-cron", ["jobs[0].schedule"]],
    ["resources-over-limit", ["resources.timeout_ms", "resources.memory_mb"]],
    ["unknown-key", ["evnets"]],
    ["missing-entry", ["entry"]],
    ["forbidden-import", ["main.js:2"]],
    ["dynamic-import", ["main.js:5"]],
    [
      "webhook-bad",
      [
        "webhooks/notify.yaml: api_version",
        "webhooks/notify.yaml: on",
        "webhooks/notify.yaml: delivery.url",
        "webhooks/notify.yaml: transform.language",
        "webhooks/notify.yaml: retry.max_attempts",
      ],
    ],
  ];
  for (const [fixture, paths] of cases) {
    test(`${fixture}: ${paths.join(", ")}`, async () => {
      const t = await app.tenant();
      await expectInvalid(await t.upload(fixtureZip(fixture)), paths);
      assert.deepEqual(await listSlugs(t), []);
    });
  }

  test("forbidden and dynamic imports say what is wrong", async () => {
    const t = await app.tenant();
    problemAt(await expectInvalid(await t.upload(fixtureZip("forbidden-import")), []), "main.js:2", /"fs" cannot be imported/);
    problemAt(await expectInvalid(await t.upload(fixtureZip("dynamic-import")), []), "main.js:5", /dynamic import\("fs"\) is not allowed/);
  });

  test("many-errors: all of them in one answer", async () => {
    const t = await app.tenant();
    const details = await expectInvalid(await t.upload(fixtureZip("many-errors")), [
      "slug",
      "version",
      "permissions[1]",
      "jobs[0].schedule",
      "resources.memory_mb",
      "secrets[0]",
      "colour",
    ]);
    problemAt(details, "permissions[1]", /unknown permission "root"/);
    problemAt(details, "colour", /unknown key/);
    problemAt(details, "resources.memory_mb", /at most 128 MB/);
  });

  test("code that registers a route while the manifest says routes: false", async () => {
    const t = await app.tenant();
    const details = await expectInvalid(await t.upload(fixtureVariant("good", { manifest: { routes: false } })), ["routes"]);
    problemAt(details, "routes", /registers routes \(\/ping\) but routes is not true/);
    assert.deepEqual(await listSlugs(t), []);
  });

  test("routes: true with no route registered", async () => {
    const t = await app.tenant();
    const main = 'import { route } from "@sbh/sdk";\nexport const unused = route;\n';
    const details = await expectInvalid(await t.upload(fixtureVariant("api-rate-limited", { files: { "main.js": main } })), ["routes"]);
    problemAt(details, "routes", /routes is true but the code registers no route/);
  });

  test("top-level code that never finishes (api-toplevel-loop) is refused, not installed", async () => {
    const t = await app.tenant();
    const started = Date.now();
    const details = await expectInvalid(await t.upload(fixtureZip("api-toplevel-loop")), ["main.js"]);
    problemAt(details, "main.js", /did not finish within 200 ms/);
    assert.ok(Date.now() - started < 5000, "the loop is stopped by the plugin's own timeout");
    assert.deepEqual(await listSlugs(t), []);
    // The sandbox still serves other plugins afterwards.
    assert.equal((await t.upload(fixtureZip("api-admin"))).status, 201);
    assert.deepEqual(await getJson(t, "/ext/api-admin/version"), { behaviour: "v1", version: "1.0.0" });
  });

  test("top-level code that throws while loading", async () => {
    const t = await app.tenant();
    const main = 'import { route } from "@sbh/sdk";\nroute("/x", () => 1);\nthrow new TypeError("config file missing");\n';
    const details = await expectInvalid(await t.upload(fixtureVariant("api-rate-limited", { files: { "main.js": main } })), ["main.js"]);
    problemAt(details, "main.js", /loading the code failed: .*config file missing/);
  });
});

describe("an unsafe or broken archive is 422 with the entry named", () => {
  const manifest = JSON.stringify({ slug: "hostile", name: "Hostile", version: "1.0.0", routes: false });
  const main = 'import { hook } from "@sbh/sdk";\n';
  const base = [
    { name: "plugin.json", content: manifest },
    { name: "main.js", content: main },
  ];

  test("not a ZIP at all", async () => {
    const t = await app.tenant();
    const details = await expectInvalid(await t.upload(Buffer.from("this is a text file, not a zip archive")), ["zip"]);
    problemAt(details, "zip", /not a ZIP archive/);
  });

  test("an empty file", async () => {
    const t = await app.tenant();
    await expectInvalid(await t.upload(Buffer.alloc(0)), ["zip"]);
  });

  test("zip slip: a ../ entry", async () => {
    const t = await app.tenant();
    const details = await expectInvalid(await t.upload(buildZip([...base, { name: "../../evil.js", content: "x" }])), ["../../evil.js"]);
    problemAt(details, "../../evil.js", /would escape the package/);
  });

  test("an absolute path", async () => {
    const t = await app.tenant();
    const details = await expectInvalid(await t.upload(buildZip([...base, { name: "/etc/cron.d/evil", content: "x" }])), ["/etc/cron.d/evil"]);
    problemAt(details, "/etc/cron.d/evil", /absolute path/);
  });

  test("a symbolic link", async () => {
    const t = await app.tenant();
    const link = { name: "lib/passwd.js", content: "/etc/passwd", attr: (0o120777 << 16) >>> 0 };
    const details = await expectInvalid(await t.upload(buildZip([...base, link])), ["lib/passwd.js"]);
    problemAt(details, "lib/passwd.js", /symbolic links are not allowed/);
  });

  test("a duplicate name", async () => {
    const t = await app.tenant();
    const details = await expectInvalid(await t.upload(buildZip([...base, { name: "main.js", content: "export {};" }])), ["main.js"]);
    problemAt(details, "main.js", /more than once/);
  });

  test("a zip bomb: a tiny entry that inflates 1000-fold", async () => {
    const t = await app.tenant();
    const bomb = { name: "static/blank.txt", content: Buffer.alloc(4 * 1024 * 1024) };
    const zip = buildZip([...base, bomb]);
    assert.ok(zip.length < UPLOAD_MAX_BYTES, "the bomb itself is small");
    const details = await expectInvalid(await t.upload(zip), ["static/blank.txt"]);
    problemAt(details, "static/blank.txt", /compression ratio \d+:1 is above the limit/);
  });

  test("an entry whose header lies about its size", async () => {
    const t = await app.tenant();
    const liar = { name: "static/liar.txt", content: Buffer.alloc(4096, 0x61), size: 10 };
    const details = await expectInvalid(await t.upload(buildZip([...base, liar])), ["static/liar.txt"]);
    problemAt(details, "static/liar.txt", /inflates to more than the 10 bytes/);
  });

  test("no plugin.json at the root", async () => {
    const t = await app.tenant();
    const zip = buildZip([
      { name: "a/plugin.json", content: manifest },
      { name: "b/main.js", content: main },
    ]);
    const details = await expectInvalid(await t.upload(zip), ["plugin.json"]);
    problemAt(details, "plugin.json", /at the root of the ZIP or inside a single top folder/);
  });
});

describe("the upload request itself", () => {
  test("no `file` field is 400 missing_file", async () => {
    const t = await app.tenant();
    const headers = { authorization: `Bearer ${t.admin}`, "x-tenant-slug": t.slug };

    const textOnly = new FormData();
    textOnly.append("note", "no file here");
    const a = await fetch(`${app.url}/api/plugins/upload`, { method: "POST", headers, body: textOnly });
    await expectError(a, 400, "missing_file");

    const wrongField = new FormData();
    wrongField.append("zip", new Blob([new Uint8Array(fixtureZip("api-admin"))]), "plugin.zip");
    const b = await fetch(`${app.url}/api/plugins/upload`, { method: "POST", headers, body: wrongField });
    await expectError(b, 400, "missing_file");

    await expectError(await t.request("POST", "/api/plugins/upload", { json: { file: "plugin.zip" } }), 400, "missing_file");
    assert.deepEqual(await listSlugs(t), []);
  });

  test("a file over UPLOAD_MAX_BYTES is 413 payload_too_large", async () => {
    const t = await app.tenant();
    const big = Buffer.concat([fixtureZip("api-admin"), randomBytes(UPLOAD_MAX_BYTES)]);
    const res = await t.upload(big);
    const body = await expectError(res, 413, "payload_too_large");
    assert.match(body.error.message, /larger than the upload limit/);
    assert.deepEqual(await listSlugs(t), []);
  });

  test("a member may not upload: 403 forbidden", async () => {
    const t = await app.tenant();
    await expectError(await t.upload(fixtureZip("api-admin"), t.member), 403, "forbidden");
    assert.deepEqual(await listSlugs(t), []);
  });
});

describe("a failed upload loses nothing and leaves nothing", () => {
  test("nothing is stored for a refused new slug", async () => {
    const t = await app.tenant();
    for (const bad of ["bad-slug", "many-errors", "forbidden-import", "api-toplevel-loop"]) {
      assert.equal((await t.upload(fixtureZip(bad))).status, 422, bad);
    }
    assert.equal((await t.upload(fixtureVariant("good", { manifest: { routes: false } }))).status, 422);
    assert.deepEqual(await listSlugs(t), []);
    const rows = await app.services.db.prisma.pluginVersion.count({ where: { tenantId: t.id } });
    assert.equal(rows, 0, "no plugin_versions row is left behind");
    // The slugs that failed are free: a valid package with one of them installs.
    const good = await t.upload(fixtureZip("good"));
    assert.equal(good.status, 201, await good.clone().text());
  });

  test("after a failed upgrade the installed version still answers, with its secret and config", async () => {
    const t = await app.tenant();
    assert.equal((await t.upload(adminAt("1.0.0"))).status, 201);
    assert.equal((await t.request("PUT", "/api/plugins/api-admin/secrets/API_KEY", { json: { value: "still-here" } })).status, 204);
    assert.equal((await t.request("PUT", "/api/plugins/api-admin/config", { json: { greeting: "hey" } })).status, 200);
    const before = await getJson(t, "/api/plugins/api-admin");

    const forbidden = adminAt("1.1.0", "v2", { "main.js": `import fs from "fs";\n${ADMIN_MAIN}` });
    await expectInvalid(await t.upload(forbidden), ["main.js:1"]);
    const looping = adminAt("1.1.0", "v2", { "main.js": `${ADMIN_MAIN}\nfor (;;) {}\n` });
    await expectInvalid(await t.upload(edited(looping, { manifest: { resources: { timeout_ms: 200 } } })), ["main.js"]);
    await expectInvalid(await t.upload(Buffer.from("garbage")), ["zip"]);

    const afterwards = await getJson(t, "/api/plugins/api-admin");
    assert.deepEqual(afterwards, before);
    assert.equal(afterwards.plugin.version, "1.0.0");
    assert.equal(afterwards.plugin.has_previous_version, false);
    assert.deepEqual(await getJson(t, "/ext/api-admin/version"), { behaviour: "v1", version: "1.0.0" });
    assert.deepEqual(await getJson(t, "/ext/api-admin/secret"), { api_key: "still-here" });
    assert.deepEqual(await getJson(t, "/ext/api-admin/config"), { limit: 10, greeting: "hey" });

    // No half-stored 1.1.0 blocks the real one (it would be a version_content_conflict).
    const real = await t.upload(adminAt("1.1.0", "v2"));
    assert.equal(real.status, 200, await real.clone().text());
    assert.deepEqual(await getJson(t, "/ext/api-admin/version"), { behaviour: "v2", version: "1.1.0" });
  });
});
