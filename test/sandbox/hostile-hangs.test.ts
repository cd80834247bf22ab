import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { fixtureZip } from "../support/test-app.ts";
import { callOk, expectFailure, expectStillServing, startHostileStage, type HostileStage } from "./hostile-harness.ts";

// Plugin code that never finishes: every such call answers 504 within its deadline (plus the
// watchdog's grace at worst), the isolate is replaced, and nobody else notices.

let stage: HostileStage;
before(async () => {
  stage = await startHostileStage("hostile-loop");
});
after(() => stage.app.close());

const HANGS = [
  ["a busy loop", "/spin"],
  ["a busy loop after an await", "/spin-after-await"],
  ["a busy loop after a ctx round trip", "/spin-after-ctx"],
  ["a promise that never settles", "/never-settles"],
] as const;

for (const [what, path] of HANGS) {
  test(`${what} answers 504 plugin_timeout and the isolate is replaced`, async () => {
    const warm = await callOk(stage);
    const restarts = stage.app.services.sandbox.stats().restarts;
    const res = await stage.hostile.request("GET", `/ext/${stage.slug}${path}`);
    await expectFailure(res, ["plugin_timeout"]);
    // The sandbox process's own deadline answered: the watchdog did not have to kill it.
    assert.equal(stage.app.services.sandbox.stats().restarts, restarts, "no sandbox process was killed");

    const next = await expectStillServing(stage);
    assert.notEqual(next.boot, warm.boot, "the next call must run on a new isolate");
    assert.equal(next.calls, 1);
  });
}

test("two hanging calls at once both time out and the plugin recovers", async () => {
  const [a, b] = await Promise.all([
    stage.hostile.request("GET", `/ext/${stage.slug}/spin-after-ctx`),
    stage.hostile.request("GET", `/ext/${stage.slug}/never-settles`),
  ]);
  // The second may also see its isolate disposed under it by the first one's timeout.
  await expectFailure(a, ["plugin_timeout", "sandbox_unavailable"]);
  await expectFailure(b, ["plugin_timeout", "sandbox_unavailable"]);
  await expectStillServing(stage);
});

test("a hang is recorded as a timeout in the plugin's logs", async () => {
  const res = await stage.hostile.request("GET", `/ext/${stage.slug}/spin`);
  await expectFailure(res, ["plugin_timeout"]);
  const logs = await stage.hostile.request("GET", `/api/plugins/${stage.installId}/logs?level=error&limit=500`);
  assert.equal(logs.status, 200);
  const { logs: lines } = (await logs.json()) as { logs: { message: string; invocation: { name: string; status: string } | null }[] };
  const line = lines.find((l) => l.invocation?.name === "GET /spin");
  assert.ok(line, "an error line for GET /spin");
  assert.equal(line.invocation!.status, "timeout");
});

test("top-level code that loops is refused at upload with 422 and the server keeps serving", async () => {
  const t = await stage.app.tenant("toplevel");
  const started = Date.now();
  const res = await t.upload(fixtureZip("hostile-toplevel-loop"));
  assert.ok(Date.now() - started < 5000, "the upload must not wait for the loop");
  assert.equal(res.status, 422, await res.clone().text());
  const body = (await res.json()) as { error: { code: string; details: { path: string; message: string }[] } };
  assert.equal(body.error.code, "invalid_plugin");
  assert.ok(body.error.details.some((d) => d.path === "main.js" && /did not finish within 500 ms/.test(d.message)), JSON.stringify(body));
  const list = await t.request("GET", "/api/plugins");
  assert.deepEqual(((await list.json()) as { plugins: unknown[] }).plugins, [], "nothing was installed");
  await expectStillServing(stage);
});
