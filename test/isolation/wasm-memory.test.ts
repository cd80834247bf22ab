import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { expectStillServing, startHostileStage, type HostileStage } from "../sandbox/hostile-harness.ts";

// WebAssembly.Memory is reserved outside the isolate's heap limit: plugin code has no way to it.

let stage: HostileStage;
before(async () => {
  stage = await startHostileStage("hostile-wasm");
});
after(() => stage.app.close());

test("WebAssembly is not reachable from plugin code, so no memory escapes memory_mb", async () => {
  for (let i = 0; i < 3; i++) {
    const res = await stage.hostile.request("GET", `/ext/${stage.slug}/grab`);
    assert.equal(res.status, 200, await res.clone().text());
    const { found, grabbed } = (await res.json()) as { found: Record<string, unknown>; grabbed: number };
    assert.deepEqual(found, { global: "undefined", bare: "undefined", viaFunction: "undefined", viaFunctionValue: "threw:ReferenceError", ownKey: false });
    assert.equal(grabbed, 0);
  }
  await expectStillServing(stage);
});
