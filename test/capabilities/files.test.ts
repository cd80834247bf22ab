import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { postgresAvailable, requireOrSkip } from "../support/services.ts";
import { fixtureZip, startTestApp, type TestApp, type TestTenant, withManifest } from "../support/test-app.ts";
import { expectError, ok } from "../support/http-assert.ts";

// ctx.files on the real platform: the fixture plugin calls ctx.files with what the test sends and
// answers with the value or the error it caught, exactly as plugin code sees them.

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app.close());

const SLUG = "cap-files-rw";

/** The fixture zipped with manifest keys merged over its plugin.json. */
const withSlugManifest = (manifest: Record<string, unknown>): Buffer => withManifest(SLUG, manifest);

/** A fresh tenant with the fixture installed (files.read + files.write, max_disk_mb 1 unless overridden). */
async function tenantWithPlugin(manifest: Record<string, unknown> = {}, on: TestApp = app): Promise<TestTenant & { installId: string }> {
  const t = await on.tenant("files");
  const { plugin } = await ok(await t.upload(withSlugManifest(manifest)), 201);
  return Object.assign(t, { installId: plugin.id as string });
}

type Outcome = { value?: any; error?: { name: string; message: string; code: string | null } };

async function call(t: TestTenant, method: string, ...args: unknown[]): Promise<Outcome> {
  return ok(await t.request("POST", `/ext/${SLUG}/call`, { json: { method, args } }));
}

/** The value of a ctx.files call that must succeed. */
async function value(t: TestTenant, method: string, ...args: unknown[]): Promise<any> {
  const out = await call(t, method, ...args);
  assert.equal(out.error, undefined, `ctx.files.${method} failed: ${JSON.stringify(out.error)}`);
  return out.value;
}

/** The error of a ctx.files call that must fail, with that name. */
async function failure(t: TestTenant, name: string, method: string, ...args: unknown[]): Promise<{ name: string; message: string; code: string | null }> {
  const out = await call(t, method, ...args);
  assert.ok(out.error, `ctx.files.${method}(${JSON.stringify(args).slice(0, 120)}) succeeded: ${JSON.stringify(out.value)?.slice(0, 200)}`);
  assert.equal(out.error.name, name, out.error.message);
  return out.error;
}

/** Uploads `bytes` bytes generated inside the plugin (bodies to /ext are capped at 1 MB). */
async function fill(t: TestTenant, filePath: string, bytes: number): Promise<Outcome> {
  return ok(await t.request("POST", `/ext/${SLUG}/fill`, { json: { path: filePath, bytes } }));
}

async function hostUpload(t: TestTenant, filePath: string, content: Uint8Array | string, type = "text/plain"): Promise<any> {
  const form = new FormData();
  form.append("path", filePath);
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
  form.append("file", new Blob([new Uint8Array(bytes)], { type }), "upload.bin");
  return (await ok(await t.request("POST", "/api/files", { body: form }), 201)).file;
}

async function hostFiles(t: TestTenant): Promise<any[]> {
  return (await ok(await t.request("GET", "/api/files"))).files;
}

async function hostContent(t: TestTenant, id: string): Promise<{ type: string; bytes: Buffer }> {
  const res = await t.request("GET", `/api/files/${id}/content`);
  assert.equal(res.status, 200);
  // Content a plugin stored (say text/html) must never render on the API's origin.
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  assert.equal(res.headers.get("content-disposition"), "attachment");
  assert.equal(res.headers.get("content-security-policy"), "sandbox");
  return { type: res.headers.get("content-type") ?? "", bytes: Buffer.from(await res.arrayBuffer()) };
}

/** Every file under DATA_DIR with its size, so a test can tell that nothing was written anywhere. */
function diskSnapshot(): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      const st = statSync(full);
      if (st.isDirectory()) walk(full);
      else out.set(path.relative(app.config.dataDir, full), st.size);
    }
  };
  walk(app.config.dataDir);
  return out;
}

describe("ctx.files round trips", () => {
  test("text: upload, read, list, replace, delete", async () => {
    const t = await tenantWithPlugin();
    const up = await value(t, "upload", "notes/hello.txt", "héllo, files");
    assert.deepEqual(Object.keys(up).sort(), ["content_type", "created", "path", "size", "updated_at"]);
    assert.equal(up.path, "notes/hello.txt");
    assert.equal(up.size, Buffer.byteLength("héllo, files"));
    assert.equal(up.content_type, "text/plain; charset=utf-8", "text defaults to text/plain");
    assert.equal(up.created, true);

    const read = await value(t, "read", "notes/hello.txt");
    assert.deepEqual(read, { path: "notes/hello.txt", content_type: "text/plain; charset=utf-8", size: up.size, content: "héllo, files" });

    const listed = await value(t, "list", "notes/");
    assert.deepEqual(listed, [{ path: "notes/hello.txt", size: up.size, content_type: up.content_type, updated_at: up.updated_at }]);

    const replaced = await value(t, "upload", "notes/hello.txt", "a,b\n1,2\n", { content_type: "text/csv" });
    assert.equal(replaced.created, false);
    assert.equal((await value(t, "read", "notes/hello.txt")).content, "a,b\n1,2\n");
    assert.equal((await value(t, "list", "")).length, 1, "a replace keeps one file");

    assert.equal(await value(t, "delete", "notes/hello.txt"), true);
    assert.equal(await value(t, "read", "notes/hello.txt"), null);
    assert.equal(await value(t, "delete", "notes/hello.txt"), false);
    assert.deepEqual(await value(t, "list"), []);
  });

  test("binary through base64, byte for byte; reading it as text is refused", async () => {
    const t = await tenantWithPlugin();
    const bytes = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(4096)]);
    const up = await value(t, "upload", "img/pixel.png", bytes.toString("base64"), { encoding: "base64", content_type: "image/png" });
    assert.equal(up.size, bytes.length);
    assert.equal(up.content_type, "image/png");

    const read = await value(t, "read", "img/pixel.png", { encoding: "base64" });
    assert.equal(read.size, bytes.length);
    assert.ok(Buffer.from(read.content, "base64").equals(bytes));
    const asText = await failure(t, "EncodingError", "read", "img/pixel.png");
    assert.match(asText.message, /base64/);

    const octets = await value(t, "upload", "blob.bin", Buffer.from("\x00\x01").toString("base64"), { encoding: "base64" });
    assert.equal(octets.content_type, "application/octet-stream", "base64 defaults to application/octet-stream");
  });

  test("files a plugin writes are the tenant's files in the host API, with the writer recorded", async () => {
    const t = await tenantWithPlugin();
    const bytes = randomBytes(1000);
    await value(t, "upload", "exports/data.bin", bytes.toString("base64"), { encoding: "base64", content_type: "application/x-custom" });
    const [file] = (await hostFiles(t)).filter((f) => f.path === "exports/data.bin");
    assert.ok(file, "listed by GET /api/files");
    assert.equal(file.size, 1000);
    assert.equal(file.install_id, t.installId);
    const content = await hostContent(t, file.id);
    assert.ok(content.bytes.equals(bytes));
    assert.match(content.type, /^application\/x-custom/);
  });

  test("files uploaded through the host API are readable by the plugin; a plugin replace is seen by the host", async () => {
    const t = await tenantWithPlugin();
    const hosted = await hostUpload(t, "shared/prices.csv", "sku,price\nA,1\n", "text/csv");
    assert.equal(hosted.install_id, null);
    const read = await value(t, "read", "shared/prices.csv");
    assert.equal(read.content, "sku,price\nA,1\n");
    assert.match(read.content_type, /^text\/csv/);
    assert.deepEqual((await value(t, "list", "shared/")).map((f: any) => f.path), ["shared/prices.csv"]);

    const replaced = await value(t, "upload", "shared/prices.csv", "sku,price\nA,2\n", { content_type: "text/csv" });
    assert.equal(replaced.created, false);
    const content = await hostContent(t, hosted.id);
    assert.equal(content.bytes.toString(), "sku,price\nA,2\n", "same file id, new bytes");
    assert.equal((await ok(await t.request("GET", `/api/files/${hosted.id}`))).file.install_id, t.installId);

    assert.equal(await value(t, "delete", "shared/prices.csv"), true);
    await expectError(await t.request("GET", `/api/files/${hosted.id}`), 404, "not_found");
  });

  test("list: sorted by path, filtered by a literal prefix", async () => {
    const t = await tenantWithPlugin();
    for (const p of ["b/2.txt", "a/1.txt", "b/1.txt", "ab/x.txt", "a_b/y.txt", "a%/z.txt"]) await value(t, "upload", p, p);
    const all = (await value(t, "list")).map((f: any) => f.path);
    assert.deepEqual(all, [...all].sort());
    assert.equal(all.length, 6);
    assert.deepEqual((await value(t, "list", "b/")).map((f: any) => f.path), ["b/1.txt", "b/2.txt"]);
    assert.deepEqual((await value(t, "list", "a")).map((f: any) => f.path).sort(), ["a%/z.txt", "a/1.txt", "a_b/y.txt", "ab/x.txt"]);
    // `_` and `%` are characters, not wildcards.
    assert.deepEqual((await value(t, "list", "a_")).map((f: any) => f.path), ["a_b/y.txt"]);
    assert.deepEqual((await value(t, "list", "a%")).map((f: any) => f.path), ["a%/z.txt"]);
    assert.deepEqual(await value(t, "list", "c/"), []);
  });

  test("plugin writes raise no files.uploaded / files.deleted events (a plugin reacting to uploads would trigger itself)", async () => {
    const t = await tenantWithPlugin();
    await value(t, "upload", "quiet.txt", "shh");
    await value(t, "delete", "quiet.txt");
    const { events } = await ok(await t.request("GET", "/api/events"));
    assert.deepEqual(events.filter((e: any) => e.type.startsWith("files.")), []);
  });
});

describe("paths cannot escape", () => {
  const BAD: [string, RegExp][] = [
    ["../x", /"\.\." segment/],
    ["a/../../x", /"\.\." segment/],
    ["../../../../etc/passwd", /"\.\." segment/],
    ["/etc/passwd", /absolute/],
    ["C:/Windows/x", /absolute/],
    ["a\\b", /backslash/],
    ["..\\x", /backslash/],
    ["a\u0000b", /NUL/],
    ["a\nb", /control character/],
    ["./a", /"\." segment/],
    ["a/./b", /"\." segment/],
    ["", /empty/],
    ["a//b", /empty segment/],
    ["dir/", /folder/],
    [`${"a/".repeat(300)}x`, /longer than 512/],
  ];

  test("refused by upload, read and delete, with the reason, and nothing touches the disk", async () => {
    const t = await tenantWithPlugin();
    await value(t, "upload", "keep.txt", "kept");
    const before = diskSnapshot();
    for (const [bad, reason] of BAD) {
      for (const [method, args] of [
        ["upload", [bad, "pwned"]],
        ["read", [bad]],
        ["delete", [bad]],
      ] as const) {
        const err = await failure(t, "InvalidPath", method, ...args);
        assert.match(err.message, reason, `${method}(${JSON.stringify(bad)})`);
        assert.match(err.message, new RegExp(`^ctx\\.files\\.${method}: bad path`));
        assert.equal(err.code, "invalid_path");
      }
    }
    assert.deepEqual(diskSnapshot(), before, "no file was created, changed or removed under DATA_DIR");
    assert.deepEqual((await value(t, "list")).map((f: any) => f.path), ["keep.txt"]);
    // The tenant's folder holds files named by id only.
    for (const name of readdirSync(path.join(app.config.dataDir, "files", t.id))) assert.match(name, /^[0-9a-f-]{36}$/);
  });

  test("a refused path is written to the plugin's log", async () => {
    const t = await tenantWithPlugin();
    await failure(t, "InvalidPath", "read", "../../etc/passwd");
    const { logs } = await ok(await t.request("GET", `/api/plugins/${t.installId}/logs`));
    assert.ok(
      logs.some((l: any) => l.level === "warn" && l.message.includes("bad path") && l.message.includes("../../etc/passwd")),
      JSON.stringify(logs),
    );
  });

  test("list prefixes: \"\" and a trailing / are fine, escapes are not", async () => {
    const t = await tenantWithPlugin();
    await value(t, "upload", "dir/a.txt", "a");
    assert.equal((await value(t, "list", "")).length, 1);
    assert.equal((await value(t, "list", null)).length, 1);
    assert.equal((await value(t, "list", "dir/")).length, 1);
    for (const bad of ["../", "/", "/etc", "a/../", "./", "a\\", "a\u0000", "a//"]) await failure(t, "InvalidPath", "list", bad);
  });
});

describe("max_disk_mb", () => {
  test("the second 600 KB file of a 1 MB plugin is refused before anything is written; replacing is allowed", async () => {
    const t = await tenantWithPlugin();
    const first = await fill(t, "big/a.txt", 600_000);
    assert.equal(first.error, undefined, JSON.stringify(first.error));

    const second = await fill(t, "big/b.txt", 600_000);
    assert.equal(second.error?.name, "QuotaExceeded");
    assert.equal(second.error?.code, "quota_exceeded");
    assert.match(second.error!.message, /max_disk_mb of 1 MiB/);
    assert.match(second.error!.message, /600000 of 1048576 bytes used/);
    assert.equal(await value(t, "read", "big/b.txt"), null, "nothing was stored");
    assert.deepEqual((await hostFiles(t)).map((f) => f.path), ["big/a.txt"]);
    for (const name of readdirSync(path.join(app.config.dataDir, "files", t.id))) assert.doesNotMatch(name, /^staged-/, "no staged bytes left behind");

    // A replace counts the new size minus the old one.
    const bigger = await fill(t, "big/a.txt", 700_000);
    assert.equal(bigger.error, undefined, JSON.stringify(bigger.error));
    assert.equal(bigger.value.created, false);
    assert.equal((await fill(t, "big/b.txt", 300_000)).error, undefined, "1 000 000 bytes fit in 1 MiB");
    assert.equal((await fill(t, "big/c.txt", 60_000)).error?.name, "QuotaExceeded");

    // Deleting frees room.
    assert.equal(await value(t, "delete", "big/a.txt"), true);
    assert.equal((await fill(t, "big/c.txt", 600_000)).error, undefined);

    const { logs } = await ok(await t.request("GET", `/api/plugins/${t.installId}/logs`));
    assert.ok(logs.some((l: any) => l.level === "warn" && l.message.includes("max_disk_mb")), "the refusal is in the plugin's log");
  });

  test("a single file larger than the quota is refused", async () => {
    const t = await tenantWithPlugin();
    const out = await fill(t, "huge.txt", 1_100_000);
    assert.equal(out.error?.name, "QuotaExceeded");
  });

  test("files the host uploaded do not count, until the plugin replaces them", async () => {
    const t = await tenantWithPlugin();
    await hostUpload(t, "host/large.bin", new Uint8Array(900_000), "application/octet-stream");
    assert.equal((await fill(t, "mine.txt", 600_000)).error, undefined, "the host's 900 KB are not the plugin's");
    // Replacing the host's file makes it the plugin's: its full new size counts.
    assert.equal((await fill(t, "host/large.bin", 500_000)).error?.name, "QuotaExceeded");
    assert.equal((await fill(t, "host/large.bin", 400_000)).error, undefined);
  });

  test("files over 10 MiB are refused whatever the quota", async () => {
    const t = await tenantWithPlugin({ resources: {} });
    const out = await fill(t, "too-big.txt", 10 * 1024 * 1024 + 1);
    assert.equal(out.error?.name, "FileTooLarge");
    assert.match(out.error!.message, /10485760 bytes/);
  });
});

describe("concurrent writes", () => {
  // The quota check and the write it allows hold a per-tenant lock in the database, so they
  // cannot interleave across requests (nor, on Postgres, across processes).
  async function race(on: TestApp): Promise<void> {
    const t = await tenantWithPlugin({}, on);
    const outcomes = await Promise.all(["r/1.txt", "r/2.txt", "r/3.txt", "r/4.txt"].map((p) => fill(t, p, 600_000)));
    assert.deepEqual(outcomes.map((o) => o.error?.name ?? "ok").sort(), ["QuotaExceeded", "QuotaExceeded", "QuotaExceeded", "ok"]);

    const same = await Promise.all([1, 2, 3, 4].map((n) => call(t, "upload", "same.txt", `writer ${n}`)));
    assert.deepEqual(same.map((o) => o.error), [undefined, undefined, undefined, undefined]);
    assert.equal(same.filter((o) => o.value.created).length, 1, "one creation, three replaces");
    const files = (await hostFiles(t)).filter((f) => f.path === "same.txt");
    assert.equal(files.length, 1);
    assert.match((await value(t, "read", "same.txt")).content, /^writer [1-4]$/);
  }

  test("on PGlite: one of four 600 KB uploads fits a 1 MB quota; four writers of one path leave one file", async () => {
    await race(app);
  });

  test("on Postgres: the same", async (t) => {
    const available = await postgresAvailable();
    if (!(await requireOrSkip(t, "postgres", available))) return;
    const pgApp = await startTestApp({ db: "postgres" });
    try {
      await race(pgApp);
    } finally {
      await pgApp.close();
    }
  });
});

describe("tenants and permissions", () => {
  test("another tenant's plugin does not see the file at the same path", async () => {
    const a = await tenantWithPlugin();
    const b = await tenantWithPlugin();
    await value(a, "upload", "secret/report.txt", "tenant A only");
    await hostUpload(a, "secret/host.txt", "also A only");

    assert.equal(await value(b, "read", "secret/report.txt"), null);
    assert.equal(await value(b, "read", "secret/host.txt"), null);
    assert.deepEqual(await value(b, "list", ""), []);
    assert.equal(await value(b, "delete", "secret/report.txt"), false);

    const own = await value(b, "upload", "secret/report.txt", "tenant B");
    assert.equal(own.created, true, "B gets its own file at that path");
    assert.equal((await value(a, "read", "secret/report.txt")).content, "tenant A only");
    assert.equal((await value(b, "read", "secret/report.txt")).content, "tenant B");
    assert.deepEqual((await hostFiles(b)).map((f) => f.path), ["secret/report.txt"]);
  });

  test("without files.read / files.write: PermissionDenied, counted and logged", async () => {
    const t = await tenantWithPlugin({ permissions: [] });
    const upload = await failure(t, "PermissionDenied", "upload", "x.txt", "x");
    assert.match(upload.message, /files\.write/);
    assert.match((await failure(t, "PermissionDenied", "read", "x.txt")).message, /files\.read/);
    await failure(t, "PermissionDenied", "list");
    await failure(t, "PermissionDenied", "delete", "x.txt");
    assert.deepEqual(await hostFiles(t), [], "nothing was written");

    const { totals } = await ok(await t.request("GET", `/api/plugins/${t.installId}/usage`));
    assert.equal(totals["ctx.files.upload:denied"], 1);
    assert.equal(totals["ctx.files.read:denied"], 1);
    assert.equal(totals["ctx.files.upload:ok"], undefined);

    const { logs } = await ok(await t.request("GET", `/api/plugins/${t.installId}/logs`));
    assert.ok(logs.some((l: any) => l.level === "warn" && l.message.includes("ctx.files.upload needs the \"files.write\" permission")), JSON.stringify(logs));
  });

  test("files.read alone: reading works, writing is denied", async () => {
    const t = await tenantWithPlugin({ permissions: ["files.read"] });
    await hostUpload(t, "readme.txt", "read me");
    assert.equal((await value(t, "read", "readme.txt")).content, "read me");
    assert.equal((await value(t, "list")).length, 1);
    await failure(t, "PermissionDenied", "upload", "readme.txt", "overwritten");
    await failure(t, "PermissionDenied", "delete", "readme.txt");
    assert.equal((await value(t, "read", "readme.txt")).content, "read me");
  });
});

describe("bad arguments", () => {
  test("are refused with a TypeError that says what was expected", async () => {
    const t = await tenantWithPlugin();
    const cases: [string, unknown[], RegExp][] = [
      ["upload", [42, "x"], /path must be a string/],
      ["upload", [null, "x"], /path must be a string/],
      ["upload", ["a.txt"], /content must be a string/],
      ["upload", ["a.txt", { bytes: [1, 2] }], /content must be a string/],
      ["upload", ["a.txt", 123], /content must be a string/],
      ["upload", ["a.txt", "x", "text/plain"], /options must be an object/],
      ["upload", ["a.txt", "x", { contentType: "text/plain" }], /unknown option "contentType"/],
      ["upload", ["a.txt", "x", { content_type: "text" }], /content_type must be a media type/],
      ["upload", ["a.txt", "x", { content_type: "text/html\r\nSet-Cookie: a=b" }], /content_type must be a media type/],
      ["upload", ["a.txt", "x", { content_type: 7 }], /content_type must be a media type/],
      ["upload", ["a.txt", "x", { encoding: "hex" }], /encoding must be "utf8".*or "base64"/],
      ["upload", ["a.txt", "not base64!", { encoding: "base64" }], /not valid base64/],
      ["upload", ["a.txt", "abc", { encoding: "base64" }], /not valid base64/],
      ["upload", ["a.txt", "x", {}, "extra"], /at most 3 arguments/],
      ["read", [{ path: "a.txt" }], /path must be a string/],
      ["read", ["a.txt", { encoding: "latin1" }], /encoding must be/],
      ["read", ["a.txt", { as: "text" }], /unknown option "as"/],
      ["list", [42], /prefix must be a string/],
      ["delete", [undefined], /path must be a string/],
    ];
    for (const [method, args, message] of cases) {
      const err = await failure(t, "TypeError", method, ...args);
      assert.match(err.message, message, `${method}(${JSON.stringify(args)})`);
      assert.match(err.message, new RegExp(`^ctx\\.files\\.${method}: `));
    }
    assert.deepEqual(await hostFiles(t), [], "nothing was written");
    const { totals } = await ok(await t.request("GET", `/api/plugins/${t.installId}/usage`));
    assert.ok(totals["ctx.files.upload:error"] >= 14, JSON.stringify(totals));
  });
});
