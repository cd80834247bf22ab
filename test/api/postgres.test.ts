import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import AdmZip from "adm-zip";
import { postgresAvailable, requireOrSkip } from "../support/services.ts";
import { FIXTURES, fixtureZip, startTestApp, type TestApp } from "../support/test-app.ts";
import { expectError, json, ok } from "../support/http-assert.ts";
import { adminAt } from "./admin-fixture.ts";

// The core admin flow on a real Postgres (scaled mode's database) instead of PGlite: the same
// schema and migrations must serve both. Skipped loudly when no Postgres is reachable.

let available = false;
let app: TestApp | undefined;
before(async () => {
  available = await postgresAvailable();
  if (available) app = await startTestApp({ db: "postgres" });
});
after(() => app?.close());


test("upload → route → secret → config → upgrade → rollback → uninstall on Postgres", async (t) => {
  if (!(await requireOrSkip(t, "postgres", available))) return;
  const tenant = await app!.tenant();

  const up = await ok(await tenant.upload(fixtureZip("api-admin")), 201);
  const id: string = up.plugin.id;
  assert.equal(up.plugin.version, "1.0.0");
  assert.deepEqual(await ok(await tenant.request("GET", "/ext/api-admin/version")), { behaviour: "v1", version: "1.0.0" });

  const value = "pg-secret-value-7c1e";
  assert.equal((await tenant.request("PUT", "/api/plugins/api-admin/secrets/API_KEY", { json: { value } })).status, 204);
  const secrets = await tenant.request("GET", "/api/plugins/api-admin/secrets");
  const secretsText = await secrets.text();
  assert.equal(secrets.status, 200);
  assert.ok(!secretsText.includes(value));
  assert.deepEqual(JSON.parse(secretsText).secrets.map((s: any) => s.name), ["API_KEY"]);
  assert.deepEqual(await ok(await tenant.request("GET", "/ext/api-admin/secret")), { api_key: value });
  assert.deepEqual(await ok(await tenant.request("PUT", "/api/plugins/api-admin/config", { json: { limit: 55 } })), { config: { limit: 55 } });
  assert.deepEqual(await ok(await tenant.request("GET", "/ext/api-admin/config")), { limit: 55, greeting: "hello" });

  const upgraded = await ok(await tenant.upload(adminAt("1.1.0", "v2")));
  assert.equal(upgraded.previous_version, "1.0.0");
  assert.equal(upgraded.plugin.id, id);
  assert.deepEqual(await ok(await tenant.request("GET", "/ext/api-admin/version")), { behaviour: "v2", version: "1.1.0" });
  assert.deepEqual(await ok(await tenant.request("GET", "/ext/api-admin/secret")), { api_key: value });
  assert.deepEqual(await ok(await tenant.request("GET", "/ext/api-admin/config")), { limit: 55, greeting: "hello" });
  await expectError(await tenant.upload(adminAt("1.0.0", "v1-again")), 409, "version_conflict");

  const rb = await ok(await tenant.request("POST", `/api/plugins/${id}/rollback`));
  assert.equal(rb.plugin.version, "1.0.0");
  assert.equal(rb.rolled_back_from, "1.1.0");
  assert.deepEqual(await ok(await tenant.request("GET", "/ext/api-admin/version")), { behaviour: "v1", version: "1.0.0" });
  await expectError(await tenant.upload(adminAt("1.1.0", "v3")), 409, "version_content_conflict");

  // Logs, written in batches, read back newest first.
  await ok(await tenant.request("GET", "/ext/api-admin/log?n=pg"));
  const logs = await ok(await tenant.request("GET", `/api/plugins/${id}/logs`));
  assert.deepEqual(logs.logs.slice(0, 2).map((l: any) => l.message), ["ctx line pg", "console line pg"]);
  assert.equal(logs.logs[0].invocation.name, "GET /log");

  const del = await tenant.request("DELETE", `/api/plugins/${id}`);
  assert.equal(del.status, 204);
  await expectError(await tenant.request("GET", `/api/plugins/${id}`), 404, "plugin_not_found");
  await expectError(await tenant.request("GET", "/ext/api-admin/version"), 404, "plugin_not_found");
  assert.deepEqual(await ok(await tenant.request("GET", "/api/plugins")), { plugins: [] });

  const again = await ok(await tenant.upload(fixtureZip("api-admin")), 201);
  assert.notEqual(again.plugin.id, id);
  assert.deepEqual((await ok(await tenant.request("GET", "/api/plugins/api-admin/secrets"))).secrets, []);
  assert.deepEqual(await ok(await tenant.request("GET", "/ext/api-admin/secret")), { api_key: null });
});

test("a refused upload leaves no rows on Postgres", async (t) => {
  if (!(await requireOrSkip(t, "postgres", available))) return;
  const tenant = await app!.tenant();
  const res = await tenant.upload(fixtureZip("many-errors"));
  const body = await json(res);
  assert.equal(res.status, 422);
  assert.equal(body.error.code, "invalid_plugin");
  assert.ok(body.error.details.length >= 7, JSON.stringify(body.error.details));
  assert.equal(await app!.services.db.prisma.pluginVersion.count({ where: { tenantId: tenant.id } }), 0);
  assert.deepEqual(await ok(await tenant.request("GET", "/api/plugins")), { plugins: [] });
});

// Fails: the upgrade reads the install, checks the version, then writes without checking that
// the install is still at the version it read. Two API processes (or two requests) uploading
// 1.2.0 and 1.1.0 at once can both succeed, and the later write installs 1.1.0 over 1.2.0.
test("concurrent upgrades: the loser gets 409 and a lower version never replaces a higher one", async (t) => {
  if (!(await requireOrSkip(t, "postgres", available))) return;
  const higher = adminAt("1.2.0", "v3");
  const lower = adminAt("1.1.0", "v2");
  for (let i = 0; i < 8; i++) {
    const tenant = await app!.tenant();
    await ok(await tenant.upload(fixtureZip("api-admin")), 201);
    const [a, b] = await Promise.all([tenant.upload(higher), tenant.upload(lower)]);
    const bodies = [await json(a), await json(b)];
    const answers = [`${a.status} ${bodies[0].plugin?.version ?? bodies[0].error?.code}`, `${b.status} ${bodies[1].plugin?.version ?? bodies[1].error?.code}`];
    // Each upload is checked against the version it saw; the one that loses the race gets 409
    // and writes nothing. So: every answer is 200 or 409 version_conflict, and what is installed
    // is the highest version that got a 200 — never a lower one over a higher one.
    for (const [k, res] of [a, b].entries()) {
      assert.ok(res.status === 200 || (res.status === 409 && bodies[k].error.code === "version_conflict"), `round ${i}: ${answers}`);
    }
    const won = [["1.2.0", a.status], ["1.1.0", b.status]].filter(([, st]) => st === 200).map(([v]) => v);
    assert.ok(won.length >= 1, `round ${i}: neither upload won: ${answers}`);
    const installed = (await ok(await tenant.request("GET", "/api/plugins/api-admin"))).plugin.version;
    assert.equal(installed, won[0], `round ${i}: uploads answered ${JSON.stringify(answers)} but ${installed} is installed`);
    const behaviour = installed === "1.2.0" ? "v3" : "v2";
    assert.deepEqual(await ok(await tenant.request("GET", "/ext/api-admin/version")), { behaviour, version: installed });
  }
});
