import assert from "node:assert/strict";
import { after, test } from "node:test";
import { IsolatePool } from "../../src/sandbox/child/isolate-pool.ts";
import { RUNTIME_SOURCE } from "../../src/sandbox/child/isolate-sources.ts";
import type { CallOutcome, LogLine } from "../../src/sandbox/protocol.ts";
import { callRoute } from "../support/pool-call.ts";

// The worst case the isolation is built for: plugin code holds the runtime's own relays (here a
// runtime hands them over outright) and knows another call's token. The sandbox process must
// still answer nothing for a call the requesting isolate is not running.

const COMPROMISED = RUNTIME_SOURCE.replace('"use strict";', '"use strict";\nglobalThis.__relays = { cap: $0, log: $1 };');

const relayed: { token: string; method: unknown }[] = [];
const logged: { token: string; line: LogLine }[] = [];
let release: () => void = () => undefined;
const held = new Promise<void>((r) => (release = r));

const pool = new IsolatePool({
  idleMs: 60_000,
  maxIsolates: 10,
  runtimeSource: COMPROMISED,
  onCatastrophe: () => undefined,
  // The victim's first ctx call is held open, so its call stays in flight during the attack.
  relay: async (token, method) => {
    relayed.push({ token, method });
    if (relayed.length === 1) await held;
    return JSON.stringify({ ok: true, value: `secret-for-${token}` });
  },
  sink: (token, line) => logged.push({ token, line }),
});
after(() => pool.evict(""));

function call(key: string, source: string, body: unknown, token: string): Promise<CallOutcome> {
  return callRoute(pool, key, `import { route } from "@sbh/sdk";\n${source}`, token, body);
}

const VICTIM = `route("/", async (ctx) => ({ got: await ctx.secrets.get("TOKEN") }));`;
const ATTACKER = `
const opts = { arguments: { copy: true }, result: { promise: true, copy: true } };
route("/", async (ctx, req) => {
  const stolen = JSON.parse(await globalThis.__relays.cap.apply(undefined, [req.body.token, "secrets.get", '["TOKEN"]'], opts));
  globalThis.__relays.log.applySync(undefined, [req.body.token, "info", "planted in another call's log", null], { arguments: { copy: true } });
  const own = await ctx.secrets.get("TOKEN");
  return { stolen, own };
});`;

test("relays held by plugin code answer only for calls of their own isolate", async () => {
  assert.notEqual(COMPROMISED, RUNTIME_SOURCE, "the compromised runtime differs from the real one");
  const victimToken = "victim-token-0123456789abcdef";
  const victim = call("victim", VICTIM, null, victimToken);
  while (relayed.length === 0) await new Promise((r) => setTimeout(r, 5));

  const attack = await call("attacker", ATTACKER, { token: victimToken }, "attacker-token-fedcba9876543210");
  assert.equal(attack.status, "ok", JSON.stringify(attack));
  const answer = JSON.parse((attack as { json: string }).json) as { ok: boolean; value: { stolen: { ok: boolean; error?: { name: string } }; own: string } };
  assert.equal(answer.value.stolen.ok, false, "the victim's token from another isolate is refused");
  assert.equal(answer.value.stolen.error?.name, "CallEnded");
  assert.equal(answer.value.own, "secret-for-attacker-token-fedcba9876543210", "the attacker's own ctx still works, under its own token");
  assert.deepEqual(
    relayed.map((r) => r.token),
    [victimToken, "attacker-token-fedcba9876543210"],
    "nothing was relayed under the victim's token but the victim's own call",
  );
  assert.equal(logged.filter((l) => l.token === victimToken).length, 0, "no line planted in the victim's log");

  release();
  const done = await victim;
  assert.equal(done.status, "ok");
  assert.match((done as { json: string }).json, /secret-for-victim-token/);
});

test("a token from a call that has ended is refused, even in its own isolate", async () => {
  const source = `
route("/", async (ctx, req) => {
  if (!req.body.replay) return { first: await ctx.secrets.get("TOKEN") };
  const opts = { arguments: { copy: true }, result: { promise: true, copy: true } };
  return { replayed: JSON.parse(await globalThis.__relays.cap.apply(undefined, [req.body.replay, "secrets.get", "[]"], opts)) };
});`;
  const firstToken = "first-call-token-aaaaaaaaaaaa";
  const first = await call("replayer", source, {}, firstToken);
  assert.match((first as { json: string }).json, /secret-for-first-call-token/, "the first call's own ctx worked");
  const before = relayed.length;
  const second = await call("replayer", source, { replay: firstToken }, "second-call-token-bbbbbbbbbbb");
  assert.equal(second.status, "ok", JSON.stringify(second));
  const value = JSON.parse((second as { json: string }).json).value as { replayed: { ok: boolean; error?: { name: string } } };
  assert.equal(value.replayed.ok, false);
  assert.equal(value.replayed.error?.name, "CallEnded");
  assert.equal(relayed.length, before, "nothing relayed for the ended call");
});
