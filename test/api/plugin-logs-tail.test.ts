import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { expectError, ok } from "../support/http-assert.ts";
import { fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";

// GET /api/plugins/:id/logs?after=<id>: the live tail the admin UI polls. Lines are written by
// real route calls of the api-admin fixture (each call logs "console line n" then "ctx line n").

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app.close());

async function withAdminPlugin(): Promise<TestTenant> {
  const t = await app.tenant("tail");
  await ok(await t.upload(fixtureZip("api-admin")), 201);
  return t;
}

const logLine = (t: TestTenant, n: number) => t.request("GET", `/ext/api-admin/log?n=${n}`).then((r) => ok(r));
const logs = (t: TestTenant, query: string) => t.request("GET", `/api/plugins/api-admin/logs${query}`).then((r) => ok(r));
const messages = (body: any): string[] => body.logs.map((l: any) => l.message);

describe("GET /api/plugins/:id/logs?after=", () => {
  test("only lines newer than `after` come, oldest first, with no next_before", async () => {
    const t = await withAdminPlugin();
    await logLine(t, 1);
    const seen = await logs(t, "");
    assert.deepEqual(messages(seen), ["ctx line 1", "console line 1"], "without after: newest first, as before");
    const cursor = seen.logs[0].id;

    await logLine(t, 2);
    await logLine(t, 3);
    const tail = await logs(t, `?after=${cursor}`);
    assert.deepEqual(messages(tail), ["console line 2", "ctx line 2", "console line 3", "ctx line 3"]);
    const ids = tail.logs.map((l: any) => BigInt(l.id));
    assert.ok(ids.every((id: bigint, i: number) => id > BigInt(cursor) && (i === 0 || id > ids[i - 1])), `ascending and newer than ${cursor}: ${ids.join(", ")}`);
    assert.equal(tail.next_before, null);

    // Nothing new yet: an empty page, and the poller keeps its cursor.
    const last = tail.logs.at(-1).id;
    assert.deepEqual(await logs(t, `?after=${last}`), { logs: [], next_before: null });
  });

  test("limit cuts a tail page; the next poll from its last id gets the rest without a gap", async () => {
    const t = await withAdminPlugin();
    await logLine(t, 1);
    await logLine(t, 2);
    const first = await logs(t, "?after=0&limit=3");
    assert.deepEqual(messages(first), ["console line 1", "ctx line 1", "console line 2"]);
    assert.equal(first.next_before, null);
    const rest = await logs(t, `?after=${first.logs[2].id}&limit=3`);
    assert.deepEqual(messages(rest), ["ctx line 2"]);
  });

  test("level still filters, and another install's lines never show", async () => {
    const t = await withAdminPlugin();
    const other = await withAdminPlugin();
    await logLine(other, 9);
    await logLine(t, 1);
    const res = await t.request("GET", "/ext/api-admin/boom");
    assert.equal(res.status, 500);
    await res.text();
    assert.deepEqual(messages(await logs(t, "?after=0")).slice(0, 2), ["console line 1", "ctx line 1"]);
    const errors = await logs(t, "?after=0&level=error");
    assert.ok(errors.logs.length > 0 && errors.logs.every((l: any) => l.level === "error"), JSON.stringify(errors));
    assert.ok(!messages(await logs(t, "?after=0")).includes("console line 9"));
  });

  test("a bad after, or after with before, is 400 invalid_request", async () => {
    const t = await withAdminPlugin();
    for (const bad of ["abc", "-1", "1e3", "", "1".repeat(19)]) {
      await expectError(await t.request("GET", `/api/plugins/api-admin/logs?after=${bad}`), 400, "invalid_request");
    }
    const both = await expectError(await t.request("GET", "/api/plugins/api-admin/logs?after=1&before=10"), 400, "invalid_request");
    assert.match(both.error.message, /before or after/);
    await expectError(await t.request("GET", "/api/plugins/ghost/logs?after=1"), 404, "plugin_not_found");
  });
});
