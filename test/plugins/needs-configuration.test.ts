import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { eventually } from "../support/eventually.ts";
import { expectError, ok } from "../support/http-assert.ts";
import { fixtureZip, startTestApp, type TestApp, type TestTenant, withManifest, uploadWith } from "../support/test-app.ts";

// Seed 001's lifecycle puts Configuration between Installation and Enablement: an install that
// misses a required config value (no value, no default) or a required secret is
// `needs_configuration`. Nothing of it runs (routes answer 409 plugin_needs_configuration, hooks
// are skipped with the reason, run-now is refused) until the last missing value is set, which
// enables it by itself, onEnable and all.

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app.close());

const MISSING_BOTH = { config: ["base_url"], secrets: ["API_KEY"] };
const NOTHING = { config: [], secrets: [] };

async function plugin(t: TestTenant, slug = "needs-config"): Promise<any> {
  return (await ok(await t.request("GET", `/api/plugins/${slug}`))).plugin;
}

async function logMessages(t: TestTenant, slug = "needs-config"): Promise<{ message: string; fields: any }[]> {
  const { logs } = await ok(await t.request("GET", `/api/plugins/${slug}/logs?limit=200`));
  return logs;
}

/** Sets everything v1 requires; the install is enabled by the last write. */
async function configure(t: TestTenant, config: Record<string, unknown> = { base_url: "https://api.example.test" }): Promise<void> {
  assert.equal((await t.request("PUT", "/api/plugins/needs-config/secrets/API_KEY", { json: { value: "k-123" } })).status, 204);
  await ok(await t.request("PUT", "/api/plugins/needs-config/config", { json: config }));
}

async function installed(): Promise<TestTenant> {
  const t = await app.tenant("needcfg");
  const body = await ok(await t.upload(fixtureZip("needs-config")), 201);
  assert.equal(body.plugin.status, "needs_configuration");
  return t;
}

describe("an install missing required values", () => {
  test("lands as needs_configuration naming them; its routes, hooks and jobs do not run; onInstall did", async () => {
    const t = await app.tenant("needcfg");
    const body = await ok(await t.upload(fixtureZip("needs-config")), 201);
    assert.equal(body.plugin.status, "needs_configuration");
    // retries is required but has a default; OPTIONAL_TOKEN is a plain (optional) name.
    assert.deepEqual(body.plugin.missing, MISSING_BOTH);
    assert.deepEqual(body.plugin.secrets, ["API_KEY", "OPTIONAL_TOKEN"]);
    assert.deepEqual(body.plugin.required_secrets, ["API_KEY"]);
    assert.equal(body.plugin.jobs[0].next_run, null);

    const { plugins } = await ok(await t.request("GET", "/api/plugins"));
    assert.deepEqual(plugins.map((p: any) => [p.slug, p.status, p.missing]), [["needs-config", "needs_configuration", MISSING_BOTH]]);

    for (const path of ["/ext/needs-config/status", `/t/${t.slug}/ext/needs-config/status`]) {
      const refused = await expectError(await t.request("GET", path), 409, "plugin_needs_configuration");
      assert.deepEqual(refused.error.details, { plugin: "needs-config", missing: MISSING_BOTH });
      assert.match(refused.error.message, /base_url/);
      assert.match(refused.error.message, /API_KEY/);
    }

    const published = await ok(await t.request("POST", "/api/events", { json: { type: "config.checked", data: {} } }), 202);
    const hook = await eventually("the hook run ends", async () => {
      const { event } = await ok(await t.request("GET", `/api/events/${published.event.id}`));
      return event.hooks.find((h: { status: string }) => h.status !== "pending");
    });
    assert.equal(hook.plugin, "needs-config");
    assert.equal(hook.status, "skipped");
    assert.equal(hook.error, "the plugin needs configuration (missing config base_url; secrets API_KEY)");

    const run = await expectError(await t.request("POST", "/api/plugins/needs-config/jobs/sync/run-now"), 409, "plugin_needs_configuration");
    assert.deepEqual(run.error.details.missing, MISSING_BOTH);
    const { runs } = await ok(await t.request("GET", "/api/plugins/needs-config/jobs/sync/runs"));
    assert.deepEqual(runs, []);

    const messages = (await logMessages(t)).map((l) => l.message);
    assert.ok(messages.includes("lifecycle onInstall"), JSON.stringify(messages));
    assert.ok(!messages.includes("lifecycle onEnable"));
    assert.ok(!messages.includes("hook ran"));

    const secrets = await ok(await t.request("GET", "/api/plugins/needs-config/secrets"));
    assert.deepEqual([secrets.declared, secrets.required, secrets.missing], [["API_KEY", "OPTIONAL_TOKEN"], ["API_KEY"], ["API_KEY"]]);
  });

  test("setting the last missing value enables it by itself: onEnable runs, audited, routes and hooks work", async () => {
    const t = await installed();
    assert.equal((await t.request("PUT", "/api/plugins/needs-config/secrets/API_KEY", { json: { value: "k-123" } })).status, 204);
    const half = await plugin(t);
    assert.equal(half.status, "needs_configuration");
    assert.deepEqual(half.missing, { config: ["base_url"], secrets: [] });
    const stillRefused = await expectError(await t.request("GET", "/ext/needs-config/status"), 409, "plugin_needs_configuration");
    assert.deepEqual(stillRefused.error.details.missing, { config: ["base_url"], secrets: [] });

    await ok(await t.request("PUT", "/api/plugins/needs-config/config", { json: { base_url: "https://api.example.test" } }));
    const enabled = await plugin(t);
    assert.equal(enabled.status, "enabled");
    assert.deepEqual(enabled.missing, NOTHING);
    assert.notEqual(enabled.jobs[0].next_run, null);

    const onEnable = (await logMessages(t)).find((l) => l.message === "lifecycle onEnable");
    assert.ok(onEnable, "onEnable ran");
    assert.deepEqual(onEnable.fields, { base_url: "https://api.example.test", has_key: true });

    const answer = await ok(await t.request("GET", "/ext/needs-config/status"));
    assert.deepEqual(answer, { version: "1.0.0", base_url: "https://api.example.test", region: null, retries: 3, has_key: true });

    const { entries } = await ok(await t.request("GET", "/api/audit?action=plugin.enabled"));
    assert.equal(entries.length, 1);
    assert.equal(entries[0].details.reason, "configured");

    const published = await ok(await t.request("POST", "/api/events", { json: { type: "config.checked", data: {} } }), 202);
    const hook = await eventually("the hook run ends", async () => {
      const { event } = await ok(await t.request("GET", `/api/events/${published.event.id}`));
      return event.hooks.find((h: { status: string }) => h.status !== "pending");
    });
    assert.equal(hook.status, "succeeded", JSON.stringify(hook));
    await ok(await t.request("POST", "/api/plugins/needs-config/jobs/sync/run-now"), 202);
  });

  test("a config PUT without a required key is refused (422) and leaves it needs_configuration", async () => {
    const t = await installed();
    const refused = await expectError(await t.request("PUT", "/api/plugins/needs-config/config", { json: { label: "x" } }), 422, "invalid_config");
    assert.deepEqual(refused.error.details, [{ path: "base_url", message: "is required" }]);
    assert.equal((await plugin(t)).status, "needs_configuration");
  });

  test("enabling while values are missing is a 409 naming them; a disable makes it disabled, which setting them does not undo", async () => {
    const t = await installed();
    const refused = await expectError(await t.request("POST", "/api/plugins/needs-config/enable"), 409, "plugin_needs_configuration");
    assert.deepEqual(refused.error.details.missing, MISSING_BOTH);
    assert.equal((await plugin(t)).status, "needs_configuration");

    const disabled = await ok(await t.request("POST", "/api/plugins/needs-config/disable"));
    assert.equal(disabled.plugin.status, "disabled");
    assert.deepEqual(disabled.plugin.missing, MISSING_BOTH);
    await expectError(await t.request("GET", "/ext/needs-config/status"), 404, "plugin_not_found");
    await expectError(await t.request("POST", "/api/plugins/needs-config/enable"), 409, "plugin_needs_configuration");

    await configure(t);
    // The admin's disable stands: a complete configuration only ends needs_configuration.
    assert.equal((await plugin(t)).status, "disabled");
    const enabled = await ok(await t.request("POST", "/api/plugins/needs-config/enable"));
    assert.equal(enabled.plugin.status, "enabled");
    await ok(await t.request("GET", "/ext/needs-config/status"));
  });

  test("an upgrade that adds a required value moves an enabled install back to needs_configuration", async () => {
    const t = await installed();
    await configure(t);
    assert.equal((await plugin(t)).status, "enabled");

    const upgraded = await ok(await t.upload(fixtureZip("needs-config-v2")), 200);
    assert.equal(upgraded.plugin.version, "2.0.0");
    assert.equal(upgraded.plugin.status, "needs_configuration");
    assert.deepEqual(upgraded.plugin.missing, { config: ["region"], secrets: [] });
    const refused = await expectError(await t.request("GET", "/ext/needs-config/status"), 409, "plugin_needs_configuration");
    assert.deepEqual(refused.error.details.missing, { config: ["region"], secrets: [] });

    await ok(await t.request("PUT", "/api/plugins/needs-config/config", { json: { base_url: "https://api.example.test", region: "eu" } }));
    assert.equal((await plugin(t)).status, "enabled");
    const answer = await ok(await t.request("GET", "/ext/needs-config/status"));
    assert.equal(answer.version, "2.0.0");
    assert.equal(answer.region, "eu");
  });

  test("a rollback to a version that does not need the missing value runs it again; forward again needs it", async () => {
    const t = await installed();
    await configure(t);
    assert.equal((await ok(await t.upload(fixtureZip("needs-config-v2")), 200)).plugin.status, "needs_configuration");
    const back = await ok(await t.request("POST", "/api/plugins/needs-config/rollback"));
    assert.deepEqual([back.plugin.version, back.plugin.status, back.plugin.missing], ["1.0.0", "enabled", NOTHING]);
    await ok(await t.request("GET", "/ext/needs-config/status"));
    const forward = await ok(await t.request("POST", "/api/plugins/needs-config/rollback"));
    assert.deepEqual([forward.plugin.version, forward.plugin.status, forward.plugin.missing], ["2.0.0", "needs_configuration", { config: ["region"], secrets: [] }]);
    await expectError(await t.request("GET", "/ext/needs-config/status"), 409, "plugin_needs_configuration");
  });

  test("an upgrade of a disabled install that adds a required value keeps it disabled, listing what is missing", async () => {
    const t = await installed();
    await configure(t);
    await ok(await t.request("POST", "/api/plugins/needs-config/disable"));
    const upgraded = await ok(await t.upload(fixtureZip("needs-config-v2")), 200);
    assert.equal(upgraded.plugin.status, "disabled");
    assert.deepEqual(upgraded.plugin.missing, { config: ["region"], secrets: [] });
    await expectError(await t.request("POST", "/api/plugins/needs-config/enable"), 409, "plugin_needs_configuration");
  });
});

describe("deleting a required secret", () => {
  test("of an enabled install stops it: needs_configuration, the route refused; setting it again enables it", async () => {
    const t = await installed();
    await configure(t);
    assert.equal((await t.request("DELETE", "/api/plugins/needs-config/secrets/OPTIONAL_TOKEN")).status, 404);
    assert.equal((await t.request("PUT", "/api/plugins/needs-config/secrets/OPTIONAL_TOKEN", { json: { value: "x" } })).status, 204);
    // An optional secret comes and goes without changing anything.
    assert.equal((await t.request("DELETE", "/api/plugins/needs-config/secrets/OPTIONAL_TOKEN")).status, 204);
    assert.equal((await plugin(t)).status, "enabled");

    assert.equal((await t.request("DELETE", "/api/plugins/needs-config/secrets/API_KEY")).status, 204);
    const stopped = await plugin(t);
    assert.equal(stopped.status, "needs_configuration");
    assert.deepEqual(stopped.missing, { config: [], secrets: ["API_KEY"] });
    await expectError(await t.request("GET", "/ext/needs-config/status"), 409, "plugin_needs_configuration");

    assert.equal((await t.request("PUT", "/api/plugins/needs-config/secrets/API_KEY", { json: { value: "k-2" } })).status, 204);
    assert.equal((await plugin(t)).status, "enabled");
    assert.equal((await ok(await t.request("GET", "/ext/needs-config/status"))).has_key, true);
  });

  test("that an enabled dependent needs is a 409 that keeps the secret, unless cascade", async () => {
    const t = await installed();
    await configure(t);
    await ok(await t.upload(withManifest("dep-child", { slug: "nc-child", dependencies: { "needs-config": "^1.0.0" } })), 201);
    const refused = await expectError(await t.request("DELETE", "/api/plugins/needs-config/secrets/API_KEY"), 409, "dependency_conflict");
    assert.match(refused.error.message, /left without its required secret API_KEY/);
    const { secrets } = await ok(await t.request("GET", "/api/plugins/needs-config/secrets"));
    assert.deepEqual(secrets.map((x: { name: string }) => x.name), ["API_KEY"]);
    assert.equal((await plugin(t)).status, "enabled");

    assert.equal((await t.request("DELETE", "/api/plugins/needs-config/secrets/API_KEY?cascade=true")).status, 204);
    assert.equal((await plugin(t)).status, "needs_configuration");
    assert.equal((await plugin(t, "nc-child")).status, "disabled");
  });
});

describe("dependencies", () => {
  const child = () =>
    withManifest("dep-child", { slug: "nc-child", name: "Needs-config child", dependencies: { "needs-config": "^1.0.0 || ^2.0.0" } });

  test("a needs_configuration install does not satisfy another plugin's requirement", async () => {
    const t = await installed();
    const refused = await expectError(await t.upload(child()), 422, "invalid_plugin");
    assert.match(JSON.stringify(refused.error.details), /installed but needs_configuration/);
  });

  test("an upgrade into needs_configuration breaks enabled dependents: 409 unless cascade, which disables them", async () => {
    const t = await installed();
    await configure(t);
    await ok(await t.upload(child()), 201);

    const refused = await expectError(await t.upload(fixtureZip("needs-config-v2")), 409, "dependency_conflict");
    assert.match(refused.error.message, /needs configuration/);
    assert.deepEqual(refused.error.details.dependents.map((d: { slug: string }) => d.slug), ["nc-child"]);
    assert.equal((await plugin(t)).version, "1.0.0");
    assert.equal((await plugin(t, "nc-child")).status, "enabled");

    const upgraded = await ok(await uploadWith(t, fixtureZip("needs-config-v2"), "?cascade=true"), 200);
    assert.equal(upgraded.plugin.status, "needs_configuration");
    assert.equal((await plugin(t, "nc-child")).status, "disabled");
  });
});

describe("configured while what it requires is off", () => {
  test("it becomes disabled with the reason instead of enabled", async () => {
    const t = await app.tenant("needcfg");
    await ok(await t.upload(fixtureZip("dep-base-v1")), 201);
    await ok(await t.upload(withManifest("needs-config", { dependencies: { "dep-base": "^1.0.0" } })), 201);
    await ok(await t.request("POST", "/api/plugins/dep-base/disable"));
    await configure(t);
    const after = await plugin(t);
    assert.equal(after.status, "disabled");
    assert.match(after.error, /every required value is set, but requires "dep-base" \^1\.0\.0, which is installed but disabled/);
    assert.ok(!(await logMessages(t)).some((l) => l.message === "lifecycle onEnable"));
  });
});

describe("secrets as plain names", () => {
  test("stay optional: the install is enabled with none set", async () => {
    const t = await app.tenant("needcfg");
    const zip = withManifest("needs-config", { slug: "plain-secrets", configuration: {}, secrets: ["API_KEY", "OTHER"] });
    const body = await ok(await t.upload(zip), 201);
    assert.equal(body.plugin.status, "enabled");
    assert.deepEqual(body.plugin.secrets, ["API_KEY", "OTHER"]);
    assert.deepEqual(body.plugin.required_secrets, []);
    assert.deepEqual(body.plugin.missing, NOTHING);
    const answer = await ok(await t.request("GET", "/ext/plain-secrets/status"));
    assert.equal(answer.has_key, false);
  });

  test("a version stored before required secrets were kept reads as requiring none", async () => {
    const t = await installed();
    await configure(t);
    const install = await plugin(t);
    const row = await app.services.db.prisma.install.findUniqueOrThrow({ where: { id: install.id } });
    const version = await app.services.db.prisma.pluginVersion.findUniqueOrThrow({ where: { id: row.currentVersionId } });
    const { required_secrets: _dropped, ...older } = version.manifest as Record<string, unknown>;
    await app.services.db.prisma.pluginVersion.update({ where: { id: version.id }, data: { manifest: older as object } });
    await app.services.db.prisma.secret.deleteMany({ where: { installId: install.id } });
    app.services.installs.invalidate(row.tenantId);

    const read = await plugin(t);
    assert.equal(read.status, "enabled");
    assert.deepEqual(read.required_secrets, []);
    assert.deepEqual(read.missing, NOTHING);
    assert.deepEqual(read.secrets, ["API_KEY", "OPTIONAL_TOKEN"]);
  });
});
