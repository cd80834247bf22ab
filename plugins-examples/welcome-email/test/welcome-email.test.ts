import assert from "node:assert/strict";
import { after, test } from "node:test";
import { createTestContext, loadPlugin } from "@sbh/sdk/testing";

const dir = new URL("..", import.meta.url).pathname;
const newUser = { user: { id: "u-1", email: "ada@example.com", name: "Ada" } };

const ctx = createTestContext({ tenant: "acme" });
const plugin = await loadPlugin(dir, ctx);
// The same plugin as a tenant that changed the config.
const custom = createTestContext({ tenant: "acme", config: { from_name: "Grace at Acme", subject: "Welcome to Acme, {name}" } });
const customPlugin = await loadPlugin(dir, custom);
after(() => Promise.all([plugin.close(), customPlugin.close()]));

test("a new user gets the default welcome mail and email.welcome_sent is emitted", async () => {
  await plugin.emit("auth.user.created", newUser);
  assert.equal(ctx.emails.length, 1);
  const [mail] = ctx.emails;
  assert.deepEqual(mail.to, ["ada@example.com"]);
  assert.equal(mail.subject, "Welcome, Ada!");
  assert.match(mail.text!, /^Hi Ada,/);
  assert.match(mail.text!, /ada@example\.com is ready/);
  assert.match(mail.text!, /The team$/);
  assert.deepEqual(ctx.emitted, [{ type: "email.welcome_sent", data: { user_email: "ada@example.com", user_id: "u-1", email_id: mail.id } }]);
});

test("the HTML part is templates/email.html with the values filled in and escaped", async () => {
  const html = createTestContext({ config: { from_name: "Tom & Jerry" } });
  const p = await loadPlugin(dir, html);
  try {
    await p.emit("auth.user.created", { user: { email: "eve@example.com", name: "<Eve>" } });
    const [mail] = html.emails;
    assert.match(mail.html!, /<h1>Welcome, &lt;Eve&gt;!<\/h1>/);
    assert.match(mail.html!, /<strong>eve@example\.com<\/strong>/);
    assert.match(mail.html!, /<p>Tom &amp; Jerry<\/p>/);
    assert.doesNotMatch(mail.html!, /\{\{/);
  } finally {
    await p.close();
  }
});

test("subject and signature come from the tenant's config", async () => {
  await customPlugin.emit("auth.user.created", { user: { email: "grace@example.com" } });
  const [mail] = custom.emails;
  assert.equal(mail.subject, "Welcome to Acme, grace");
  assert.match(mail.text!, /Grace at Acme$/);
});

test("a user without an email is skipped with a warning, not retried", async () => {
  const before = ctx.emails.length;
  await plugin.emit("auth.user.created", { user: { id: "u-2" } });
  assert.equal(ctx.emails.length, before);
  assert.ok(ctx.logs.some((l) => l.level === "warn" && /without an email/.test(l.message)));
});

test("without send_email the hook fails with PermissionDenied and emits nothing", async () => {
  const denied = createTestContext({ permissions: [] });
  const p = await loadPlugin(dir, denied);
  try {
    await assert.rejects(p.emit("auth.user.created", newUser), { name: "PermissionDenied" });
    assert.equal(denied.emails.length, 0);
    assert.equal(denied.emitted.length, 0);
    assert.ok(denied.logs.some((l) => l.level === "warn" && /send_email/.test(l.message)));
  } finally {
    await p.close();
  }
});
