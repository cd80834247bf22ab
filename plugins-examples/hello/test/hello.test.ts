import assert from "node:assert/strict";
import { after, test } from "node:test";
import { createTestContext, loadPlugin } from "@sbh/sdk/testing";

// The hello example, run as its author would test it: a real isolate, ctx faked in memory.
const ctx = createTestContext({ tenant: "acme", user: "u-1", secrets: { SIGNATURE: "the-team" } });
const plugin = await loadPlugin(new URL("..", import.meta.url).pathname, ctx);
after(() => plugin.close());

test("GET /ping answers with the plugin and tenant", async () => {
  const res = await plugin.route("GET", "/ping");
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { status: "ok", plugin: "hello", version: plugin.manifest.version, tenant: "acme" });
});

test("an unknown route is a 404", async () => {
  const res = await plugin.route("GET", "/nope");
  assert.equal(res.status, 404);
});

test("GET /greet/:name uses the greeting config (its default here) and the SIGNATURE secret, and logs", async () => {
  const res = await plugin.route("GET", "/greet/Ada");
  assert.deepEqual(res.body, { message: "Hello, Ada!", signed_by: "the-team" });
  assert.ok(ctx.logs.some((l) => l.message === "greeted" && (l.fields as { name: string }).name === "Ada"));
  const tooLong = await plugin.route("GET", `/greet/${"x".repeat(101)}`);
  assert.equal(tooLong.status, 400);
  assert.equal((tooLong.body as { error: { message: string } }).error.message, "That name is too long");
});

test("the auth.user.created hook emits hello.greeted", async () => {
  await plugin.emit("auth.user.created", { user: { id: "u-2", email: "ada@example.com" } });
  assert.deepEqual(ctx.emitted.at(-1), { type: "hello.greeted", data: { email: "ada@example.com" } });
});

test("the daily_greeting job returns its message", async () => {
  assert.deepEqual(await plugin.runJob("daily_greeting"), { message: "Hello from acme", trigger: "manual" });
});
