import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { fixtureZip } from "../support/test-app.ts";
import { startHostileStage, type HostileStage } from "../sandbox/hostile-harness.ts";

// Loading a cold isolate (compile + module body) has a budget of its own, at least a second:
// a call's tiny timeout_ms does not make every cold start time out, and a load that overruns its
// budget times out that plugin's call without costing the shared sandbox process.

let stage: HostileStage;
before(async () => {
  stage = await startHostileStage("slow-load", { SANDBOX_PROCESSES: "1" });
});
after(() => stage.app.close());

test("a module that takes 300 ms to load still serves a route whose timeout is 100 ms", async () => {
  const res = await stage.hostile.request("GET", `/ext/${stage.slug}/ok`);
  assert.equal(res.status, 200, await res.clone().text());
  const first = (await res.json()) as { boot: string };
  const again = (await (await stage.hostile.request("GET", `/ext/${stage.slug}/ok`)).json()) as { boot: string };
  assert.equal(again.boot, first.boot, "the loaded isolate stays warm");
});

test("a module that never finishes loading times out its own calls; the shared process is not killed", async () => {
  const up = await stage.hostile.upload(fixtureZip("hostile-toplevel-loop"));
  // The upload's own inspection loads it in a throwaway isolate, and refuses it.
  const body = await up.text();
  assert.equal(up.status, 422, body);
  assert.match(body, /timed out|did not finish|time/i);
  const stats = stage.app.services.sandbox.stats();
  assert.equal(stats.restarts, 0, "no sandbox process was killed");
  assert.equal(stats.retired, 0);
  const ping = await stage.other.request("GET", "/ext/hello/ping");
  assert.equal(ping.status, 200, "the neighbour on the same sandbox process answers");
});
