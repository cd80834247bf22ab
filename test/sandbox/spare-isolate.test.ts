import assert from "node:assert/strict";
import { after, test } from "node:test";
import { IsolatePool } from "../../src/sandbox/child/isolate-pool.ts";
import type { CallOutcome } from "../../src/sandbox/protocol.ts";
import { callRoute } from "../support/pool-call.ts";

// A sandbox process keeps one booted isolate with no plugin in it for the next cold start. It
// must hand each install a fresh isolate all the same: nothing one plugin did to its globals,
// built-ins or timers may be there for the next install that takes a spare.

const pool = new IsolatePool({ idleMs: 60_000, maxIsolates: 10, onCatastrophe: () => undefined, relay: async () => "null", sink: () => undefined });
after(() => pool.evict(""));

const PLANTER = `import { route } from "@sbh/sdk";
route("/", async () => {
  globalThis.planted = "from the planter";
  Array.prototype.includes = () => true;
  JSON.stringify = () => '"tampered"';
  return { planted: true };
});`;

const READER = `import { route } from "@sbh/sdk";
route("/", async () => ({ planted: globalThis.planted ?? null, includes: [1].includes(2), json: JSON.stringify({ a: 1 }) }));`;

function value(outcome: CallOutcome): unknown {
  assert.equal(outcome.status, "ok", JSON.stringify(outcome));
  return (JSON.parse((outcome as { json: string }).json) as { value: unknown }).value;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

test("cold starts after the first take a booted spare, and each install's isolate is its own", async () => {
  assert.deepEqual(value(await callRoute(pool, "planter", PLANTER, "t-1", null)), { planted: true });
  const hitsBefore = pool.spareHits;
  for (let i = 0; i < 3; i++) {
    await settle(); // the spare boots once the previous cold start has answered
    assert.deepEqual(value(await callRoute(pool, `reader-${i}`, READER, `t-r${i}`, null)), { planted: null, includes: false, json: '{"a":1}' });
  }
  assert.equal(pool.spareHits - hitsBefore, 3, "each spaced cold start found a spare");
});

test("back-to-back cold starts wait for the spare being booted instead of failing", async () => {
  const outcomes = await Promise.all([0, 1, 2, 3].map((i) => callRoute(pool, `burst-${i}`, READER, `t-b${i}`, null)));
  for (const o of outcomes) assert.deepEqual(value(o), { planted: null, includes: false, json: '{"a":1}' });
});
