import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startHostileStage, type HostileStage } from "../sandbox/hostile-harness.ts";
import { assertNeighbourUnharmed, idleP50, p50While } from "./neighbour.ts";

// What one call may log is bounded in lines and characters, big fields are not kept, and ctx
// arguments beyond the largest legitimate one are refused before the host parses them.

let stage: HostileStage;
before(async () => {
  stage = await startHostileStage("hostile-log-flood", { LOG_MAX_CHARS_PER_CALL: "262144" });
});
after(() => stage.app.close());

interface Line {
  message: string;
  fields: unknown;
  invocation: { id: string; name: string } | null;
}

async function logsOf(name: string): Promise<Line[]> {
  const res = await stage.hostile.request("GET", `/api/plugins/${stage.slug}/logs?limit=500`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { logs: Line[] }).logs.filter((l) => l.invocation?.name === name);
}

test("a hundred 1 MB field objects are stored as size notes, not as 100 MB, and the neighbour is unharmed", async () => {
  const idle = await idleP50(stage.other);
  const flood = (async () => {
    for (let i = 0; i < 3; i++) {
      const res = await stage.hostile.request("GET", `/ext/${stage.slug}/fields`);
      assert.equal(res.status, 200, await res.clone().text());
    }
  })();
  const during = await p50While(stage.other, flood);
  const lines = await logsOf("GET /fields");
  const big = lines.filter((l) => l.message.startsWith("big line "));
  assert.ok(big.length > 0);
  for (const l of big) assert.deepEqual(l.fields, { truncated: true, chars: 1024 * 1024 + 11 });
  const stored = JSON.stringify(lines).length;
  assert.ok(stored < 200_000, `stored ${stored} characters of log for 300 MB logged`);
  assertNeighbourUnharmed(idle, during, 4);
});

test("a call's log keeps at most LOG_MAX_CHARS_PER_CALL characters, then says how many lines were dropped", async () => {
  const res = await stage.hostile.request("GET", `/ext/${stage.slug}/chars`);
  assert.equal(res.status, 200);
  const lines = await logsOf("GET /chars");
  const kept = lines.filter((l) => l.message.startsWith("yyyy"));
  assert.equal(kept.length, 32, "256 Ki characters hold 32 lines of 8 KiB");
  const dropped = lines.find((l) => /more log lines dropped/.test(l.message));
  assert.ok(dropped, "one line says what was dropped");
  assert.equal(Number(dropped.message.match(/^(\d+)/)?.[1]), 150 - 32);
});

test("ctx arguments of 20 MB are refused with ArgumentsTooLarge and the plugin keeps serving", async () => {
  const res = await stage.hostile.request("GET", `/ext/${stage.slug}/big-args`);
  assert.equal(res.status, 200, await res.clone().text());
  assert.deepEqual(await res.json(), { refused: "ArgumentsTooLarge" });
  const ok = await stage.hostile.request("GET", `/ext/${stage.slug}/ok`);
  assert.equal(ok.status, 200);
});
