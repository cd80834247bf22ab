import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import { AppError } from "../../src/errors.ts";
import type { SandboxPool } from "../../src/sandbox/sandbox-pool.ts";
import { answerOf, callRoute, startPool } from "./pool-harness.ts";

// The in-isolate runtime against code the upload checks would have refused: the isolate
// itself must hold, since those checks are static and plugin code can build code at run time.

let pool: SandboxPool;
before(async () => {
  pool = await startPool();
});
after(() => pool.close());

let seq = 0;
const key = () => `runtime-${++seq}`;

test("a dynamic import() at run time fails instead of returning a module", async () => {
  for (const spec of ["fs", "node:fs", "child_process", "node:worker_threads", "./main.js", "@sbh/sdk"]) {
    const direct = await callRoute(pool, { key: key(), source: `route("/", async () => { const m = await import(${JSON.stringify(spec)}); return Object.keys(m); });` });
    const answer = answerOf(direct.outcome);
    assert.equal(answer.ok, false, `import(${JSON.stringify(spec)}) returned ${JSON.stringify(answer.value)}`);
    assert.equal(answer.value, undefined);
  }
  // The specifier only exists at run time, out of reach of any static check.
  const built = await callRoute(pool, {
    key: key(),
    source: `route("/", async () => { const load = Function("s", "return import(s)"); const m = await load(["f", "s"].join("")); return Object.keys(m); });`,
  });
  assert.equal(answerOf(built.outcome).ok, false);
});

test("a top-level dynamic import() fails to load the plugin", async () => {
  const result = await callRoute(pool, { key: key(), source: `const fs = await import("fs");\nroute("/", () => Object.keys(fs));` });
  assert.equal(result.outcome.status, "failed", JSON.stringify(result.outcome));
});

test("a static import of anything but the SDK or a package file fails to load the plugin", async () => {
  for (const spec of ["fs", "node:child_process", "isolated-vm", "/etc/passwd", "../../src/config.ts"]) {
    const result = await callRoute(pool, { key: key(), source: `import x from ${JSON.stringify(spec)};\nroute("/", () => typeof x);` });
    assert.equal(result.outcome.status, "failed", `import from ${spec}: ${JSON.stringify(result.outcome)}`);
  }
});

test("ctx arguments reach the host as JSON copies, and host answers come back as copies", async () => {
  const seen: unknown[][] = [];
  const result = await callRoute(pool, {
    key: key(),
    source: `route("/", async (ctx) => {
      const arg = { when: new Date(0), fn() {}, get lazy() { return "read once"; }, nested: { n: 1 } };
      const back = await ctx.db.query("things", arg);
      back.list.push("changed in the isolate");
      const again = await ctx.db.query("things", arg);
      return { back, again };
    });`,
    capability: async (_method, args) => {
      seen.push(args);
      return { list: ["from host"] };
    },
  });
  const { value } = answerOf(result.outcome) as { value: { back: { list: string[] }; again: { list: string[] } } };
  assert.deepEqual(seen[0], ["things", { when: "1970-01-01T00:00:00.000Z", lazy: "read once", nested: { n: 1 } }]);
  assert.deepEqual(value.back.list, ["from host", "changed in the isolate"]);
  assert.deepEqual(value.again.list, ["from host"], "each answer is a fresh copy");
});

test("Object.prototype tampering in plugin code cannot crash the sandbox process", async () => {
  // isolated-vm reads the transfer options of the runtime's ctx relay (`{arguments: {copy:
  // true}}`) through their prototype chain, which plugin code owns. An inherited
  // `promise: true` turns the relayed arguments into host Promises.
  const restarts = pool.stats().restarts;
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  // A well-behaved call of another install, in flight on the same sandbox process.
  const victim = callRoute(pool, {
    key: key(),
    source: `route("/", async (ctx) => ({ answer: await ctx.secrets.get("A") }));`,
    capability: async () => {
      await held;
      return "fine";
    },
  });
  await sleep(200);
  const attacker = callRoute(pool, {
    key: key(),
    source: `route("/", async (ctx) => {
      Object.defineProperty(Object.prototype, "promise", { value: true, configurable: true, writable: true });
      try { return await ctx.secrets.get("B"); } finally { delete Object.prototype.promise; }
    });`,
  }).then(
    (r) => r.outcome.status,
    (err: unknown) => (err instanceof AppError ? err.code : String(err)),
  );
  const attackerOutcome = await attacker;
  release();
  const victimResult = await victim.then(
    (r) => answerOf(r.outcome),
    (err: unknown) => (err instanceof AppError ? err.code : String(err)),
  );
  assert.deepEqual(victimResult, { ok: true, value: { answer: "fine" } }, "the other install's call was lost");
  assert.notEqual(attackerOutcome, "sandbox_unavailable", "the tampering call took its sandbox process down");
  assert.equal(pool.stats().restarts, restarts, "no sandbox process restarted");
});

test("Object.prototype tampering does not break logging for the tampering plugin or others", async () => {
  const restarts = pool.stats().restarts;
  const result = await callRoute(pool, {
    key: key(),
    source: `route("/", () => {
      Object.defineProperty(Object.prototype, "promise", { value: true, configurable: true, writable: true });
      try { console.log("tampered"); return "done"; } finally { delete Object.prototype.promise; }
    });`,
  });
  assert.deepEqual(answerOf(result.outcome), { ok: true, value: "done" });
  assert.equal(pool.stats().restarts, restarts);
  const other = await callRoute(pool, { key: key(), source: `route("/", () => { console.log("plain"); return 1; });` });
  assert.deepEqual(other.logs.map((l) => l.message), ["plain"]);
});
