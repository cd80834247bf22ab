import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { loadPlugin } from "../../src/testing/load-plugin.ts";
import { createTestContext } from "../../src/testing/test-context.ts";
import { expectError, ok } from "../support/http-assert.ts";
import { FIXTURES, fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";

// What a plugin route may put in its answer's headers on the platform's origin (an allowlist),
// and where its redirects may lead (only back under its own /ext/<slug>/): the hostile-redirect
// fixture tries the rest, on the platform and in the author test kit.

let app: TestApp;
let t: TestTenant;
before(async () => {
  app = await startTestApp();
  t = await app.tenant("redir");
  await ok(await t.upload(fixtureZip("hostile-redirect")), 201);
});
after(() => app?.close());

/** A call that does not follow redirects, so the answer itself is seen. */
function call(urlPath: string): Promise<Response> {
  return fetch(app.url + urlPath, { headers: { "x-tenant-slug": t.slug }, redirect: "manual" });
}

async function pluginLogs(): Promise<string[]> {
  const { logs } = await ok(await t.request("GET", "/api/plugins/hostile-redirect/logs"));
  return logs.map((l: { message: string }) => l.message);
}

describe("answer headers are an allowlist", () => {
  test("CORS, framing, Refresh, HSTS, Clear-Site-Data, CSP, Link and proxy headers are dropped; the safe set and X- headers pass", async () => {
    const res = await call("/ext/hostile-redirect/headers");
    assert.deepEqual(await ok(res), { headers: true });
    for (const name of [
      "refresh",
      "access-control-allow-origin",
      "access-control-allow-credentials",
      "x-xss-protection",
      "x-accel-redirect",
      "strict-transport-security",
      "clear-site-data",
      "cross-origin-opener-policy",
      "www-authenticate",
      "link",
      "alt-svc",
      "x-euro",
    ]) {
      assert.equal(res.headers.get(name), null, `${name} was sent`);
    }
    assert.equal(res.headers.get("x-frame-options"), null);
    assert.equal(res.headers.get("content-security-policy"), "sandbox", "the platform's page policy stays");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(res.headers.get("cache-control"), "max-age=60");
    assert.equal(res.headers.get("etag"), '"v1"');
    assert.equal(res.headers.get("content-disposition"), "inline");
    assert.equal(res.headers.get("x-plugin-note"), "kept");
  });
});

describe("redirects", () => {
  const refused: [string, RegExp][] = [
    ["admin-api", /leads to \/api\/plugins\/x\/disable, outside the plugin's own \/ext\/hostile-redirect\//],
    ["other-host", /leaves the plugin/],
    ["protocol-relative", /leaves the plugin/],
    ["backslash", /backslash/],
    ["tab", /control character/],
    ["javascript", /leaves the plugin/],
    ["climb", /leads to \/api\/plugins,/],
    ["encoded-climb", /leads to \/api\/plugins,/],
    ["sibling-plugin", /leads to \/ext\/other-plugin\/x,/],
    ["other-tenant", /leads to \/t\/someone-else\//],
  ];
  for (const [name, reason] of refused) {
    test(`a redirect off the plugin's path is refused: ${name} → 500 plugin_bad_response, the reason in the plugin's log`, async () => {
      const res = await call(`/ext/hostile-redirect/redirect/${name}`);
      assert.equal(res.headers.get("location"), null);
      const body = await expectError(res, 500, "plugin_bad_response");
      assert.match(body.error.message, /plugin's logs/);
      const logs = await pluginLogs();
      assert.ok(logs.some((m) => m.includes("answer refused") && reason.test(m)), `no log line matching ${reason} in ${JSON.stringify(logs)}`);
    });
  }

  test("the same refusal through /t/<tenant>/ext/…", async () => {
    const res = await fetch(`${app.url}/t/${t.slug}/ext/hostile-redirect/redirect/admin-api`, { redirect: "manual" });
    assert.equal(res.headers.get("location"), null);
    await expectError(res, 500, "plugin_bad_response");
  });

  test("a relative redirect, a query-only one and an absolute path under /ext/<slug>/ are sent, resolved against the request", async () => {
    const relative = await call("/ext/hostile-redirect/redirect/relative");
    assert.equal(relative.status, 307);
    assert.equal(relative.headers.get("location"), "/ext/hostile-redirect/redirect/other");
    const own = await call("/ext/hostile-redirect/redirect/own-absolute");
    assert.equal(own.status, 307);
    assert.equal(own.headers.get("location"), "/ext/hostile-redirect/other?from=own");
    const up = await call("/ext/hostile-redirect/redirect/up");
    assert.equal(up.headers.get("location"), "/ext/hostile-redirect/other");
    const query = await call("/ext/hostile-redirect/redirect/query-only");
    assert.equal(query.headers.get("location"), "/ext/hostile-redirect/redirect/query-only?page=2");
  });

  test("through /t/<tenant>/ext/…, the redirect stays on that mount and can be followed without headers", async () => {
    const res = await fetch(`${app.url}/t/${t.slug}/ext/hostile-redirect/redirect/own-absolute`, { redirect: "manual" });
    assert.equal(res.status, 307);
    assert.equal(res.headers.get("location"), `/t/${t.slug}/ext/hostile-redirect/other?from=own`);
    const followed = await fetch(`${app.url}/t/${t.slug}/ext/hostile-redirect/redirect/own-absolute`);
    assert.deepEqual(await ok(followed), { other: true, query: { from: "own" } });
  });
});

describe("the author test kit applies the same rules", () => {
  test("a redirect to the admin API is refused with the reason in ctx logs; a relative one is resolved; headers are filtered", async () => {
    const context = createTestContext({ tenant: "kit-tenant" });
    const plugin = await loadPlugin(path.join(FIXTURES, "hostile-redirect"), context);
    try {
      const refused = await plugin.route("GET", "/redirect/admin-api");
      assert.equal(refused.status, 500);
      assert.equal((refused.body as { error: { code: string } }).error.code, "plugin_bad_response");
      assert.equal(refused.headers.Location, undefined);
      assert.ok(context.logs.some((l) => l.level === "error" && /answer refused: Location "\/api\/plugins\/x\/disable"/.test(l.message)), JSON.stringify(context.logs));

      const relative = await plugin.route("GET", "/redirect/relative");
      assert.equal(relative.status, 307);
      assert.equal(relative.headers.Location, "/ext/hostile-redirect/redirect/other");

      const headers = await plugin.route("GET", "/headers");
      assert.equal(headers.status, 200);
      assert.deepEqual(Object.keys(headers.headers).sort(), ["Cache-Control", "Content-Disposition", "Content-Type", "ETag", "X-Plugin-Note"]);
    } finally {
      await plugin.close();
    }
  });
});
