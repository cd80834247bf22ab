import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { EXAMPLES, fixtureZip, startTestApp, type TestApp } from "../support/test-app.ts";

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app.close());

test("upload hello and call its ping route", async () => {
  const t = await app.tenant();
  const up = await t.upload(fixtureZip("hello", EXAMPLES));
  assert.equal(up.status, 201, await up.clone().text());
  const res = await t.request("GET", "/ext/hello/ping");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: "ok", plugin: "hello", version: "1.0.0", tenant: t.slug });
});
