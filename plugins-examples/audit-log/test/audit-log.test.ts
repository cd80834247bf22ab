import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, test } from "node:test";
import { createTestContext, loadPlugin } from "@sbh/sdk/testing";

const dir = new URL("..", import.meta.url).pathname;
const ctx = createTestContext({ tenant: "acme" });
const plugin = await loadPlugin(dir, ctx);
after(() => plugin.close());

type Entry = { event_id: string; type: string; actor: string | null; subject: string | null; data: Record<string, unknown>; occurred_at: string };
const entries = async (query = ""): Promise<{ status: number; body: { entries: Entry[]; count: number; error?: { message: string } } }> =>
  (await plugin.route("GET", `/entries${query}`)) as never;

test("each event becomes one entry with its subject, actor and a small data summary", async () => {
  await plugin.emit("auth.user.created", { user: { id: "u-1", email: "ada@example.com", name: "Ada", data: { plan: "pro" } }, actor: "admin@example.com" });
  await plugin.emit("files.uploaded", { file: { id: "f-1", path: "reports/q1.pdf", size: 1234 }, replaced: false });
  await plugin.emit("plugin.installed", { plugin: { id: "i-1", slug: "notes", version: "1.0.0", status: "enabled" } });
  await plugin.emit("payments.subscription.created", { subscription: { id: "sub_1", plan: "pro", note: "x".repeat(500), items: [1, 2] } });

  const rows = ctx.collection("audit") as Entry[];
  assert.deepEqual(rows.map((r) => [r.type, r.subject, r.actor]), [
    ["auth.user.created", "user:ada@example.com", "admin@example.com"],
    ["files.uploaded", "file:reports/q1.pdf", null],
    ["plugin.installed", "plugin:notes", null],
    ["payments.subscription.created", "subscription:sub_1", null],
  ]);
  assert.deepEqual(rows[0].data, { user: { id: "u-1", email: "ada@example.com", name: "Ada" }, actor: "admin@example.com" });
  const sub = rows[3].data.subscription as Record<string, string>;
  assert.equal(sub.note.length, 201);
  assert.equal(sub.items, "2 item(s)");
});

test("a redelivered event (same id) is recorded once", async () => {
  const id = crypto.randomUUID();
  const before = ctx.collection("audit").length;
  // Hooks are delivered at least once: the same event id twice is a redelivery.
  await plugin.emit("auth.user.deleted", { user: { id: "u-9", email: "gone@example.com" } }, { id });
  await plugin.emit("auth.user.deleted", { user: { id: "u-9", email: "gone@example.com" } }, { id });
  const written = (ctx.collection("audit") as Entry[]).filter((e) => e.event_id === id);
  assert.equal(written.length, 1);
  assert.equal(ctx.collection("audit").length, before + 1);
});

test("GET /entries filters by type and since, newest first, with a limit", async () => {
  const all = await entries();
  assert.equal(all.status, 200);
  assert.equal(all.body.count, 5);
  assert.equal(all.body.entries[0].type, "auth.user.deleted");

  assert.deepEqual((await entries("?type=files.uploaded")).body.entries.map((e) => e.subject), ["file:reports/q1.pdf"]);
  assert.equal((await entries("?type=files.uploaded,plugin.installed")).body.count, 2);
  assert.equal((await entries("?limit=2")).body.count, 2);
  assert.equal((await entries(`?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).body.count, 0);
  assert.equal((await entries("?since=2000-01-01")).body.count, 5);
});

test("bad filters are 400s", async () => {
  for (const q of ["?type=build.completed", "?type=", "?since=yesterday", "?limit=0", "?limit=500"]) {
    const res = await entries(q);
    assert.equal(res.status, 400, q);
    assert.equal(typeof res.body.error?.message, "string");
  }
});

test("without db.write the hook fails with PermissionDenied (and is retried by the platform)", async () => {
  const denied = createTestContext({ permissions: ["db.read"] });
  const p = await loadPlugin(dir, denied);
  try {
    await assert.rejects(p.emit("auth.user.created", { user: { email: "x@example.com" } }), { name: "PermissionDenied" });
    assert.equal(denied.collection("audit").length, 0);
  } finally {
    await p.close();
  }
});
