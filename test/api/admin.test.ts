import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import AdmZip from "adm-zip";
import { FIXTURES, fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";
import { expectError, json, ok } from "../support/http-assert.ts";
import { adminAt } from "./admin-fixture.ts";

// The tenant admin's plugin API: list/get, enable/disable, rollback, uninstall, secrets,
// config and logs, against a real server with real sandbox processes.

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app.close());


/** A fresh tenant with api-admin 1.0.0 installed; returns the tenant and the install id. */
async function withAdminPlugin(): Promise<{ t: TestTenant; id: string }> {
  const t = await app.tenant();
  const body = await ok(await t.upload(fixtureZip("api-admin")), 201);
  return { t, id: body.plugin.id };
}

async function logsOf(t: TestTenant, idOrSlug: string, query = ""): Promise<any> {
  return ok(await t.request("GET", `/api/plugins/${idOrSlug}/logs${query}`));
}

describe("list and get", () => {
  test("GET /api/plugins lists this tenant's installs; GET /:id works with the id and the slug", async () => {
    const { t, id } = await withAdminPlugin();
    const good = await ok(await t.upload(fixtureZip("good")), 201);

    const list = await ok(await t.request("GET", "/api/plugins"));
    assert.deepEqual(
      list.plugins.map((p: any) => [p.id, p.slug, p.version, p.status]),
      [
        [id, "api-admin", "1.0.0", "enabled"],
        [good.plugin.id, "good", "1.0.0", "enabled"],
      ],
    );
    const goodView = list.plugins[1];
    assert.deepEqual(goodView.permissions, ["db.read", "outbound_http"]);
    assert.deepEqual(goodView.events, ["auth.user.created"]);
    const [job] = goodView.jobs;
    assert.deepEqual({ ...job, next_run: undefined }, { name: "daily_cleanup", schedule: "0 2 * * *", timezone: "Europe/Paris", next_run: undefined });
    // 02:00 in Paris is 01:00 or 00:00 UTC depending on daylight saving, and always ahead.
    assert.match(job.next_run, /^\d{4}-\d\d-\d\dT0[01]:00:00\.000Z$/);
    assert.ok(Date.parse(job.next_run) > Date.now());
    assert.deepEqual(goodView.routes, [{ path: "/ext/good/ping", methods: ["GET"], auth: "user" }]);

    const byId = await ok(await t.request("GET", `/api/plugins/${id}`));
    const bySlug = await ok(await t.request("GET", "/api/plugins/api-admin"));
    assert.equal(byId.plugin.id, id);
    assert.equal(byId.plugin.slug, "api-admin");
    assert.deepEqual(bySlug, byId);
  });

  test("an unknown id or slug is 404 plugin_not_found", async () => {
    const { t } = await withAdminPlugin();
    await expectError(await t.request("GET", `/api/plugins/${randomUUID()}`), 404, "plugin_not_found");
    await expectError(await t.request("GET", "/api/plugins/no-such-plugin"), 404, "plugin_not_found");
    await expectError(await t.request("POST", "/api/plugins/no-such-plugin/enable"), 404, "plugin_not_found");
    await expectError(await t.request("DELETE", "/api/plugins/no-such-plugin"), 404, "plugin_not_found");
  });

  test("a fresh tenant has no plugins", async () => {
    const t = await app.tenant();
    assert.deepEqual(await ok(await t.request("GET", "/api/plugins")), { plugins: [] });
  });
});

describe("enable and disable", () => {
  test("a disabled plugin's routes are 404 plugin_not_found; enabling brings them back", async () => {
    const { t, id } = await withAdminPlugin();
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/version")), { behaviour: "v1", version: "1.0.0" });

    const off = await ok(await t.request("POST", `/api/plugins/${id}/disable`));
    assert.equal(off.plugin.status, "disabled");
    await expectError(await t.request("GET", "/ext/api-admin/version"), 404, "plugin_not_found");
    await expectError(await fetch(`${app.url}/t/${t.slug}/ext/api-admin/version`, { headers: { authorization: `Bearer ${t.admin}` } }), 404, "plugin_not_found");
    assert.equal((await ok(await t.request("GET", "/api/plugins/api-admin"))).plugin.status, "disabled");

    // Disabling twice is fine; so is enabling by slug.
    assert.equal((await ok(await t.request("POST", "/api/plugins/api-admin/disable"))).plugin.status, "disabled");
    const on = await ok(await t.request("POST", "/api/plugins/api-admin/enable"));
    assert.equal(on.plugin.status, "enabled");
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/version")), { behaviour: "v1", version: "1.0.0" });
  });
});

describe("rollback", () => {
  test("after an upgrade, rollback returns to 1.0.0 and its behaviour", async () => {
    const { t, id } = await withAdminPlugin();
    const up = await ok(await t.upload(adminAt("1.1.0", "v2")));
    assert.equal(up.previous_version, "1.0.0");
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/version")), { behaviour: "v2", version: "1.1.0" });

    const rb = await ok(await t.request("POST", `/api/plugins/${id}/rollback`));
    assert.equal(rb.plugin.id, id);
    assert.equal(rb.plugin.version, "1.0.0");
    assert.equal(rb.rolled_back_from, "1.1.0");
    // The version rolled back from becomes the previous one.
    assert.equal(rb.plugin.has_previous_version, true);
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/version")), { behaviour: "v1", version: "1.0.0" });
    assert.equal((await ok(await t.request("GET", "/api/plugins/api-admin"))).plugin.version, "1.0.0");
  });

  test("rollback with no previous version is 409 no_previous_version", async () => {
    const { t, id } = await withAdminPlugin();
    await expectError(await t.request("POST", `/api/plugins/${id}/rollback`), 409, "no_previous_version");
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/version")), { behaviour: "v1", version: "1.0.0" });
  });

  test("rollback keeps secrets and config", async () => {
    const { t } = await withAdminPlugin();
    assert.equal((await t.request("PUT", "/api/plugins/api-admin/secrets/API_KEY", { json: { value: "rb-secret" } })).status, 204);
    await ok(await t.request("PUT", "/api/plugins/api-admin/config", { json: { limit: 7 } }));
    await ok(await t.upload(adminAt("1.1.0", "v2")));
    await ok(await t.request("POST", "/api/plugins/api-admin/rollback"));
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/secret")), { api_key: "rb-secret" });
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/config")), { limit: 7, greeting: "hello" });
  });
});

describe("uninstall", () => {
  test("204, then the plugin, its routes and its secrets are gone", async () => {
    const { t, id } = await withAdminPlugin();
    assert.equal((await t.request("PUT", "/api/plugins/api-admin/secrets/API_KEY", { json: { value: "to-be-deleted" } })).status, 204);
    await ok(await t.request("PUT", "/api/plugins/api-admin/config", { json: { limit: 3 } }));

    const del = await t.request("DELETE", `/api/plugins/${id}`);
    assert.equal(del.status, 204);
    assert.equal(await del.text(), "");

    await expectError(await t.request("GET", `/api/plugins/${id}`), 404, "plugin_not_found");
    await expectError(await t.request("GET", "/api/plugins/api-admin"), 404, "plugin_not_found");
    await expectError(await t.request("GET", "/api/plugins/api-admin/secrets"), 404, "plugin_not_found");
    await expectError(await t.request("GET", "/ext/api-admin/version"), 404, "plugin_not_found");
    await expectError(await t.request("DELETE", `/api/plugins/${id}`), 404, "plugin_not_found");
    assert.deepEqual(await ok(await t.request("GET", "/api/plugins")), { plugins: [] });

    // A new install of the same slug starts clean: new id, no secrets, default config.
    const again = await ok(await t.upload(fixtureZip("api-admin")), 201);
    assert.notEqual(again.plugin.id, id);
    assert.deepEqual(again.plugin.config, {});
    assert.equal(again.plugin.has_previous_version, false);
    const secrets = await ok(await t.request("GET", "/api/plugins/api-admin/secrets"));
    assert.deepEqual(secrets.secrets, []);
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/secret")), { api_key: null });
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/config")), { limit: 10, greeting: "hello" });
  });

  test("an uninstalled version can be uploaded again at the same number with other content", async () => {
    const { t } = await withAdminPlugin();
    assert.equal((await t.request("DELETE", "/api/plugins/api-admin")).status, 204);
    const body = await ok(await t.upload(adminAt("1.0.0", "reinstalled")), 201);
    assert.equal(body.plugin.version, "1.0.0");
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/version")), { behaviour: "reinstalled", version: "1.0.0" });
  });
});

describe("secrets", () => {
  test("PUT 204; GET lists names and updated_at, never values; the plugin reads the value", async () => {
    const { t, id } = await withAdminPlugin();
    const value = "sk_live_5f2b9c0e-never-in-a-response";
    const put = await t.request("PUT", `/api/plugins/${id}/secrets/API_KEY`, { json: { value } });
    assert.equal(put.status, 204);
    assert.equal(await put.text(), "");
    assert.equal((await t.request("PUT", "/api/plugins/api-admin/secrets/EXTRA_TOKEN", { json: { value: `${value}-2` } })).status, 204);

    const res = await t.request("GET", "/api/plugins/api-admin/secrets");
    const text = await res.text();
    assert.equal(res.status, 200);
    assert.ok(!text.includes(value), "a secret value appeared in the secrets listing");
    const body = JSON.parse(text);
    assert.deepEqual(body.secrets.map((s: any) => s.name), ["API_KEY", "EXTRA_TOKEN"]);
    for (const s of body.secrets) {
      assert.deepEqual(Object.keys(s).sort(), ["name", "updated_at"]);
      assert.ok(!Number.isNaN(Date.parse(s.updated_at)), `updated_at ${s.updated_at} is not a date`);
    }
    assert.deepEqual(body.declared, ["API_KEY"]);

    for (const urlPath of ["/api/plugins", "/api/plugins/api-admin", "/api/plugins/api-admin/config"]) {
      const other = await t.request("GET", urlPath);
      assert.equal(other.status, 200);
      assert.ok(!(await other.text()).includes(value), `a secret value appeared in GET ${urlPath}`);
    }
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/secret")), { api_key: value });
    const logs = await t.request("GET", "/api/plugins/api-admin/logs");
    assert.equal(logs.status, 200);
    assert.ok(!(await logs.text()).includes(value), "a secret value appeared in the plugin logs");
  });

  test("PUT again replaces the value", async () => {
    const { t } = await withAdminPlugin();
    assert.equal((await t.request("PUT", "/api/plugins/api-admin/secrets/API_KEY", { json: { value: "first" } })).status, 204);
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/secret")), { api_key: "first" });
    assert.equal((await t.request("PUT", "/api/plugins/api-admin/secrets/API_KEY", { json: { value: "second" } })).status, 204);
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/secret")), { api_key: "second" });
    const body = await ok(await t.request("GET", "/api/plugins/api-admin/secrets"));
    assert.deepEqual(body.secrets.map((s: any) => s.name), ["API_KEY"]);
  });

  test("DELETE 204; DELETE again or of an unknown name is 404 secret_not_found", async () => {
    const { t } = await withAdminPlugin();
    assert.equal((await t.request("PUT", "/api/plugins/api-admin/secrets/API_KEY", { json: { value: "short-lived" } })).status, 204);
    const del = await t.request("DELETE", "/api/plugins/api-admin/secrets/API_KEY");
    assert.equal(del.status, 204);
    assert.equal(await del.text(), "");
    assert.deepEqual((await ok(await t.request("GET", "/api/plugins/api-admin/secrets"))).secrets, []);
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/secret")), { api_key: null });
    await expectError(await t.request("DELETE", "/api/plugins/api-admin/secrets/API_KEY"), 404, "secret_not_found");
    await expectError(await t.request("DELETE", "/api/plugins/api-admin/secrets/NEVER_SET"), 404, "secret_not_found");
  });

  test("a bad body or name is 400 invalid_request; malformed JSON is 400 invalid_json", async () => {
    const { t } = await withAdminPlugin();
    const missing = await expectError(await t.request("PUT", "/api/plugins/api-admin/secrets/API_KEY", { json: {} }), 400, "invalid_request");
    assert.deepEqual(missing.error.details.map((d: any) => d.path), ["value"]);
    await expectError(await t.request("PUT", "/api/plugins/api-admin/secrets/API_KEY", { json: { value: 42 } }), 400, "invalid_request");
    await expectError(await t.request("PUT", "/api/plugins/api-admin/secrets/API_KEY", { json: ["x"] }), 400, "invalid_request");
    await expectError(await t.request("PUT", "/api/plugins/api-admin/secrets/API_KEY", { body: "x", headers: { "content-type": "text/plain" } }), 400, "invalid_request");
    const badName = await expectError(await t.request("PUT", "/api/plugins/api-admin/secrets/not-a-name", { json: { value: "x" } }), 400, "invalid_request");
    assert.deepEqual(badName.error.details, { name: "not-a-name" });
    await expectError(
      await t.request("PUT", "/api/plugins/api-admin/secrets/API_KEY", { body: '{"value": "x"', headers: { "content-type": "application/json" } }),
      400,
      "invalid_json",
    );
    assert.deepEqual((await ok(await t.request("GET", "/api/plugins/api-admin/secrets"))).secrets, []);
  });

  test("secrets of an unknown plugin are 404 plugin_not_found", async () => {
    const t = await app.tenant();
    await expectError(await t.request("PUT", "/api/plugins/ghost/secrets/API_KEY", { json: { value: "x" } }), 404, "plugin_not_found");
    await expectError(await t.request("GET", "/api/plugins/ghost/secrets"), 404, "plugin_not_found");
  });
});

describe("config", () => {
  test("a valid config is stored (200) and the plugin's ctx.config.get sees it", async () => {
    const { t, id } = await withAdminPlugin();
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/config")), { limit: 10, greeting: "hello" });
    const put = await ok(await t.request("PUT", `/api/plugins/${id}/config`, { json: { limit: 42, greeting: "bonjour" } }));
    assert.deepEqual(put, { config: { limit: 42, greeting: "bonjour" } });
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/config")), { limit: 42, greeting: "bonjour" });

    const got = await ok(await t.request("GET", "/api/plugins/api-admin/config"));
    assert.deepEqual(got.config, { limit: 42, greeting: "bonjour" });
    assert.equal(got.configuration.limit.type, "integer");

    // PUT replaces the whole config; null clears a key back to its default.
    assert.deepEqual(await ok(await t.request("PUT", "/api/plugins/api-admin/config", { json: { greeting: null, limit: 5 } })), { config: { limit: 5 } });
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/config")), { limit: 5, greeting: "hello" });
  });

  test("a wrong type or an out-of-range value is 422 invalid_config naming the key", async () => {
    const { t } = await withAdminPlugin();
    const wrongType = await expectError(await t.request("PUT", "/api/plugins/api-admin/config", { json: { limit: "ten" } }), 422, "invalid_config");
    assert.deepEqual(wrongType.error.details.map((d: any) => d.path), ["limit"]);
    assert.match(wrongType.error.details[0].message, /integer/);
    const fraction = await expectError(await t.request("PUT", "/api/plugins/api-admin/config", { json: { limit: 2.5 } }), 422, "invalid_config");
    assert.deepEqual(fraction.error.details.map((d: any) => d.path), ["limit"]);
    const tooBig = await expectError(await t.request("PUT", "/api/plugins/api-admin/config", { json: { limit: 1000 } }), 422, "invalid_config");
    assert.deepEqual(tooBig.error.details, [{ path: "limit", message: "must be at most 100" }]);
    const both = await expectError(await t.request("PUT", "/api/plugins/api-admin/config", { json: { limit: 0, greeting: 1 } }), 422, "invalid_config");
    assert.deepEqual(both.error.details.map((d: any) => d.path).sort(), ["greeting", "limit"]);
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/config")), { limit: 10, greeting: "hello" });
  });

  test("an unknown key is 422 invalid_config; a non-object is 422 too", async () => {
    const { t } = await withAdminPlugin();
    const unknown = await expectError(await t.request("PUT", "/api/plugins/api-admin/config", { json: { limit: 5, colour: "blue" } }), 422, "invalid_config");
    assert.deepEqual(unknown.error.details.map((d: any) => d.path), ["colour"]);
    assert.match(unknown.error.details[0].message, /unknown key/);
    const list = await expectError(await t.request("PUT", "/api/plugins/api-admin/config", { json: [1, 2] }), 422, "invalid_config");
    assert.deepEqual(list.error.details, [{ path: "", message: "must be an object" }]);
    assert.deepEqual((await ok(await t.request("GET", "/api/plugins/api-admin/config"))).config, {});
  });

  test("a malformed JSON body is 400 invalid_json", async () => {
    const { t } = await withAdminPlugin();
    const res = await t.request("PUT", "/api/plugins/api-admin/config", { body: '{"limit": 5,', headers: { "content-type": "application/json" } });
    await expectError(res, 400, "invalid_json");
    assert.deepEqual((await ok(await t.request("GET", "/api/plugins/api-admin/config"))).config, {});
  });
});

describe("logs", () => {
  test("console.log and ctx.log lines appear newest first, with their invocation", async () => {
    const { t } = await withAdminPlugin();
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/log?n=1")), { logged: "1" });
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/log?n=2")), { logged: "2" });

    const body = await logsOf(t, "api-admin");
    const lines = body.logs.map((l: any) => [l.level, l.message]);
    assert.deepEqual(lines, [
      ["info", "ctx line 2"],
      ["info", "console line 2"],
      ["info", "ctx line 1"],
      ["info", "console line 1"],
    ]);
    const [ctxLine, consoleLine] = body.logs;
    assert.deepEqual(ctxLine.fields, { n: "2" });
    assert.equal(consoleLine.fields, null);
    for (const l of body.logs) {
      assert.equal(l.invocation.kind, "route");
      assert.equal(l.invocation.name, "GET /log");
      assert.equal(l.invocation.status, "ok");
      assert.ok(!Number.isNaN(Date.parse(l.at)));
    }
    // Lines of one call share its invocation; the two calls differ.
    assert.equal(body.logs[0].invocation.id, body.logs[1].invocation.id);
    assert.notEqual(body.logs[0].invocation.id, body.logs[2].invocation.id);
    const ids = body.logs.map((l: any) => BigInt(l.id));
    assert.deepEqual([...ids].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)), ids);
    assert.equal(body.next_before, null);
  });

  test("limit and before page through the log", async () => {
    const { t } = await withAdminPlugin();
    await ok(await t.request("GET", "/ext/api-admin/log?n=1"));
    await ok(await t.request("GET", "/ext/api-admin/log?n=2"));
    const first = await logsOf(t, "api-admin", "?limit=3");
    assert.deepEqual(first.logs.map((l: any) => l.message), ["ctx line 2", "console line 2", "ctx line 1"]);
    assert.equal(first.next_before, first.logs[2].id);
    const rest = await logsOf(t, "api-admin", `?limit=3&before=${first.next_before}`);
    assert.deepEqual(rest.logs.map((l: any) => l.message), ["console line 1"]);
    await expectError(await t.request("GET", "/api/plugins/api-admin/logs?before=abc"), 400, "invalid_request");
  });

  test("a throwing route answers a generic 500 plugin_error; the real error is in the logs", async () => {
    const { t } = await withAdminPlugin();
    const res = await t.request("GET", "/ext/api-admin/boom");
    const text = await res.text();
    assert.equal(res.status, 500, text);
    const body = JSON.parse(text);
    assert.deepEqual(body, { error: { code: "plugin_error", message: "The plugin failed to handle the request", details: null } });
    assert.ok(!text.includes("kaboom") && !text.includes("hunter2"), "the plugin's error leaked into the HTTP answer");

    const logs = await logsOf(t, "api-admin", "?level=error");
    assert.equal(logs.logs.length, 1, JSON.stringify(logs));
    const [line] = logs.logs;
    assert.equal(line.level, "error");
    assert.match(line.message, /kaboom: the upstream password is hunter2/);
    assert.match(line.message, /^route GET \/boom threw: Error: kaboom/);
    assert.deepEqual({ kind: line.invocation.kind, name: line.invocation.name, status: line.invocation.status }, { kind: "route", name: "GET /boom", status: "error" });
  });
});

describe("roles and paths", () => {
  test("a member gets 403 forbidden on every admin route, and nothing changes", async () => {
    const { t, id } = await withAdminPlugin();
    const calls: [string, string, unknown?][] = [
      ["GET", "/api/plugins"],
      ["GET", `/api/plugins/${id}`],
      ["GET", "/api/plugins/api-admin"],
      ["POST", `/api/plugins/${id}/enable`],
      ["POST", `/api/plugins/${id}/disable`],
      ["POST", `/api/plugins/${id}/rollback`],
      ["DELETE", `/api/plugins/${id}`],
      ["GET", `/api/plugins/${id}/config`],
      ["PUT", `/api/plugins/${id}/config`, { limit: 5 }],
      ["GET", `/api/plugins/${id}/logs`],
      ["GET", `/api/plugins/${id}/secrets`],
      ["PUT", `/api/plugins/${id}/secrets/API_KEY`, { value: "member-wrote-this" }],
      ["DELETE", `/api/plugins/${id}/secrets/API_KEY`],
      ["POST", "/api/plugins/upload"],
    ];
    for (const [method, urlPath, body] of calls) {
      const res = await t.request(method, urlPath, { token: t.member, json: body });
      await expectError(res, 403, "forbidden").catch((err) => {
        throw new Error(`${method} ${urlPath}: ${(err as Error).message}`);
      });
    }
    await expectError(await t.upload(fixtureZip("good"), t.member), 403, "forbidden");

    const plugin = (await ok(await t.request("GET", `/api/plugins/${id}`))).plugin;
    assert.equal(plugin.status, "enabled");
    assert.deepEqual(plugin.config, {});
    assert.deepEqual((await ok(await t.request("GET", `/api/plugins/${id}/secrets`))).secrets, []);
    assert.deepEqual((await ok(await t.request("GET", "/api/plugins"))).plugins.map((p: any) => p.slug), ["api-admin"]);
    // The member can still use the plugin's routes.
    assert.deepEqual(await ok(await t.request("GET", "/ext/api-admin/version", { token: t.member })), { behaviour: "v1", version: "1.0.0" });
  });

  test("an unknown /api path is 404 not_found as JSON", async () => {
    const { t, id } = await withAdminPlugin();
    const a = await expectError(await t.request("GET", "/api/nope"), 404, "not_found");
    assert.match(a.error.message, /GET \/api\/nope/);
    await expectError(await t.request("POST", `/api/plugins/${id}/frobnicate`), 404, "not_found");
    await expectError(await t.request("GET", "/nowhere"), 404, "not_found");
  });

  // Fails: Express marks the URIError with status 400 but not `expose`, so errorToHttp answers 500.
  test("a malformed percent-encoding in :id is 400 invalid_request, not a 500", async () => {
    const { t } = await withAdminPlugin();
    await expectError(await t.request("GET", "/api/plugins/%E0"), 400, "invalid_request");
  });
});
