import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import AdmZip from "adm-zip";
import { fixtureZip, startTestApp, type TestApp, type TestTenant, withManifest } from "../support/test-app.ts";
import { expectError, json, ok } from "../support/http-assert.ts";

// Plugin routes under /ext/<slug>/… and /t/<tenant>/ext/<slug>/…: what the plugin sees of the
// request, what the caller gets back, auth levels, rate limits and ctx errors.

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app.close());

/** A fresh tenant with the api-routes fixture installed. */
async function withRoutes(): Promise<TestTenant> {
  const t = await app.tenant();
  await ok(await t.upload(fixtureZip("api-routes")), 201);
  return t;
}

describe("what the plugin sees of a request", () => {
  test("path params and query", async () => {
    const t = await withRoutes();
    const body = await ok(await t.request("GET", "/ext/api-routes/items/books/42?sort=asc&tag=a&tag=b"));
    assert.deepEqual(body, {
      method: "GET",
      path: "/items/books/42",
      params: { category: "books", id: "42" },
      query: { sort: "asc", tag: ["a", "b"] },
    });
  });

  test("percent-encoded params arrive decoded", async () => {
    const t = await withRoutes();
    const body = await ok(await t.request("GET", "/ext/api-routes/items/sci%20fi/caf%C3%A9"));
    assert.deepEqual(body.params, { category: "sci fi", id: "café" });
  });

  // The three below fail: Express decodes the wildcard segments, then RouteMatcher decodes them again.
  test("an encoded % in a param (100%25) reaches the plugin as 100%", async () => {
    const t = await withRoutes();
    const body = await ok(await t.request("GET", "/ext/api-routes/items/discounts/100%25"));
    assert.deepEqual(body.params, { category: "discounts", id: "100%" });
  });

  test("a param is decoded once, not twice (%2541 is the text %41)", async () => {
    const t = await withRoutes();
    const body = await ok(await t.request("GET", "/ext/api-routes/items/raw/%2541"));
    assert.deepEqual(body.params, { category: "raw", id: "%41" });
  });

  test("an encoded slash (%2F) stays inside its param", async () => {
    const t = await withRoutes();
    const body = await ok(await t.request("GET", "/ext/api-routes/items/a%2Fb/c"));
    assert.deepEqual(body.params, { category: "a/b", id: "c" });
  });

  test("a JSON body is parsed and echoed", async () => {
    const t = await withRoutes();
    const sent = { a: 1, nested: { list: [1, "two", null], ok: true } };
    const body = await ok(await t.request("POST", "/ext/api-routes/echo", { json: sent }));
    assert.deepEqual(body, { body: sent, type: "object", content_type: "application/json" });
  });

  test("a text body arrives as a string", async () => {
    const t = await withRoutes();
    const res = await t.request("PUT", "/ext/api-routes/echo", { body: "plain words, not JSON {", headers: { "content-type": "text/plain" } });
    assert.deepEqual(await ok(res), { body: "plain words, not JSON {", type: "string", content_type: "text/plain" });
  });

  test("no body is null; malformed JSON is 400 invalid_json before the plugin runs", async () => {
    const t = await withRoutes();
    assert.deepEqual(await ok(await t.request("POST", "/ext/api-routes/echo")), { body: null, type: "object", content_type: null });
    await expectError(await t.request("POST", "/ext/api-routes/echo", { body: '{"a":', headers: { "content-type": "application/json" } }), 400, "invalid_json");
  });

  test("rawBody: true gives the body exactly as sent beside the parsed one: JSON spacing, form text, UTF-8, gzip, empty", async () => {
    const t = await withRoutes();
    const raw = (body: string | Uint8Array | undefined, headers: Record<string, string> = {}) => t.request("POST", "/ext/api-routes/raw", { token: null, body, headers });
    const spaced = '{ "b": 2,   "a": [1, "ü ✓"] }';
    assert.deepEqual(await ok(await raw(spaced, { "content-type": "application/json" })), { raw: spaced, body: { b: 2, a: [1, "ü ✓"] } });
    assert.deepEqual(await ok(await raw("token=abc&text=%2Fdeploy+now", { "content-type": "application/x-www-form-urlencoded" })), {
      raw: "token=abc&text=%2Fdeploy+now",
      body: "token=abc&text=%2Fdeploy+now",
    });
    assert.deepEqual(await ok(await raw(gzipSync(spaced), { "content-type": "application/json", "content-encoding": "gzip" })), { raw: spaced, body: { b: 2, a: [1, "ü ✓"] } });
    assert.deepEqual(await ok(await raw(undefined)), { raw: null, body: null });
    await expectError(await raw('{"a":', { "content-type": "application/json" }), 400, "invalid_json");
  });

  test("a route that does not ask for rawBody gets no rawBody", async () => {
    const t = await withRoutes();
    assert.deepEqual(await ok(await t.request("POST", "/ext/api-routes/keys", { json: { a: 1 } })), { keys: ["body", "headers", "method", "params", "path", "query"] });
  });

  test("rawBody must be true or false: anything else is refused at upload, naming the route", async () => {
    const t = await app.tenant();
    const zip = new AdmZip(fixtureZip("api-routes"));
    zip.updateFile("main.js", Buffer.from(zip.readAsText("main.js") + '\nroute("/odd", { rawBody: "yes" }, () => ({}));\n'));
    const res = await t.upload(zip.toBuffer());
    const body = await json(res);
    assert.equal(res.status, 422, JSON.stringify(body));
    assert.match(JSON.stringify(body.error), /route\(\\"\/odd\\"\): rawBody must be true or false/);
  });

  test("request headers are visible except authorization and cookie; ctx.userId is the token's sub", async () => {
    const t = await withRoutes();
    const res = await t.request("GET", "/ext/api-routes/whoami", {
      token: t.member,
      headers: { cookie: "session=s3cret", "x-trace-id": "trace-123", "user-agent": "route-tests" },
    });
    const body = await ok(res);
    assert.equal(body.user, "member-user");
    assert.equal(body.tenant, t.slug);
    assert.equal(body.headers["x-trace-id"], "trace-123");
    assert.equal(body.headers["user-agent"], "route-tests");
    assert.equal(body.headers["x-tenant-slug"], t.slug);
    assert.equal("authorization" in body.headers, false);
    assert.equal("cookie" in body.headers, false);
    assert.ok(!JSON.stringify(body).includes(t.member), "the caller's token reached the plugin");
    assert.ok(!JSON.stringify(body).includes("s3cret"), "the caller's cookie reached the plugin");

    const asAdmin = await ok(await t.request("GET", "/ext/api-routes/whoami"));
    assert.equal(asAdmin.user, "admin-user");
  });
});

describe("what the caller gets back", () => {
  test("json(body, 201, headers): status and headers are set, set-cookie is not", async () => {
    const t = await withRoutes();
    const res = await t.request("POST", "/ext/api-routes/created");
    assert.deepEqual(await ok(res, 201), { created: true });
    assert.equal(res.headers.get("x-custom"), "1");
    assert.equal(res.headers.get("set-cookie"), null);
  });

  test("a plugin cannot split headers, set framing headers or plant cookies", async () => {
    const t = await withRoutes();
    const res = await t.request("GET", "/ext/api-routes/inject");
    assert.deepEqual(await ok(res), { injected: false });
    assert.equal(res.headers.get("x-note"), "a  set-cookie: evil=1");
    assert.equal(res.headers.get("set-cookie"), null);
    assert.ok(![...res.headers.keys()].some((k) => k.includes(" ")), "a header name with a space was sent");
    assert.notEqual(res.headers.get("content-length"), "1");
  });

  test("hostile-html: an answer claiming text/html is sandboxed and unsniffable; the plugin cannot lift that", async () => {
    const t = await app.tenant();
    await ok(await t.upload(fixtureZip("hostile-html")), 201);
    const res = await fetch(`${app.url}/t/${t.slug}/ext/hostile-html/page`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/html/, "the plugin's type is kept");
    assert.equal(res.headers.get("content-security-policy"), "sandbox");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    // A plugin's own HttpError answer carries the same headers.
    const thrown = await withRoutes();
    const notFound = await thrown.request("GET", "/ext/api-routes/users/u-1");
    assert.equal(notFound.status, 404);
    assert.equal(notFound.headers.get("content-security-policy"), "sandbox");
    assert.equal(notFound.headers.get("x-content-type-options"), "nosniff");
  });

  test("a body over 1 MB is 413 payload_too_large before the plugin runs", async () => {
    const t = await withRoutes();
    await expectError(await t.request("POST", "/ext/api-routes/echo", { json: { s: "x".repeat(1_100_000) } }), 413, "payload_too_large");
    await expectError(
      await t.request("POST", "/ext/api-routes/echo", { body: "x".repeat(1_100_000), headers: { "content-type": "text/plain" } }),
      413,
      "payload_too_large",
    );
  });

  test("the body is read only once the route is matched and the call admitted: an unknown route is 404 whatever its size", async () => {
    const t = await withRoutes();
    await expectError(await t.request("POST", "/ext/api-routes/nowhere", { body: "x".repeat(1_100_000), headers: { "content-type": "text/plain" } }), 404, "route_not_found");
    await expectError(await t.request("POST", "/ext/no-such-plugin/echo", { body: "x".repeat(1_100_000), headers: { "content-type": "text/plain" } }), 404, "plugin_not_found");
  });

  // Fails: Express marks the URIError with status 400 but not `expose`, so errorToHttp answers 500.
  test("a malformed percent-encoding in the path is 400 invalid_request, not a 500", async () => {
    const t = await withRoutes();
    await expectError(await t.request("GET", "/ext/api-routes/items/%E0/x"), 400, "invalid_request");
  });

  test("throw new HttpError(404, …) answers 404 not_found with the plugin's message", async () => {
    const t = await withRoutes();
    const res = await t.request("GET", "/ext/api-routes/users/u-1");
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { error: { code: "not_found", message: "User not found", details: null } });
  });

  test("an unknown path is 404 route_not_found", async () => {
    const t = await withRoutes();
    await expectError(await t.request("GET", "/ext/api-routes/nope"), 404, "route_not_found");
    await expectError(await t.request("GET", "/ext/api-routes"), 404, "route_not_found");
    await expectError(await t.request("GET", "/ext/api-routes/items/only-one"), 404, "route_not_found");
  });

  test("an unknown plugin is 404 plugin_not_found", async () => {
    const t = await withRoutes();
    await expectError(await t.request("GET", "/ext/not-installed/ping"), 404, "plugin_not_found");
  });

  test("a slug no plugin can have (8 KB, upper case) is 404 plugin_not_found and takes no room in the install cache", async () => {
    const t = await app.tenant();
    const before = app.services.installs.size;
    assert.ok(Number.isInteger(before), "the install cache tells its size");
    await expectError(await t.request("GET", `/ext/${"x".repeat(8192)}/ping`, { token: null }), 404, "plugin_not_found");
    await expectError(await fetch(`${app.url}/t/${t.slug}/ext/${"y".repeat(8192)}/ping`), 404, "plugin_not_found");
    await expectError(await t.request("GET", "/ext/Not-A-Slug/ping"), 404, "plugin_not_found");
    assert.equal(app.services.installs.size, before);
  });

  test("a wrong method is 405 method_not_allowed with Allow", async () => {
    const t = await withRoutes();
    const del = await t.request("DELETE", "/ext/api-routes/whoami");
    await expectError(del, 405, "method_not_allowed");
    assert.equal(del.headers.get("allow"), "GET");
    const get = await t.request("GET", "/ext/api-routes/echo");
    await expectError(get, 405, "method_not_allowed");
    assert.equal(get.headers.get("allow"), "POST, PUT");
  });

  test("HEAD on a GET route answers 200 without a body; OPTIONS is 405 with Allow", async () => {
    const t = await withRoutes();
    const head = await t.request("HEAD", "/ext/api-routes/whoami");
    assert.equal(head.status, 200);
    assert.match(head.headers.get("content-type") ?? "", /application\/json/);
    assert.equal(await head.text(), "");
    const options = await t.request("OPTIONS", "/ext/api-routes/whoami");
    await expectError(options, 405, "method_not_allowed");
    assert.equal(options.headers.get("allow"), "GET");
  });
});

describe("auth levels", () => {
  test("a public route needs only the tenant: X-Tenant-Slug or /t/<tenant>/ext", async () => {
    const t = await withRoutes();
    const expected = { public: true, tenant: t.slug, user: null };
    assert.deepEqual(await ok(await fetch(`${app.url}/ext/api-routes/public`, { headers: { "x-tenant-slug": t.slug } })), expected);
    assert.deepEqual(await ok(await fetch(`${app.url}/t/${t.slug}/ext/api-routes/public`)), expected);
    // A third party's own Bearer secret does not get in the way of a public route.
    assert.deepEqual(
      await ok(await fetch(`${app.url}/t/${t.slug}/ext/api-routes/public`, { headers: { authorization: "Bearer third-party-secret" } })),
      expected,
    );
    // With a valid token the user is known.
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-routes/public", { token: t.member })), { ...expected, user: "member-user" });
  });

  test("a public route without any tenant is 401; with an unknown tenant 404 tenant_not_found", async () => {
    await withRoutes();
    await expectError(await fetch(`${app.url}/ext/api-routes/public`), 401, "missing_token");
    await expectError(await fetch(`${app.url}/t/no-such-tenant-x/ext/api-routes/public`), 404, "tenant_not_found");
  });

  test("an admin route: member 403 forbidden, admin 200", async () => {
    const t = await withRoutes();
    await expectError(await t.request("GET", "/ext/api-routes/admin-only", { token: t.member }), 403, "forbidden");
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-routes/admin-only")), { admin: true, user: "admin-user" });
    await expectError(await t.request("GET", "/ext/api-routes/admin-only", { token: null }), 401, "missing_token");
  });

  test("a user route without a token is 401 missing_token; with a bad one 401 invalid_token", async () => {
    const t = await withRoutes();
    await expectError(await t.request("GET", "/ext/api-routes/whoami", { token: null }), 401, "missing_token");
    await expectError(await fetch(`${app.url}/t/${t.slug}/ext/api-routes/whoami`), 401, "missing_token");
    await expectError(await t.request("GET", "/ext/api-routes/whoami", { token: "not-a-jwt" }), 401, "invalid_token");
  });
});

describe("rate limit", () => {
  test("api-rate-limited allows 3 calls a minute; the 4th is 429 rate_limited with Retry-After", async () => {
    const t = await app.tenant();
    await ok(await t.upload(fixtureZip("api-rate-limited")), 201);
    for (let i = 0; i < 3; i++) assert.deepEqual(await ok(await t.request("GET", "/ext/api-rate-limited/hit")), { hit: true });
    const res = await t.request("GET", "/ext/api-rate-limited/hit");
    await expectError(res, 429, "rate_limited");
    const retryAfter = Number(res.headers.get("retry-after"));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${res.headers.get("retry-after")}`);

    // The limit is per install: another tenant's install of the same plugin is not affected.
    const other = await app.tenant();
    await ok(await other.upload(fixtureZip("api-rate-limited")), 201);
    assert.deepEqual(await ok(await other.request("GET", "/ext/api-rate-limited/hit")), { hit: true });
  });
});

describe("ctx errors the plugin can catch", () => {
  test("with the permission the ctx call answers: ctx.db.query(\"users\") lists the tenant's users", async () => {
    const t = await withRoutes();
    for (const email of ["b@example.com", "a@example.com"]) await ok(await t.request("POST", "/api/users", { json: { email } }), 201);
    await ok(await (await app.tenant()).request("POST", "/api/users", { json: { email: "other-tenant@example.com" } }), 201);
    const body = await ok(await t.request("GET", "/ext/api-routes/db"));
    assert.deepEqual(body, { error: null, users: ["a@example.com", "b@example.com"] });
  });

  test("without the permission it throws PermissionDenied, and the denial is in the plugin's logs", async () => {
    const t = await app.tenant();
    await ok(await t.upload(withManifest("api-routes", { slug: "api-routes-bare", permissions: [] })), 201);
    const body = await ok(await t.request("GET", "/ext/api-routes-bare/db"));
    assert.equal(body.error, "PermissionDenied");
    assert.match(body.message, /ctx\.db\.query needs the "db\.read" permission/);

    const logs = await ok(await t.request("GET", "/api/plugins/api-routes-bare/logs?level=warn"));
    assert.equal(logs.logs.length, 1, JSON.stringify(logs));
    const [line] = logs.logs;
    assert.match(line.message, /ctx\.db\.query needs the "db\.read" permission/);
    assert.deepEqual(line.fields, { method: "db.query", permission: "db.read" });
    assert.equal(line.invocation.kind, "route");
    assert.equal(line.invocation.name, "GET /db");
  });
});

describe("route calls in the install's usage", () => {
  test("every route call is counted by the status it answered (route.200, route.404), the quiet ones too, though only the others get invocation rows", async () => {
    const t = await withRoutes();
    for (let i = 0; i < 3; i++) await ok(await t.request("GET", "/ext/api-routes/public"));
    await expectError(await t.request("GET", "/ext/api-routes/users/u-1"), 404, "not_found");
    const usage = await ok(await t.request("GET", "/api/plugins/api-routes/usage"));
    assert.equal(usage.totals["route.200"], 3, JSON.stringify(usage));
    assert.equal(usage.totals["route.404"], 1, JSON.stringify(usage));
    const { plugin } = await ok(await t.request("GET", "/api/plugins/api-routes"));
    await app.services.recorder.flush();
    assert.equal(await app.services.db.prisma.invocation.count({ where: { installId: plugin.id, kind: "route" } }), 1, "the quiet calls have no invocation row");
  });
});
