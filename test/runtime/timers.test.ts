import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { IsolatePool } from "../../src/sandbox/child/isolate-pool.ts";
import { RUNTIME_SOURCE } from "../../src/sandbox/child/isolate-sources.ts";
import { MAX_TIMERS_PER_CALL } from "../../src/sandbox/child/web-primitives.ts";
import type { CallOutcome } from "../../src/sandbox/protocol.ts";
import { callRoute } from "../support/pool-call.ts";
import { fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";

// setTimeout and friends on the real platform: a plugin's code sent over HTTP to the web-timers
// fixture (timeout 1500 ms), whose module-level `state` outlives each call, which is how a test
// sees whether a timer of an earlier call ever ran in a later one.

const SLUG = "web-timers";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let app: TestApp;
let tenant: TestTenant;

before(async () => {
  app = await startTestApp();
  tenant = await app.tenant("timers");
  const res = await tenant.upload(fixtureZip(SLUG));
  assert.equal(res.status, 201, await res.text());
});
after(() => app.close());

async function evalRaw(source: string, t = tenant): Promise<{ status: number; body: any }> {
  const res = await t.request("POST", `/ext/${SLUG}/eval`, { json: { source } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** The value the code returned; fails when the call failed or the code threw. */
async function value(source: string, t = tenant): Promise<any> {
  const { status, body } = await evalRaw(source, t);
  assert.equal(status, 200, JSON.stringify(body));
  if (!body.ok) assert.fail(`the code threw ${body.error.name}: ${body.error.message}`);
  return body.value;
}

/** The error record of code that should throw. */
async function thrown(source: string): Promise<any> {
  const { status, body } = await evalRaw(source);
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.ok, false, `expected a throw, got ${JSON.stringify(body.value)}`);
  return body.error;
}

describe("timers inside a call", () => {
  test("setTimeout runs its callback later, in delay order, with its extra arguments and the global as this", async () => {
    const v = await value(`
      const order = [];
      let self;
      let args;
      await new Promise((done) => {
        setTimeout(() => order.push("b"), 30);
        setTimeout(function (x, y) { self = this; args = [x, y]; order.push("a"); }, 5, 1, "two");
        setTimeout(() => { order.push("c"); done(); }, 60);
        order.push("sync");
      });
      return { order, selfIsGlobal: self === globalThis, args };
    `);
    assert.deepEqual(v, { order: ["sync", "a", "b", "c"], selfIsGlobal: true, args: [1, "two"] });
  });

  test("ids are distinct positive integers; clearTimeout cancels; unknown ids are a no-op", async () => {
    const v = await value(`
      const ran = [];
      const a = setTimeout(() => ran.push("a"), 10);
      const b = setTimeout(() => ran.push("b"), 10);
      clearTimeout(a);
      clearTimeout(987654321);
      clearTimeout(undefined);
      clearTimeout("nope");
      clearInterval(null);
      await new Promise((r) => setTimeout(r, 60));
      return { a, b, ran, intIds: Number.isInteger(a) && Number.isInteger(b) && a > 0 && b !== a };
    `);
    assert.equal(v.intIds, true, JSON.stringify(v));
    assert.deepEqual(v.ran, ["b"]);
  });

  test("a callback's own timers run (nested), and an error in a callback is reported, not fatal", async () => {
    const v = await value(`
      const seen = [];
      await new Promise((done) => {
        setTimeout(() => {
          seen.push(1);
          setTimeout(() => { seen.push(2); setTimeout(() => { seen.push(3); done(); }, 0); }, 0);
          throw new Error("thrown in a timer");
        }, 0);
      });
      return seen;
    `);
    assert.deepEqual(v, [1, 2, 3]);
  });

  test("setInterval repeats until cleared, no faster than every 4 ms", async () => {
    const v = await value(`
      const ticks = [];
      const started = Date.now();
      await new Promise((done) => {
        const id = setInterval((tag) => {
          ticks.push(tag);
          if (ticks.length === 5) { clearInterval(id); setTimeout(done, 40); }
        }, 0, "t");
      });
      return { ticks, elapsed: Date.now() - started };
    `);
    assert.deepEqual(v.ticks, ["t", "t", "t", "t", "t"], "exactly five ticks: none after clearInterval");
    assert.ok(v.elapsed >= 5 * 4, `five ticks of an interval of 0 took ${v.elapsed} ms: at least 4 ms each`);
  });

  test("a callback that is not a function is refused (code strings are never run)", async () => {
    const err = await thrown(`setTimeout("globalThis.evil = 1", 0);`);
    assert.equal(err.isTypeError, true, JSON.stringify(err));
  });

  test("module top-level code has no call: its timer was refused", async () => {
    const v = await value(`return state.topLevel;`);
    assert.equal(v.isTypeError, true, JSON.stringify(v));
    assert.match(v.message, /belongs to a call/);
  });

  test(`at most ${MAX_TIMERS_PER_CALL} pending timers per call; clearing one makes room`, async () => {
    const v = await value(`
      const ids = [];
      for (let i = 0; i < ${MAX_TIMERS_PER_CALL}; i++) ids.push(setTimeout(() => {}, 100000));
      let over;
      try { setTimeout(() => {}, 1); } catch (err) { over = { name: err.name, message: err.message }; }
      clearTimeout(ids[0]);
      const again = typeof setTimeout(() => {}, 100000);
      return { over, again };
    `);
    assert.equal(v.over?.name, "RangeError", JSON.stringify(v));
    assert.match(v.over.message, new RegExp(`at most ${MAX_TIMERS_PER_CALL} pending timers`));
    assert.equal(v.again, "number");
    // The limit is per call: the next call starts with none.
    assert.equal(await value(`return typeof setTimeout(() => {}, 10);`), "number");
  });

  test("a timer in a code path after an await belongs to the same call", async () => {
    const v = await value(`
      await ctx.secrets.get("NONE");
      return await new Promise((r) => setTimeout(() => r("after await"), 5));
    `);
    assert.equal(v, "after await");
  });

  test("with calls overlapping, code resumed from a ctx reply or a timer sets timers for its own call", async () => {
    // A's last timer is made while B, the newer call, runs; B ends first. Were it B's, it would
    // be dropped with B and A would time out.
    const a = value(`
      await new Promise((r) => setTimeout(r, 150));
      await ctx.secrets.get("NONE");
      return await new Promise((r) => setTimeout(() => r("A done"), 300));
    `);
    await sleep(50);
    const b = value(`await new Promise((r) => setTimeout(r, 200)); return "B done";`);
    assert.deepEqual(await Promise.all([a, b]), ["A done", "B done"]);
  });
});

describe("timers never outlive their call", () => {
  test("a call waiting on a timer past its deadline times out (504), and the next call works", async () => {
    const started = Date.now();
    const res = await evalRaw(`await new Promise((r) => setTimeout(r, 60000)); return "woke";`);
    assert.equal(res.status, 504, JSON.stringify(res.body));
    assert.ok(Date.now() - started < 10_000, "the call ended at its deadline, not the timer's");
    assert.equal(await value(`return "next";`), "next");
  });

  test("a timer callback that never returns times the call out (504), and the next call works", async () => {
    const res = await evalRaw(`await new Promise(() => setTimeout(() => { for (;;); }, 10));`);
    assert.equal(res.status, 504, JSON.stringify(res.body));
    assert.equal(await value(`return await new Promise((r) => setTimeout(() => r("fresh"), 5));`), "fresh");
  });

  test("a timer or interval left when a call returns never fires, not even during a later call", async () => {
    await value(`
      state.fired = [];
      setTimeout(() => state.fired.push("timeout of call 1"), 150);
      setInterval(() => state.fired.push("interval of call 1"), 20);
      return null;
    `);
    await sleep(300);
    const v = await value(`
      const before = state.fired.slice();
      await new Promise((r) => setTimeout(r, 400));
      return { before, during: state.fired.slice() };
    `);
    assert.deepEqual(v, { before: [], during: [] });
  });

  test("a timer left by a call that threw never fires either", async () => {
    const err = await thrown(`
      state.fired = [];
      setTimeout(() => state.fired.push("after a throw"), 50);
      throw new TypeError("boom");
    `);
    assert.equal(err.isTypeError, true);
    await sleep(150);
    assert.deepEqual(await value(`await new Promise((r) => setTimeout(r, 100)); return state.fired;`), []);
  });
});

// The worst case: plugin code holding the runtime's host primitives outright (a runtime that
// hands them over) and another call's token. The sandbox process must keep timers to calls
// the isolate is running, and call back only for them.
describe("timers with a compromised runtime", () => {
  const COMPROMISED = RUNTIME_SOURCE.replace('"use strict";', '"use strict";\nglobalThis.__web = $2;\nglobalThis.__fired = [];').replace(
    'if (kind === "timer") {',
    'if (kind === "timer") {\n    globalThis.__fired.push([callId, name]);',
  );
  const pool = new IsolatePool({
    idleMs: 60_000,
    maxIsolates: 10,
    runtimeSource: COMPROMISED,
    onCatastrophe: () => undefined,
    relay: async () => JSON.stringify({ ok: true, value: null }),
    sink: () => undefined,
  });
  after(() => pool.evict(""));

  const SOURCE = `import { route } from "@sbh/sdk";
const host = (...args) => globalThis.__web.applySync(undefined, args, { arguments: { copy: true }, result: { copy: true } });
route("/", async (ctx, req) => {
  const b = req.body;
  const out = {};
  if (b.plant) out.planted = host("timer.timeout", b.plant, 900001, b.delay);
  if (b.claim) {
    out.claimed = host("timer.timeout", b.claim, 900002, 5);
    out.cleared = host("timer.clear", b.claim, 900001);
  }
  if (b.flood) {
    out.flood = {};
    for (let id = 1; id <= b.flood.count; id++) {
      const answer = host("timer.timeout", b.flood.token, 800000 + id, 100000);
      out.flood[answer] = (out.flood[answer] || 0) + 1;
    }
  }
  if (b.wait) await new Promise((r) => setTimeout(r, b.wait));
  out.fired = globalThis.__fired.slice();
  return out;
});`;
  function call(key: string, token: string, body: unknown): Promise<CallOutcome> {
    return callRoute(pool, key, SOURCE, token, body);
  }
  const answer = (o: CallOutcome) => {
    assert.equal(o.status, "ok", JSON.stringify(o));
    return JSON.parse((o as { json: string }).json).value;
  };

  test("a timer planted under an ended call's token is refused, and the ended call's timers never fire", async () => {
    assert.notEqual(COMPROMISED, RUNTIME_SOURCE, "the compromised runtime differs from the real one");
    const first = "first-call-token-aaaaaaaaaaaa";
    const v1 = answer(await call("replayer", first, { plant: first, delay: 200 }));
    assert.equal(v1.planted, true, "a call may set a timer of its own");
    await sleep(50);
    const second = "second-call-token-bbbbbbbbbbb";
    const v2 = answer(await call("replayer", second, { claim: first, wait: 400 }));
    assert.equal(v2.claimed, null, "no timer for a call that has ended");
    assert.equal(v2.cleared, null);
    assert.deepEqual(
      v2.fired.filter(([token]: [string]) => token === first),
      [],
      "the first call's timer (due during the second call) was never fired into the isolate",
    );
    assert.ok(v2.fired.some(([token]: [string]) => token === second), "the second call's own timer fired, under its own token");
  });

  test(`the sandbox process holds a call to ${MAX_TIMERS_PER_CALL} pending timers, whatever the runtime claims`, async () => {
    const token = "flooding-call-token-ccccccccccc";
    const v = answer(await call("flooder", token, { flood: { token, count: MAX_TIMERS_PER_CALL + 50 } }));
    assert.deepEqual(v.flood, { true: MAX_TIMERS_PER_CALL, limit: 50 });
  });

  test("a token of a call another isolate is running is refused", async () => {
    const victim = "victim-token-0123456789abcdef";
    const running = call("victim", victim, { wait: 500 });
    await sleep(100);
    const v = answer(await call("attacker", "attacker-token-fedcba9876543210", { plant: victim, delay: 10, claim: victim }));
    assert.equal(v.planted, null, "the victim's token is not this isolate's call");
    assert.equal(v.claimed, null);
    const done = answer(await running);
    assert.ok(done.fired.every(([token]: [string]) => token === victim), JSON.stringify(done.fired));
  });
});
