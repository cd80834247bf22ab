import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import { callOk, expectFailure, expectStillServing, startHostileStage, type HostileStage } from "./hostile-harness.ts";

// Plugin code that allocates past its memory_mb (32 MB here). Steady growth hits the heap limit
// and is a 500 for that call. One huge allocation is a catastrophic OOM in isolated-vm that
// can hang the whole sandbox process: the process reports it (or the watchdog notices) and is
// killed and restarted, so that call gets 503 or 504, depending on which came first.

let stage: HostileStage;
before(async () => {
  stage = await startHostileStage("hostile-memory");
});
after(() => stage.app.close());

const CATASTROPHIC = ["sandbox_unavailable", "plugin_timeout", "plugin_out_of_memory"] as const;

/**
 * When the call's deadline answers first (504), the runaway allocation goes on after the
 * answer and the catastrophe kills its sandbox process a moment later (see
 * sandbox-pool.test.ts). Wait for that restart so it cannot land on the liveness checks.
 */
async function settleAfterCatastrophe(code: string, restartsBefore: number): Promise<void> {
  if (code !== "plugin_timeout") return;
  const until = Date.now() + 5000;
  while (stage.app.services.sandbox.stats().restarts === restartsBefore && Date.now() < until) await sleep(50);
}

test("steady growth up to the heap limit answers 500 plugin_out_of_memory and the isolate is replaced", async () => {
  const warm = await callOk(stage);
  const restarts = stage.app.services.sandbox.stats().restarts;
  const res = await stage.hostile.request("GET", `/ext/${stage.slug}/grow`);
  await expectFailure(res, ["plugin_out_of_memory"]);
  assert.equal(stage.app.services.sandbox.stats().restarts, restarts, "an ordinary heap overflow costs no process");
  const next = await expectStillServing(stage);
  assert.notEqual(next.boot, warm.boot, "the next call must run on a new isolate");
  assert.equal(next.calls, 1);
});

test("an out-of-memory call is recorded as such in the plugin's logs", async () => {
  const res = await stage.hostile.request("GET", `/ext/${stage.slug}/grow`);
  await expectFailure(res, ["plugin_out_of_memory"]);
  const logs = await stage.hostile.request("GET", `/api/plugins/${stage.installId}/logs?level=error&limit=500`);
  const { logs: lines } = (await logs.json()) as { logs: { invocation: { name: string; status: string } | null }[] };
  assert.ok(lines.some((l) => l.invocation?.name === "GET /grow" && l.invocation.status === "out_of_memory"));
});

test("a catastrophic allocation fails cleanly and the sandbox recovers", async () => {
  const warm = await callOk(stage);
  const restarts = stage.app.services.sandbox.stats().restarts;
  const res = await stage.hostile.request("GET", `/ext/${stage.slug}/catastrophic`);
  // 503 when the sandbox process reported the catastrophe and was killed; 504 when the call's
  // deadline (or the watchdog) fired first; 500 if V8 stopped it as an ordinary heap overflow.
  const { code } = await expectFailure(res, [...CATASTROPHIC]);
  if (code === "sandbox_unavailable") assert.ok(stage.app.services.sandbox.stats().restarts > restarts);
  await settleAfterCatastrophe(code, restarts);
  const next = await expectStillServing(stage);
  assert.notEqual(next.boot, warm.boot, "the next call must run on a new isolate");
});

test("repeated catastrophic allocations do not wear the platform down", async () => {
  for (let i = 0; i < 3; i++) {
    const restarts = stage.app.services.sandbox.stats().restarts;
    const res = await stage.hostile.request("GET", `/ext/${stage.slug}/catastrophic`);
    const { code } = await expectFailure(res, [...CATASTROPHIC]);
    await settleAfterCatastrophe(code, restarts);
    await expectStillServing(stage);
  }
  const ready = await fetch(`${stage.app.url}/readyz`);
  assert.equal(ready.status, 200, await ready.clone().text());
  assert.equal(stage.app.services.sandbox.stats().processes, 2);
});
