import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import { AppError } from "../../src/errors.ts";
import type { SandboxPool } from "../../src/sandbox/sandbox-pool.ts";
import { sandboxChildren } from "./hostile-harness.ts";
import { answerOf, callRoute, startPool } from "./pool-harness.ts";

// The supervised sandbox processes: warm isolates per key, isolation between keys, and what
// happens to calls when a sandbox process dies under them.

let pool: SandboxPool;
before(async () => {
  pool = await startPool({ processes: 1, graceMs: 300 });
});
after(() => pool.close());

let seq = 0;
const key = () => `pool-${++seq}`;

const COUNTER = `let calls = 0;\nroute("/", () => ({ calls: ++calls }));`;

async function callsOf(k: string, source = COUNTER, versionId?: string): Promise<number> {
  const result = await callRoute(pool, { key: k, source, versionId });
  return (answerOf(result.outcome).value as { calls: number }).calls;
}

function codeOf(err: unknown): string {
  return err instanceof AppError ? err.code : `not an AppError: ${String(err)}`;
}

/** A capability that tells when plugin code is inside it and answers only when released. */
function gate(): { entered: Promise<void>; capability: () => Promise<string>; release: () => void } {
  let enter!: () => void;
  let release!: () => void;
  const entered = new Promise<void>((r) => (enter = r));
  const released = new Promise<void>((r) => (release = r));
  return {
    entered,
    release,
    capability: async () => {
      enter();
      await released;
      return "released";
    },
  };
}

test("two calls for the same key run in one warm isolate", async () => {
  const k = key();
  assert.equal(await callsOf(k), 1);
  assert.equal(await callsOf(k), 2);
  assert.equal(await callsOf(k), 3);
});

test("different keys never share state, even in one sandbox process", async () => {
  const source = `
    let calls = 0;
    route("/", () => {
      const seen = { global: globalThis.planted ?? null, proto: ({}).planted ?? null, calls: ++calls };
      globalThis.planted = "by another install";
      Object.prototype.planted = "by another install";
      return seen;
    });`;
  const a = key();
  const b = key();
  const first = await callRoute(pool, { key: a, source });
  assert.deepEqual(answerOf(first.outcome).value, { global: null, proto: null, calls: 1 });
  const other = await callRoute(pool, { key: b, source });
  assert.deepEqual(answerOf(other.outcome).value, { global: null, proto: null, calls: 1 }, "b saw a's state");
  const again = await callRoute(pool, { key: a, source });
  assert.deepEqual(answerOf(again.outcome).value, { global: "by another install", proto: "by another install", calls: 2 });
});

test("evicting a key drops its warm isolate", async () => {
  const k = key();
  await callsOf(k);
  assert.equal(await callsOf(k), 2);
  pool.evict(k);
  assert.equal(await callsOf(k), 1);
});

test("a new version for a key replaces its isolate", async () => {
  const k = key();
  assert.equal(await callsOf(k, COUNTER, `${k}-v1`), 1);
  assert.equal(await callsOf(k, COUNTER, `${k}-v1`), 2);
  assert.equal(await callsOf(k, COUNTER, `${k}-v2`), 1);
});

test("a sandbox process killed mid-call fails its calls with sandbox_unavailable and restarts", async () => {
  const restarts = pool.stats().restarts;
  const [oldPid] = sandboxChildren();
  assert.ok(oldPid, "a sandbox process is running");

  // One call spins (after a ctx round trip, so it is surely running); another waits on the host.
  let spinEntered!: () => void;
  const spinStarted = new Promise<void>((r) => (spinEntered = r));
  const waiting = gate();
  const spin = callRoute(pool, {
    key: key(),
    timeoutMs: 30_000,
    source: `route("/", async (ctx) => { await ctx.secrets.get("x"); for (;;) {} });`,
    capability: async () => {
      spinEntered();
      return "go";
    },
  }).then(() => "resolved", codeOf);
  const wait = callRoute(pool, {
    key: key(),
    timeoutMs: 30_000,
    source: `route("/", async (ctx) => ({ got: await ctx.secrets.get("y") }));`,
    capability: waiting.capability,
  }).then(() => "resolved", codeOf);
  await Promise.all([spinStarted, waiting.entered]);
  await sleep(50);

  for (const pid of sandboxChildren()) process.kill(pid, "SIGKILL");
  assert.equal(await spin, "sandbox_unavailable");
  assert.equal(await wait, "sandbox_unavailable");
  waiting.release();
  assert.equal(pool.stats().restarts, restarts + 1);

  const k = key();
  assert.equal(await callsOf(k), 1, "the next call succeeds after the restart");
  assert.equal(await callsOf(k), 2);
  const [newPid] = sandboxChildren();
  assert.ok(newPid && newPid !== oldPid, "a new sandbox process serves");
});

test("the watchdog kills a sandbox process that stops answering: 504 for the call, then a restart", async () => {
  const restarts = pool.stats().restarts;
  const [pid] = sandboxChildren();
  const inside = gate();
  const started = Date.now();
  const call = callRoute(pool, {
    key: key(),
    timeoutMs: 200,
    source: `route("/", async (ctx) => ({ got: await ctx.secrets.get("x") }));`,
    capability: inside.capability,
  }).then(() => "resolved", codeOf);
  await inside.entered;
  // A frozen process answers nothing, not even its own deadline: only the watchdog can act.
  process.kill(pid, "SIGSTOP");
  assert.equal(await call, "plugin_timeout");
  const elapsed = Date.now() - started;
  inside.release();
  assert.ok(elapsed >= 600, `the watchdog waits 2 × timeout + grace, fired after ${elapsed} ms`);
  assert.equal(pool.stats().restarts, restarts + 1);
  assert.equal(await callsOf(key()), 1);
  assert.ok(!sandboxChildren().includes(pid), "the frozen process is gone");
});

test("a catastrophic allocation that outlives its call's deadline does not fail other installs' calls", async (t) => {
  // `new Array(2e8).fill(0)` keeps allocating after the deadline answered 504 and the
  // isolate was disposed; isolated-vm then reports a catastrophic OOM and the host kills the
  // process. Calls of other installs that are in flight at that moment must not pay for it.
  const hostile = await callRoute(pool, {
    key: key(),
    timeoutMs: 50,
    source: `route("/", () => new Array(2e8).fill(0).length);`,
  }).then((r) => r.outcome.status, codeOf);
  assert.ok(["timeout", "out_of_memory", "sandbox_unavailable", "plugin_timeout"].includes(hostile), hostile);
  if (hostile !== "timeout") {
    t.skip(`the catastrophe came within the call (${hostile}): nothing outlived it`);
    return;
  }

  const failures: string[] = [];
  const victim = key();
  const until = Date.now() + 2500;
  while (Date.now() < until) {
    // Each victim call spends a few ms waiting on the host, so one is always in flight.
    await callRoute(pool, {
      key: victim,
      timeoutMs: 2000,
      source: `route("/", async (ctx) => ctx.secrets.get("x"));`,
      capability: () => sleep(20).then(() => "ok"),
    }).then(
      (r) => r.outcome.status !== "ok" && failures.push(r.outcome.status),
      (err: unknown) => failures.push(codeOf(err)),
    );
  }
  assert.deepEqual(failures, [], "well-behaved calls failed after the hostile call had been answered");
});
