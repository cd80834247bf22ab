import assert from "node:assert/strict";
import { after, test } from "node:test";
import { ok } from "../support/http-assert.ts";
import { servicesGate, startTestApp } from "../support/test-app.ts";

// GET /readyz checks what the process depends on: the database and sandbox processes always,
// Redis when the scaled mode uses it.

test("embedded: database and sandboxes are checked, there is no Redis to check", async () => {
  const app = await startTestApp();
  after(() => app.close());
  const body = await ok(await fetch(`${app.url}/readyz`));
  assert.deepEqual(body.checks, { database: "ok", sandbox: "ok" });
  assert.equal(body.status, "ready");
});

test("scaled mode: Redis is checked too", async (t) => {
  if (!(await servicesGate("bullmq")(t))) return;
  const app = await startTestApp({ engine: "bullmq" });
  after(() => app.close());
  const body = await ok(await fetch(`${app.url}/readyz`));
  assert.deepEqual(body.checks, { database: "ok", redis: "ok", sandbox: "ok" });
});
