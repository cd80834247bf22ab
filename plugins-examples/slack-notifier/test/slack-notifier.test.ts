import assert from "node:assert/strict";
import { after, beforeEach, test } from "node:test";
import { createTestContext, loadPlugin } from "@sbh/sdk/testing";

const dir = new URL("..", import.meta.url).pathname;
const SLACK = "https://hooks.slack.com/services/T000/B000/XXXX";

const ctx = createTestContext({ tenant: "acme", secrets: { SLACK_WEBHOOK_URL: SLACK }, http: { [`POST ${SLACK}`]: { status: 200, body: "ok" } } });
const plugin = await loadPlugin(dir, ctx);
after(() => plugin.close());
beforeEach(() => {
  ctx.requests.length = 0;
  ctx.secrets.set("SLACK_WEBHOOK_URL", SLACK);
  ctx.http[`POST ${SLACK}`] = { status: 200, body: "ok" };
});

const posted = () => ctx.requests.map((r) => ({ method: r.method, url: r.url, text: JSON.parse(r.body!).text }));

test("build.completed posts one message to the Slack webhook", async () => {
  await plugin.emit("build.completed", { build_id: "b-42", status: "success", project_name: "web" });
  assert.deepEqual(posted(), [{ method: "POST", url: SLACK, text: ":white_check_mark: Build b-42 of *web* finished: success (acme)" }]);
});

test("new users and new subscriptions get their own wording", async () => {
  await plugin.emit("auth.user.created", { user: { email: "ada@example.com", name: "Ada" } });
  await plugin.emit("payments.subscription.created", { subscription: { plan: "pro", amount: 49, currency: "eur", customer_email: "ada@example.com" } });
  assert.deepEqual(posted().map((p) => p.text), [
    ":wave: New user on acme: Ada <ada@example.com>",
    ":tada: New subscription on acme: *pro* at 49 EUR for ada@example.com",
  ]);
});

test("a missing secret logs a warning and posts nothing", async () => {
  ctx.secrets.delete("SLACK_WEBHOOK_URL");
  await plugin.emit("build.completed", { build_id: "b-43", status: "failed" });
  assert.equal(ctx.requests.length, 0);
  assert.ok(ctx.logs.some((l) => l.level === "warn" && /SLACK_WEBHOOK_URL is not set/.test(l.message)));
});

test("a non-2xx answer fails the hook, so the platform retries it", async () => {
  ctx.http[`POST ${SLACK}`] = { status: 503, body: "slow down" };
  await assert.rejects(plugin.emit("build.completed", { build_id: "b-44", status: "success" }), /Slack answered 503: slow down/,
  );
});

test("a webhook URL outside http_allowlist is refused by the platform", async () => {
  ctx.secrets.set("SLACK_WEBHOOK_URL", "https://attacker.example.com/collect");
  await assert.rejects(plugin.emit("build.completed", { build_id: "b-45" }), { name: "HostNotAllowed" });
  assert.equal(ctx.requests.length, 0);
});

test("without outbound_http the hook fails with PermissionDenied", async () => {
  const denied = createTestContext({ permissions: [], secrets: { SLACK_WEBHOOK_URL: SLACK } });
  const p = await loadPlugin(dir, denied);
  try {
    await assert.rejects(p.emit("build.completed", { build_id: "b-46" }), { name: "PermissionDenied" });
    assert.equal(denied.requests.length, 0);
  } finally {
    await p.close();
  }
});
