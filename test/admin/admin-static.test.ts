import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { ADMIN_UI_DIR } from "../../src/admin/admin-ui.ts";
import { startTestApp, type TestApp } from "../support/test-app.ts";

// The admin UI's files as the server hands them out: types, headers, and nothing beyond its folder.

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app?.close());

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

test("every file of the UI is served with its type and the security headers", async () => {
  const types: Record<string, RegExp> = { ".html": /^text\/html/, ".css": /^text\/css/, ".js": /^(text|application)\/javascript/ };
  const files = filesUnder(ADMIN_UI_DIR);
  assert.ok(files.length >= 10, `only ${files.length} files found`);
  for (const file of files) {
    const rel = path.relative(ADMIN_UI_DIR, file).split(path.sep).join("/");
    const res = await fetch(`${app.url}/admin/${rel}`);
    assert.equal(res.status, 200, rel);
    assert.match(res.headers.get("content-type") ?? "", types[path.extname(file)], rel);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", rel);
    assert.equal(res.headers.get("x-frame-options"), "DENY", rel);
    assert.match(res.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/, rel);
    assert.ok(res.headers.get("etag"), `${rel}: revalidated by ETag`);
    await res.arrayBuffer();
  }
});

test("no file of the UI refers to another origin (no CDN, no fonts from elsewhere)", () => {
  for (const file of filesUnder(ADMIN_UI_DIR)) {
    const text = readFileSync(file, "utf8");
    assert.doesNotMatch(text, /(src|href)\s*=\s*["']https?:|import\s[^;]*["']https?:|url\(\s*["']?https?:/, path.basename(file));
  }
});

test("/admin redirects to /admin/, which is the page", async () => {
  const res = await fetch(`${app.url}/admin`, { redirect: "manual" });
  assert.equal(res.status, 301);
  assert.equal(res.headers.get("location"), "/admin/");
  const page = await fetch(`${app.url}/admin/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<script type="module" src="\/admin\/js\/main.js">/);
});

test("paths that leave the folder, missing files and writes get the API's JSON 404", async () => {
  for (const p of ["/admin/../package.json", "/admin/%2e%2e/package.json", "/admin/js/%2e%2e/%2e%2e/admin-ui.ts", "/admin/nope.js"]) {
    const res = await fetch(`${app.url}${p}`);
    assert.equal(res.status, 404, p);
    assert.equal((await res.json() as { error: { code: string } }).error.code, "not_found", p);
  }
  const post = await fetch(`${app.url}/admin/`, { method: "POST" });
  assert.equal(post.status, 404);
  assert.equal((await post.json() as { error: { code: string } }).error.code, "not_found");
});
