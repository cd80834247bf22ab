import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { createTestContext, loadPlugin } from "@sbh/sdk/testing";

const dir = new URL("..", import.meta.url).pathname;
const ctx = createTestContext({ tenant: "acme", secrets: { WEBHOOK_URL: "https://ci.example.com/hooks/sbh", WEBHOOK_SIGNING_KEY: "whsec_c2VjcmV0" } });
const plugin = await loadPlugin(dir, ctx);
after(() => plugin.close());

test("build.completed becomes a compact build message", async () => {
  const body = (await plugin.transform("build_notify", "build.completed", {
    build_id: "b-42",
    status: "success",
    project_name: "web",
    duration_ms: 83_400,
    finished_at: "2025-03-01T10:00:00.000Z",
    log: "… thousands of lines nobody wants in a webhook …",
  })) as Record<string, unknown>;
  assert.deepEqual(body, {
    event_type: "build.completed",
    tenant: "acme",
    build_id: "b-42",
    status: "success",
    project: "web",
    duration_seconds: 83,
    timestamp: "2025-03-01T10:00:00.000Z",
  });
});

test("a new user gets its own small body", async () => {
  const body = (await plugin.transform("build_notify", "auth.user.created", { user: { id: "u-1", email: "ada@example.com", name: "Ada" } })) as Record<string, unknown>;
  assert.deepEqual(body.user, { id: "u-1", email: "ada@example.com" });
  assert.equal(body.event_type, "auth.user.created");
});

test("a cancelled build sends nothing", async () => {
  assert.equal(await plugin.transform("build_notify", "build.completed", { build_id: "b-43", status: "cancelled" }), null);
});

test("onInstall warns when the secrets are not set yet", async () => {
  await plugin.lifecycle("onInstall");
  assert.ok(ctx.logs.some((l) => l.level === "info" && l.message === "build notifications ready"));
  const bare = createTestContext();
  const p = await loadPlugin(dir, bare);
  try {
    await p.lifecycle("onInstall");
    assert.ok(bare.logs.some((l) => l.level === "warn" && /WEBHOOK_URL and WEBHOOK_SIGNING_KEY/.test(l.message)));
  } finally {
    await p.close();
  }
});

test("without the emit_webhook permission the package is refused, as an upload would be", async () => {
  const copy = mkdtempSync(path.join(tmpdir(), "build-notify-"));
  try {
    cpSync(dir, copy, { recursive: true });
    const manifest = JSON.parse(readFileSync(path.join(copy, "plugin.json"), "utf8"));
    writeFileSync(path.join(copy, "plugin.json"), JSON.stringify({ ...manifest, permissions: [] }));
    await assert.rejects(loadPlugin(copy, createTestContext()), /permissions: the package defines webhooks, which need the "emit_webhook" permission/);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});
