import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { callOk, expectFailure, expectStillServing, startHostileStage, type HostileStage } from "./hostile-harness.ts";

// Plugin code that returns what cannot be sent, throws what is not an Error, or floods its
// log. Each is a clean error (or a capped log) for that call; the isolate itself is fine and
// stays warm.

let stage: HostileStage;
before(async () => {
  stage = await startHostileStage("hostile-values");
});
after(() => stage.app.close());

interface LogRow {
  level: string;
  message: string;
  invocation: { id: string; name: string; status: string } | null;
}

async function logsOf(name: string): Promise<LogRow[]> {
  const res = await stage.hostile.request("GET", `/api/plugins/${stage.installId}/logs?limit=500`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { logs: LogRow[] }).logs.filter((l) => l.invocation?.name === name);
}

async function expectSameIsolate(boot: string): Promise<void> {
  const next = await expectStillServing(stage);
  assert.equal(next.boot, boot, "a bad return value or throw must not cost the warm isolate");
}

const UNSENDABLE = [
  ["a 10 MB string", "/huge"],
  ["an object nested 100,000 deep", "/deep"],
  ["an object nested 10,000 deep (serialisable in the isolate, too deep for the host)", "/deep-for-host"],
  ["a BigInt", "/bigint"],
  ["a function", "/function"],
  ["a Symbol", "/symbol"],
  ["a circular object", "/circular"],
  ["an object whose toJSON throws", "/tojson-throws"],
] as const;

for (const [what, path] of UNSENDABLE) {
  test(`returning ${what} answers 500 plugin_bad_response`, async () => {
    const { boot } = await callOk(stage);
    const res = await stage.hostile.request("GET", `/ext/${stage.slug}${path}`);
    await expectFailure(res, ["plugin_bad_response"]);
    await expectSameIsolate(boot);
  });
}

test("the reason a return value was refused goes to the plugin's logs, not to the client", async () => {
  const res = await stage.hostile.request("GET", `/ext/${stage.slug}/tojson-throws`);
  const text = await res.text();
  assert.doesNotMatch(text, /secret-config|ENOENT/);
  const lines = await logsOf("GET /tojson-throws");
  assert.ok(lines.some((l) => l.level === "error" && /BadResponse/.test(l.message)), JSON.stringify(lines));
});

// [what, route, text the plugin's log line must hold, texts the client must never see]
const THROWS = [
  ["a string", "/throw-string", "a plain string", ["a plain string"]],
  ["null", "/throw-null", "null", []],
  ["undefined", "/throw-undefined", "undefined", []],
  ["a plain object with a fake host stack", "/throw-object", "readSecrets", ["/etc/shadow", "readSecrets", "EACCES"]],
] as const;

for (const [what, path, logged, hidden] of THROWS) {
  test(`throwing ${what} answers 500 plugin_error and the thrown value goes to the logs only`, async () => {
    const { boot } = await callOk(stage);
    const res = await stage.hostile.request("GET", `/ext/${stage.slug}${path}`);
    const body = await res.clone().text();
    const { message } = await expectFailure(res, ["plugin_error"]);
    assert.equal(message, "The plugin failed to handle the request");
    for (const text of hidden) assert.ok(!body.includes(text), `${JSON.stringify(text)} reached the client`);
    const lines = await logsOf(`GET ${path}`);
    assert.ok(lines.some((l) => l.level === "error" && l.message.includes(logged)), JSON.stringify(lines));
    await expectSameIsolate(boot);
  });
}

test("a console.log flood of 10,000 lines is capped and the call still answers", async () => {
  const { boot } = await callOk(stage);
  const started = Date.now();
  const res = await stage.hostile.request("GET", `/ext/${stage.slug}/log-flood`);
  assert.equal(res.status, 200, await res.clone().text());
  assert.deepEqual(await res.json(), { logged: 10_000 });
  assert.ok(Date.now() - started < 3000, "the flood must not slow the call down much");

  const lines = await logsOf("GET /log-flood");
  const kept = lines.filter((l) => l.message.startsWith("flood line "));
  assert.ok(kept.length > 0 && kept.length <= 500, `kept ${kept.length} lines`);
  const dropped = lines.find((l) => /more log lines dropped/.test(l.message));
  assert.ok(dropped, "a line says how many were dropped");
  assert.equal(Number(dropped.message.match(/^(\d+)/)?.[1]) + kept.length, 10_000);
  assert.equal(new Set(lines.map((l) => l.invocation!.id)).size, 1);
  await expectSameIsolate(boot);
});
