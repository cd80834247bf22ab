import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { AuditLog } from "../../src/audit/audit-log.ts";
import type { PrismaClient } from "../../src/generated/prisma/client.ts";
import type { Logger } from "../../src/logger.ts";
import { eventually } from "../support/eventually.ts";
import { expectError, ok } from "../support/http-assert.ts";
import { fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";
import { adminAt } from "./admin-fixture.ts";
import type { AuditEntryView } from "../../src/audit/audit-log.ts";

// The audit log: every admin action done through the API leaves one entry (who, what, on what,
// from where), readable by the tenant's admins at GET /api/audit, newest first. Secret values
// never appear in it.

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app.close());

// The API's own view type; details are read freely in assertions.
type Entry = Omit<AuditEntryView, "details"> & { details: any };

async function auditOf(t: TestTenant, query = "", token?: string): Promise<{ entries: Entry[]; next_before: string | null }> {
  return ok(await t.request("GET", `/api/audit${query}`, token === undefined ? {} : { token }));
}

describe("what is recorded", () => {
  test("every admin action through the API is one entry: actor, target and details, newest first; refused calls leave none", async () => {
    const t = await app.tenant("audit");
    const apiKey = `sk-live-${randomUUID()}`;
    const hookUrl = `https://hooks.example.test/${randomUUID()}`;

    const installed = (await ok(await t.upload(fixtureZip("api-admin")), 201)).plugin;
    await ok(await t.upload(adminAt("1.1.0", "v2")), 200);
    await ok(await t.request("POST", "/api/plugins/api-admin/disable"));
    await ok(await t.request("POST", "/api/plugins/api-admin/enable"));
    await ok(await t.request("POST", "/api/plugins/api-admin/rollback"));
    assert.equal((await t.request("PUT", "/api/plugins/api-admin/secrets/API_KEY", { json: { value: apiKey } })).status, 204);
    assert.equal((await t.request("DELETE", "/api/plugins/api-admin/secrets/API_KEY")).status, 204);
    await ok(await t.request("PUT", "/api/plugins/api-admin/config", { json: { greeting: "hi" } }));
    await ok(await t.request("PUT", "/api/plugins/api-admin/config", { json: { greeting: "hi", limit: 5 } }));

    const jobs = (await ok(await t.upload(fixtureZip("job-manual")), 201)).plugin;
    const run = (await ok(await t.request("POST", "/api/plugins/job-manual/jobs/echo/run-now"), 202)).run;

    // A delivery that fails at once (its signing key is not set), then replayed.
    const hooks = (await ok(await t.upload(fixtureZip("wh-plain")), 201)).plugin;
    assert.equal((await t.request("PUT", "/api/plugins/wh-plain/secrets/WEBHOOK_URL", { json: { value: hookUrl } })).status, 204);
    await ok(await t.request("POST", "/api/events", { json: { type: "order.created", data: {} } }), 202);
    const failed = await eventually("the delivery to fail", async () => {
      const { deliveries } = await ok(await t.request("GET", "/api/plugins/wh-plain/deliveries"));
      return deliveries.find((d: { status: string }) => d.status === "failed");
    });
    await ok(await t.request("POST", `/api/plugins/wh-plain/deliveries/${failed.id}/retry`), 202);

    // Refused: nothing happened, so nothing is recorded.
    await expectError(await t.upload(fixtureZip("api-admin")), 409, "version_conflict");
    await expectError(await t.request("POST", "/api/plugins/api-admin/disable", { token: t.member }), 403, "forbidden");
    await expectError(await t.request("DELETE", "/api/plugins/api-admin/secrets/NOPE"), 404, "secret_not_found");
    await expectError(await t.request("PUT", "/api/plugins/api-admin/config", { json: { limit: "many" } }), 422, "invalid_config");

    assert.equal((await t.request("DELETE", "/api/plugins/api-admin?purge=true")).status, 204);

    const body = await auditOf(t, "?limit=100");
    assert.equal(body.next_before, null);
    const plugin = (id: string, slug: string) => ["plugin", id, slug];
    const expected: [string, string, string, string | null, unknown][] = [
      ["plugin.installed", ...plugin(installed.id, "api-admin"), { version: "1.0.0" }],
      ["plugin.upgraded", ...plugin(installed.id, "api-admin"), { version: "1.1.0", previous_version: "1.0.0" }],
      ["plugin.disabled", ...plugin(installed.id, "api-admin"), { version: "1.1.0" }],
      ["plugin.enabled", ...plugin(installed.id, "api-admin"), { version: "1.1.0", status: "enabled" }],
      ["plugin.rolled_back", ...plugin(installed.id, "api-admin"), { from: "1.1.0", to: "1.0.0" }],
      ["secret.set", "secret", "API_KEY", "api-admin", { name: "API_KEY" }],
      ["secret.deleted", "secret", "API_KEY", "api-admin", { name: "API_KEY" }],
      ["config.changed", ...plugin(installed.id, "api-admin"), { config: { greeting: "hi" }, changed: ["greeting"] }],
      ["config.changed", ...plugin(installed.id, "api-admin"), { config: { greeting: "hi", limit: 5 }, changed: ["limit"] }],
      ["plugin.installed", ...plugin(jobs.id, "job-manual"), { version: "1.0.0" }],
      ["job.run_now", "job", "echo", "job-manual", { job: "echo", run_id: run.id }],
      ["plugin.installed", ...plugin(hooks.id, "wh-plain"), { version: "1.0.0" }],
      ["secret.set", "secret", "WEBHOOK_URL", "wh-plain", { name: "WEBHOOK_URL" }],
      ["delivery.replayed", "delivery", failed.id, "wh-plain", { delivery_id: failed.id, webhook: "orders", event_type: "order.created", event_id: failed.event_id }],
      ["plugin.uninstalled", ...plugin(installed.id, "api-admin"), { version: "1.0.0", purge: true }],
    ] as never;
    assert.deepEqual(
      body.entries.map((e) => [e.action, e.target_type, e.target_id, e.plugin, e.details]),
      expected.reverse(),
      "newest first; the uninstalled plugin's history stays",
    );
    for (const e of body.entries) {
      assert.equal(e.actor, "admin-user", "the token's sub");
      assert.equal(e.actor_role, "admin");
      assert.match(e.ip ?? "", /127\.0\.0\.1/);
      assert.match(e.id, /^[0-9a-f-]{36}$/);
    }
    const times = body.entries.map((e) => Date.parse(e.created_at));
    assert.deepEqual(times, [...times].sort((a, b) => b - a));

    const text = JSON.stringify(body);
    assert.ok(!text.includes(apiKey), "a secret's value is never in the audit log");
    assert.ok(!text.includes(hookUrl), "a secret's value is never in the audit log");
    const rows = await app.services.db.prisma.auditEntry.findMany({ where: { tenantId: t.id } });
    assert.ok(!JSON.stringify(rows).includes(apiKey) && !JSON.stringify(rows).includes(hookUrl), "nor in the table");
  });

  test("a platform admin acting on a tenant is recorded as such; creating a tenant is the new tenant's first entry", async () => {
    const t = await app.tenant("audit");
    await ok(await t.upload(fixtureZip("api-admin")), 201);
    await ok(await t.request("POST", "/api/plugins/api-admin/disable", { token: app.platformToken() }));
    const [latest] = (await auditOf(t)).entries;
    assert.deepEqual([latest.action, latest.actor, latest.actor_role], ["plugin.disabled", "platform-test", "platform_admin"]);

    const slug = `audit-new-${randomUUID().slice(0, 8)}`;
    const created = await ok(
      await fetch(`${app.url}/api/tenants`, {
        method: "POST",
        headers: { authorization: `Bearer ${app.platformToken()}`, "content-type": "application/json" },
        body: JSON.stringify({ slug, name: "New Co" }),
      }),
      201,
    );
    const res = await fetch(`${app.url}/api/audit`, { headers: { authorization: `Bearer ${app.platformToken()}`, "x-tenant-slug": slug } });
    const { entries } = await ok(res);
    assert.deepEqual(
      entries.map((e: Entry) => [e.action, e.actor, e.actor_role, e.target_type, e.target_id, e.plugin, e.details]),
      [["tenant.created", "platform-test", "platform_admin", "tenant", created.tenant.id, null, { slug, name: "New Co" }]],
    );
  });
});

describe("reading the log", () => {
  test("filters by action and plugin; pages with next_before without losing entries written in the same millisecond", async () => {
    const t = await app.tenant("audit");
    await ok(await t.upload(fixtureZip("api-admin")), 201);
    await ok(await t.upload(fixtureZip("job-manual")), 201);
    for (const value of ["a", "b", "c"]) {
      assert.equal((await t.request("PUT", "/api/plugins/api-admin/secrets/API_KEY", { json: { value } })).status, 204);
    }
    await ok(await t.request("POST", "/api/plugins/job-manual/disable"));

    const sets = await auditOf(t, "?action=secret.set");
    assert.deepEqual(sets.entries.map((e) => [e.action, e.target_id]), [["secret.set", "API_KEY"], ["secret.set", "API_KEY"], ["secret.set", "API_KEY"]]);
    const jobManual = await auditOf(t, "?plugin=job-manual");
    assert.deepEqual(jobManual.entries.map((e) => e.action), ["plugin.disabled", "plugin.installed"]);
    const both = await auditOf(t, "?plugin=api-admin&action=plugin.installed");
    assert.deepEqual(both.entries.map((e) => [e.action, e.plugin]), [["plugin.installed", "api-admin"]]);
    assert.deepEqual((await auditOf(t, "?plugin=nope")).entries, []);

    // Entries sharing one timestamp (concurrent requests do this) straddle page boundaries.
    const at = new Date();
    await app.services.db.prisma.auditEntry.createMany({
      data: [1, 2, 3, 4, 5].map((n) => ({
        tenantId: t.id, actor: "batch", actorRole: "admin", action: "secret.set", targetType: "secret", targetId: `S${n}`, pluginSlug: "api-admin", createdAt: at,
      })),
    });
    const all = (await auditOf(t, "?limit=100")).entries;
    assert.equal(all.length, 11);
    const paged: Entry[] = [];
    let cursor: string | null = "";
    let pages = 0;
    while (cursor !== null) {
      const page = await auditOf(t, `?limit=2${cursor ? `&before=${cursor}` : ""}`);
      assert.ok(page.entries.length <= 2);
      paged.push(...page.entries);
      cursor = page.next_before;
      assert.ok(++pages <= 7, "paging ends");
    }
    assert.deepEqual(paged.map((e) => e.id), all.map((e) => e.id), "every entry once, in the same order");

    // A plain time works as `before` too: everything older than it.
    const older = await auditOf(t, `?limit=100&before=${encodeURIComponent(at.toISOString())}`);
    assert.deepEqual(older.entries.map((e) => e.id), all.filter((e) => Date.parse(e.created_at) < at.getTime()).map((e) => e.id));
  });

  test("admins only, and only their own tenant's entries", async () => {
    const a = await app.tenant("audit-a");
    const b = await app.tenant("audit-b");
    await ok(await a.upload(fixtureZip("api-admin")), 201);
    await ok(await b.upload(fixtureZip("job-manual")), 201);

    await expectError(await a.request("GET", "/api/audit", { token: a.member }), 403, "forbidden");
    await expectError(await a.request("GET", "/api/audit", { token: null }), 401, "missing_token");
    await expectError(await a.request("GET", "/api/audit", { token: b.admin }), 403, "tenant_mismatch");
    const noTenant = await fetch(`${app.url}/api/audit`, { headers: { authorization: `Bearer ${app.platformToken()}` } });
    await expectError(noTenant, 403, "forbidden");

    const seenByB = await auditOf(b);
    assert.deepEqual(seenByB.entries.map((e) => [e.action, e.plugin]), [["plugin.installed", "job-manual"]]);
    assert.deepEqual((await auditOf(b, "?plugin=api-admin")).entries, [], "A's plugin is not in B's log");
    const seenByA = await auditOf(a);
    assert.deepEqual(seenByA.entries.map((e) => [e.action, e.plugin]), [["plugin.installed", "api-admin"]]);
  });

  test("a bad query is 400 invalid_request naming the parameter", async () => {
    const t = await app.tenant("audit");
    const cases: [string, string][] = [
      ["?limit=0", "limit"],
      ["?limit=500", "limit"],
      ["?limit=many", "limit"],
      ["?before=yesterday", "before"],
      ["?before=2026-11-26T10:00:00.000Z~not-a-uuid", "before"],
      ["?action=", "action"],
      ["?plugin=" + "x".repeat(101), "plugin"],
      ["?tenant=other", ""],
    ];
    for (const [query, path] of cases) {
      const body = await expectError(await t.request("GET", `/api/audit${query}`), 400, "invalid_request");
      assert.ok(Array.isArray(body.error.details), query);
      assert.ok(
        body.error.details.some((d: { path: string; message: string }) => d.path === path && typeof d.message === "string"),
        `${query}: ${JSON.stringify(body.error.details)}`,
      );
    }
  });
});

describe("AuditLog.record", () => {
  test("a failed write is logged and never rejects: the action it describes already happened", async () => {
    const logged: { fields: any; msg: string }[] = [];
    const logger = { error: (fields: unknown, msg: string) => logged.push({ fields, msg }) } as unknown as Logger;
    const prisma = { auditEntry: { create: async () => Promise.reject(new Error("database is down")) } } as unknown as PrismaClient;
    const log = new AuditLog(prisma, logger);
    await log.record({
      tenantId: randomUUID(), actor: "admin-user", actorRole: "admin", action: "secret.set",
      targetType: "secret", targetId: "API_KEY", pluginSlug: "api-admin", details: { name: "API_KEY" },
    });
    assert.equal(logged.length, 1);
    assert.equal(logged[0].msg, "audit entry could not be written");
    assert.equal(logged[0].fields.audit.action, "secret.set");
    assert.equal(logged[0].fields.err.message, "database is down");
  });
});
