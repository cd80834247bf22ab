import assert from "node:assert/strict";
import { after, test } from "node:test";
import { createTestContext, loadPlugin } from "@sbh/sdk/testing";

const dir = new URL("..", import.meta.url).pathname;
const today = new Date().toISOString().slice(0, 10);

const ctx = createTestContext({
  tenant: "acme",
  users: [{ email: "ada@example.com" }, { email: "grace@example.com" }, { email: "alan@example.com" }],
  files: { "invoices/2024-01.pdf": "%PDF-1.7 …", "logo.svg": "<svg/>" },
});
const plugin = await loadPlugin(dir, ctx);
after(() => plugin.close());

test("GET /latest is a 404 before the job ever ran", async () => {
  const res = await plugin.route("GET", "/latest");
  assert.equal(res.status, 404);
  assert.match((res.body as { error: { message: string } }).error.message, /has not run/);
});

test("daily_kpi counts users and files, stores a row, writes the report and emits kpi.computed", async () => {
  const result = (await plugin.runJob("daily_kpi")) as Record<string, unknown>;
  const expected = { date: today, users: 3, new_users_24h: 3, files: 2, file_bytes: Buffer.byteLength("%PDF-1.7 …") + Buffer.byteLength("<svg/>"), complete: true };
  for (const [k, v] of Object.entries(expected)) assert.equal(result[k], v, k);

  const rows = ctx.collection("kpis");
  assert.equal(rows.length, 1);
  assert.equal(rows[0].users, 3);

  const report = JSON.parse(ctx.fileText(`reports/kpi-${today}.json`)!);
  assert.equal(report.files, 2);
  assert.equal(ctx.files.get(`reports/kpi-${today}.json`)!.contentType, "application/json");

  assert.equal(ctx.emitted.at(-1)!.type, "kpi.computed");
  assert.equal((ctx.emitted.at(-1)!.data as { report: string }).report, `reports/kpi-${today}.json`);

  const latest = await plugin.route("GET", "/latest");
  assert.equal(latest.status, 200);
  assert.equal((latest.body as { users: number }).users, 3);
});

test("a second run the same day updates the row and does not count its own report", async () => {
  ctx.users.push({ id: "u-new", email: "new@example.com", name: null, data: {}, created_at: new Date().toISOString(), updated_at: new Date().toISOString() });
  const result = (await plugin.runJob("daily_kpi")) as { users: number; files: number };
  assert.equal(result.users, 4);
  assert.equal(result.files, 2);
  assert.equal(ctx.collection("kpis").length, 1);
});

test("counting pages through more rows than one query returns", async () => {
  const big = createTestContext({ users: Array.from({ length: 250 }, (_, i) => ({ email: `u${i}@example.com` })) });
  const p = await loadPlugin(dir, big);
  try {
    assert.equal(((await p.runJob("daily_kpi")) as { users: number }).users, 250);
  } finally {
    await p.close();
  }
});

test("without files.write the job fails with PermissionDenied", async () => {
  const denied = createTestContext({ permissions: ["db.read", "db.write", "files.read"] });
  const p = await loadPlugin(dir, denied);
  try {
    await assert.rejects(p.runJob("daily_kpi"), { name: "PermissionDenied" });
    assert.equal(denied.files.size, 0);
  } finally {
    await p.close();
  }
});
