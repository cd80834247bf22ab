import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, test, type TestContext } from "node:test";
import { postgresAvailable, redisAvailable, requireOrSkip } from "../support/services.ts";
import { appsPerConfig, servicesGate, fixtureZip, startTestApp, type Engine, type StartTestAppOptions, type TestApp, type TestTenant, withManifest } from "../support/test-app.ts";
import { expectError, json, ok } from "../support/http-assert.ts";
import { eventually, sleep } from "../support/eventually.ts";

// Events and hooks, the same behaviour asserted on both engines: embedded (PGlite, in-process
// executor) and bullmq (Postgres, API role enqueues, a worker consumes). Everything is checked
// through the HTTP API (events, hook runs, plugin logs) or the database rows themselves.

const EMIT_MAX_DEPTH = 3;

/* ------------------------------------------------------------------ helpers */


type HookRun = { id: string; plugin: string | null; install_id: string; status: string; attempts: number; max_attempts: number; duration_ms: number | null; error: string | null };
type StoredEvent = { id: string; type: string; tenant: string; data: any; occurred_at: string; source: string; depth: number; hooks: HookRun[] };
type LogLine = { level: string; message: string; fields: any; invocation: { kind: string; name: string; status: string } | null };

async function getEvent(t: TestTenant, id: string): Promise<StoredEvent> {
  return (await ok(await t.request("GET", `/api/events/${id}`))).event;
}

/** The event once none of its hook runs is pending any more. */
async function settled(t: TestTenant, id: string, timeoutMs = 15_000, what = `hook runs of event ${id} to finish`): Promise<StoredEvent> {
  let last: StoredEvent | undefined;
  return eventually(
    what,
    async () => {
      last = await getEvent(t, id);
      return last.hooks.every((h) => h.status !== "pending") ? last : undefined;
    },
    timeoutMs,
    () => last,
  );
}

async function events(t: TestTenant, type?: string): Promise<StoredEvent[]> {
  const q = type ? `?type=${encodeURIComponent(type)}&limit=200` : "?limit=200";
  return (await ok(await t.request("GET", `/api/events${q}`))).events;
}

async function logs(t: TestTenant, plugin: string): Promise<LogLine[]> {
  return (await ok(await t.request("GET", `/api/plugins/${plugin}/logs?limit=500`))).logs;
}

/** The first log line of `plugin` matching `pred`, waiting for batched log writes. */
async function logLine(t: TestTenant, plugin: string, what: string, pred: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
  let last: LogLine[] = [];
  return eventually(
    `${plugin} to log ${what}`,
    async () => {
      last = await logs(t, plugin);
      return last.find(pred);
    },
    timeoutMs,
    () => last.map((l) => `${l.level} ${l.message}`).slice(0, 20),
  );
}

async function install(t: TestTenant, fixture: string): Promise<any> {
  const body = await ok(await t.upload(fixtureZip(fixture)), 201);
  return body.plugin;
}

async function publish(t: TestTenant, type: string, data: unknown = {}): Promise<{ event: StoredEvent; hooks: number }> {
  return ok(await t.request("POST", "/api/events", { json: { type, data } }), 202);
}

/** The hook run of `plugin` on an event. */
function runOf(event: StoredEvent, plugin: string): HookRun {
  const run = event.hooks.find((h) => h.plugin === plugin);
  assert.ok(run, `event ${event.type} has no hook run for ${plugin}: ${JSON.stringify(event.hooks)}`);
  return run;
}

/** The event as a hook sees it ({id, type, tenant, data, occurred_at}) from what the API stored. */
function asSeen(e: StoredEvent) {
  return { id: e.id, type: e.type, tenant: e.tenant, data: e.data, occurred_at: e.occurred_at };
}

function pick<T extends object>(o: T, keys: (keyof T)[]) {
  return Object.fromEntries(keys.map((k) => [k, o[k]]));
}

/** Asserts the event's runs stay pending (untouched) for `ms`. */
async function staysPending(t: TestTenant, id: string, ms: number): Promise<StoredEvent> {
  const until = Date.now() + ms;
  let e: StoredEvent;
  do {
    e = await getEvent(t, id);
    assert.ok(e.hooks.length > 0, "the event has hook runs");
    for (const h of e.hooks) assert.deepEqual([h.status, h.attempts], ["pending", 0], `run ${h.id} was consumed: ${JSON.stringify(h)}`);
    await sleep(100);
  } while (Date.now() < until);
  return e;
}

/** An event and one pending hook run written straight to the database: committed, never enqueued. */
async function insertPendingRun(app: TestApp, t: TestTenant, installId: string, type: string, data: object) {
  const prisma = app.services.db.prisma;
  const eventId = randomUUID();
  const runId = randomUUID();
  const now = new Date();
  await prisma.event.create({ data: { id: eventId, tenantId: t.id, type, data, source: "host", depth: 0, occurredAt: now } });
  await prisma.hookRun.create({
    data: { id: runId, eventId, tenantId: t.id, installId, eventType: type, status: "pending", maxAttempts: 3, nextAttemptAt: now },
  });
  return { eventId, runId };
}

/* ------------------------------------------------------------------ suite */

export function defineHookSuite(engine: Engine): void {
  const appFor = appsPerConfig(engine);

  // Default outbox timings (a 60 s staleness), so nothing but the executor moves hook runs.
  const main = () => appFor("main", { env: { EMIT_MAX_DEPTH: String(EMIT_MAX_DEPTH) } });
  // A quick outbox sweep: pending runs overdue by 300 ms are enqueued again.
  const sweeping = () => appFor("sweeping", { env: { OUTBOX_SWEEP_MS: "100", OUTBOX_STALE_MS: "300" } });

  const ready = servicesGate(engine);

  describe(`system events reach hooks (${engine})`, () => {
    test("POST/PATCH/DELETE /api/users → auth.user.created|updated|deleted, with the user in data", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      await install(ten, "ev-recorder");

      const created = await ok(await ten.request("POST", "/api/users", { json: { email: "ada@example.com", name: "Ada" } }), 201);
      assert.equal(created.event.hooks, 1);
      const patched = await ok(await ten.request("PATCH", `/api/users/${created.user.id}`, { json: { name: "Ada L." } }));
      assert.equal(patched.event.hooks, 1);
      const deleted = await ok(await ten.request("DELETE", `/api/users/${created.user.id}`));
      assert.equal(deleted.event.hooks, 1);

      const expected: [string, string, unknown][] = [
        [created.event.id, "auth.user.created", { user: created.user }],
        [patched.event.id, "auth.user.updated", { user: patched.user, changes: ["name"] }],
        [deleted.event.id, "auth.user.deleted", { user: patched.user }],
      ];
      for (const [id, type, data] of expected) {
        const e = await settled(ten, id);
        assert.equal(e.type, type);
        assert.equal(e.source, "host");
        assert.deepEqual(e.data, data);
        assert.deepEqual(pick(runOf(e, "ev-recorder"), ["status", "attempts", "error"]), { status: "succeeded", attempts: 1, error: null });
        const line = await logLine(ten, "ev-recorder", `saw ${type}`, (l) => l.fields?.event?.id === id);
        assert.equal(line.message, `saw ${type}`);
        assert.deepEqual(pick(line.fields.event, ["id", "type", "tenant", "data", "occurred_at"]), asSeen(e));
        assert.equal(line.fields.tenant_id, ten.slug);
        assert.equal(line.invocation?.kind, "hook");
      }
    });

    test("POST /api/files (multipart) and DELETE /api/files/:id → files.uploaded|deleted", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      await install(ten, "ev-recorder");

      const form = new FormData();
      form.append("path", "docs/hello.txt");
      form.append("file", new Blob([new TextEncoder().encode("hello, hooks")], { type: "text/plain" }), "hello.txt");
      const uploaded = await ok(await ten.request("POST", "/api/files", { body: form }), 201);
      const removed = await ok(await ten.request("DELETE", `/api/files/${uploaded.file.id}`));

      const up = await settled(ten, uploaded.event.id);
      assert.equal(up.type, "files.uploaded");
      assert.deepEqual(up.data, { file: uploaded.file, replaced: false });
      assert.equal(runOf(up, "ev-recorder").status, "succeeded");
      const del = await settled(ten, removed.event.id);
      assert.equal(del.type, "files.deleted");
      assert.deepEqual(del.data, { file: removed.file });
      assert.equal(runOf(del, "ev-recorder").status, "succeeded");

      for (const e of [up, del]) {
        const line = await logLine(ten, "ev-recorder", `saw ${e.type}`, (l) => l.fields?.event?.id === e.id);
        assert.deepEqual(pick(line.fields.event, ["id", "type", "tenant", "data", "occurred_at"]), asSeen(e));
      }
    });

    test("POST /api/events {type: build.completed} → 202 and the hook gets {id, type, tenant, data, occurred_at}", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      await install(ten, "ev-recorder");
      const data = { build_id: "b-42", status: "success", artifacts: ["app.tgz"], took_s: 12.5 };
      const res = await publish(ten, "build.completed", data);
      assert.equal(res.hooks, 1);
      assert.equal(res.event.type, "build.completed");
      assert.equal(res.event.tenant, ten.slug);
      assert.equal(res.event.source, "api");
      assert.equal(res.event.depth, 0);
      assert.ok(!Number.isNaN(Date.parse(res.event.occurred_at)));

      const e = await settled(ten, res.event.id);
      const run = runOf(e, "ev-recorder");
      assert.equal(run.status, "succeeded");
      assert.equal(typeof run.duration_ms, "number");
      const line = await logLine(ten, "ev-recorder", "saw build.completed", (l) => l.fields?.event?.id === e.id);
      assert.deepEqual(pick(line.fields.event, ["id", "type", "tenant", "data", "occurred_at"]), {
        id: res.event.id,
        type: "build.completed",
        tenant: ten.slug,
        data,
        occurred_at: res.event.occurred_at,
      });
    });
  });

  describe(`fan-out (${engine})`, () => {
    test("tenant isolation: an event of tenant A runs A's hook only, never B's install of the same plugin", async (t) => {
      if (!(await ready(t))) return;
      const app = await main();
      const a = await app.tenant("a");
      const b = await app.tenant("b");
      const installA = await install(a, "ev-recorder");
      const installB = await install(b, "ev-recorder");

      const res = await publish(a, "build.completed", { build_id: "only-a" });
      assert.equal(res.hooks, 1);
      const e = await settled(a, res.event.id);
      assert.deepEqual(
        e.hooks.map((h) => [h.install_id, h.status]),
        [[installA.id, "succeeded"]],
      );
      await logLine(a, "ev-recorder", "the event", (l) => l.fields?.event?.id === e.id);
      // Let any stray fan-out land before looking at B.
      await sleep(300);
      assert.equal(await app.services.db.prisma.hookRun.count({ where: { installId: installB.id } }), 0, "B's install got a hook run");
      assert.deepEqual(
        (await logs(b, "ev-recorder")).filter((l) => l.message.startsWith("saw ")),
        [],
        "B's plugin logged an event",
      );
      assert.deepEqual(await events(b, "build.completed"), []);
    });

    test("a disabled install gets no hook runs; enabled again, it does", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      await install(ten, "ev-recorder");
      await ok(await ten.request("POST", "/api/plugins/ev-recorder/disable"));
      const off = await publish(ten, "build.completed", { n: 1 });
      assert.equal(off.hooks, 0);
      await ok(await ten.request("POST", "/api/plugins/ev-recorder/enable"));
      const on = await publish(ten, "build.completed", { n: 2 });
      assert.equal(on.hooks, 1);
      assert.equal(runOf(await settled(ten, on.event.id), "ev-recorder").status, "succeeded");
    });
  });

  describe(`retries and limits (${engine})`, () => {
    test("a hook failing its first attempt is retried and succeeds on attempt 2", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      await install(ten, "ev-flaky");
      const res = await publish(ten, "flaky.once", { n: 1 });
      assert.equal(res.hooks, 1);
      const run = runOf(await settled(ten, res.event.id), "ev-flaky");
      assert.deepEqual(pick(run, ["status", "attempts", "max_attempts", "error"]), { status: "succeeded", attempts: 2, max_attempts: 3, error: null });
      const line = await logLine(ten, "ev-flaky", "flaky succeeded", (l) => l.message === "flaky succeeded" && l.fields?.event_id === res.event.id);
      assert.equal(line.fields.attempt, 2);
      const failure = await logLine(ten, "ev-flaky", "the first attempt's error", (l) => l.level === "error" && l.message.includes(`flaky first attempt for ${res.event.id}`));
      assert.equal(failure.invocation?.status, "error");
    });

    test("an always-failing hook ends failed after max_attempts, with the error text", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      await install(ten, "ev-flaky");
      const res = await publish(ten, "flaky.always");
      const run = runOf(await settled(ten, res.event.id), "ev-flaky");
      assert.equal(run.status, "failed");
      assert.equal(run.attempts, 3);
      assert.equal(run.max_attempts, 3);
      assert.match(run.error ?? "", /always broken/);
      // One error line per attempt (a worker process writes its log lines in batches).
      let errors: LogLine[] = [];
      await eventually(
        "three error lines, one per attempt",
        async () => {
          errors = (await logs(ten, "ev-flaky")).filter((l) => l.level === "error" && l.message.includes("always broken"));
          return errors.length >= 3;
        },
        5000,
        () => errors.length,
      );
      await sleep(300);
      assert.equal((await logs(ten, "ev-flaky")).filter((l) => l.level === "error" && l.message.includes("always broken")).length, 3);
    });

    test("a hook that never settles fails with a timeout; another plugin's hook on the same event succeeds", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      await install(ten, "ev-recorder");
      await install(ten, "ev-hang");
      const res = await publish(ten, "slow.thing", { n: 1 });
      assert.equal(res.hooks, 2);
      const e = await settled(ten, res.event.id);
      const hang = runOf(e, "ev-hang");
      assert.equal(hang.status, "failed");
      assert.equal(hang.attempts, 1);
      assert.match(hang.error ?? "", /did not answer within 300 ms/);
      assert.ok((hang.duration_ms ?? 0) >= 250, `timed out after ${hang.duration_ms} ms`);
      assert.equal(runOf(e, "ev-recorder").status, "succeeded");
      const line = await logLine(ten, "ev-hang", "the timeout", (l) => l.invocation?.status === "timeout");
      assert.equal(line.invocation?.name, "slow.thing");
      // The platform keeps serving both plugins.
      const next = await settled(ten, (await publish(ten, "slow.thing", { n: 2 })).event.id);
      assert.equal(runOf(next, "ev-recorder").status, "succeeded");
    });

    test("emit chain: A's hook emits a.done, B's hook on a.done succeeds; a.done has source plugin:ev-chain-a and depth 1", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      await install(ten, "ev-chain-a");
      await install(ten, "ev-chain-b");
      const user = await ok(await ten.request("POST", "/api/users", { json: { email: "chain@example.com" } }), 201);
      assert.equal(runOf(await settled(ten, user.event.id), "ev-chain-a").status, "succeeded");

      const done = await eventually("a.done to be stored", async () => (await events(ten, "a.done"))[0]);
      assert.equal(done.source, "plugin:ev-chain-a");
      assert.equal(done.depth, 1);
      assert.deepEqual(done.data, { email: "chain@example.com", cause: user.event.id });
      const b = runOf(await settled(ten, done.id), "ev-chain-b");
      assert.deepEqual(pick(b, ["status", "attempts"]), { status: "succeeded", attempts: 1 });
      const seen = await logLine(ten, "ev-chain-b", "b saw a.done", (l) => l.message === "b saw a.done");
      assert.deepEqual(pick(seen.fields.event, ["id", "type", "tenant", "data", "occurred_at"]), asSeen(done));
      const emitted = await logLine(ten, "ev-chain-a", "a emitted", (l) => l.message === "a emitted");
      assert.deepEqual(emitted.fields.emitted, { id: done.id, hooks: 1 });
    });

    test("ctx.emit of a reserved system event is refused with ReservedEvent, from a hook and from a route", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      await install(ten, "ev-reserved");

      const res = await publish(ten, "reserved.try", { type: "auth.user.created" });
      assert.equal(runOf(await settled(ten, res.event.id), "ev-reserved").status, "succeeded");
      const line = await logLine(ten, "ev-reserved", "the refused emit", (l) => l.message === "reserved emit outcome");
      assert.equal(line.fields.emitted, false);
      assert.equal(line.fields.name, "ReservedEvent");
      assert.match(line.fields.message, /auth\./);

      for (const type of ["auth.user.created", "plugin.installed", "build.completed", "files.deleted", "payments.subscription.created"]) {
        const out = await ok(await ten.request("POST", "/ext/ev-reserved/emit", { json: { type } }));
        assert.equal(out.emitted, false, type);
        assert.equal(out.name, "ReservedEvent", type);
      }
      // A custom event from the same route goes through, and nothing reserved was stored from a plugin.
      assert.deepEqual(await ok(await ten.request("POST", "/ext/ev-reserved/emit", { json: { type: "custom.ping" } })), { emitted: true });
      const custom = await events(ten, "custom.ping");
      assert.equal(custom.length, 1);
      assert.equal(custom[0].source, "plugin:ev-reserved");
      assert.deepEqual(
        (await events(ten)).filter((e) => e.source.startsWith("plugin:") && e.type !== "custom.ping"),
        [],
      );
    });

    test(`an emit loop is cut at EMIT_MAX_DEPTH=${EMIT_MAX_DEPTH}, logged, and the number of events stays bounded`, async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      await install(ten, "ev-loop");
      await publish(ten, "loop.tick", { n: 0 });

      const cut = await logLine(ten, "ev-loop", "emit loop cut", (l) => l.message.includes("emit loop cut"));
      assert.equal(cut.level, "warn");
      const ticks = await eventually(`${EMIT_MAX_DEPTH + 1} loop.tick events, all settled`, async () => {
        const list = await events(ten, "loop.tick");
        return list.length === EMIT_MAX_DEPTH + 1 && list.every((e) => e.hooks.every((h) => h.status !== "pending")) ? list : undefined;
      });
      assert.deepEqual(
        ticks.map((e) => e.depth).sort(),
        Array.from({ length: EMIT_MAX_DEPTH + 1 }, (_, i) => i),
      );
      const deepest = ticks.find((e) => e.depth === EMIT_MAX_DEPTH)!;
      assert.deepEqual(deepest.data, { n: EMIT_MAX_DEPTH });
      const run = runOf(deepest, "ev-loop");
      assert.equal(run.status, "failed");
      assert.equal(run.attempts, 1, "a cut loop is not retried");
      assert.match(run.error ?? "", /EmitLimit/);
      for (const e of ticks.filter((x) => x !== deepest)) assert.equal(runOf(e, "ev-loop").status, "succeeded");
      // Nothing keeps going behind our back.
      await sleep(500);
      assert.equal((await events(ten, "loop.tick")).length, EMIT_MAX_DEPTH + 1);
    });
  });

  describe(`POST /api/plugins/test-event (${engine})`, () => {
    test("202 {event: {id}, hooks: N} without wait; ?wait=true → 200 with each hook's outcome", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      await install(ten, "ev-recorder");
      await install(ten, "ev-flaky");

      const quick = await ok(await ten.request("POST", "/api/plugins/test-event", { json: { event_type: "mixed.thing", event_data: { k: 1 } } }), 202);
      assert.deepEqual(Object.keys(quick.event), ["id"]);
      assert.equal(quick.hooks, 2);
      const stored = await getEvent(ten, quick.event.id);
      assert.equal(stored.source, "test");
      assert.deepEqual(stored.data, { k: 1 });

      const waited = await ok(await ten.request("POST", "/api/plugins/test-event?wait=true", { json: { event_type: "mixed.thing", event_data: { k: 2 } } }));
      assert.equal(waited.complete, true);
      assert.equal(waited.event.type, "mixed.thing");
      assert.deepEqual(waited.event.data, { k: 2 });
      assert.equal(waited.hooks.length, 2);
      const bySlug = Object.fromEntries(waited.hooks.map((h: HookRun) => [h.plugin, h]));
      assert.deepEqual(pick(bySlug["ev-recorder"], ["status", "attempts", "error"]), { status: "succeeded", attempts: 1, error: null });
      assert.deepEqual(pick(bySlug["ev-flaky"], ["status", "attempts", "error"]), { status: "failed", attempts: 3, error: "Error: mixed failure" });
      for (const h of waited.hooks) assert.equal(typeof h.duration_ms, "number");

      const none = await ok(await ten.request("POST", "/api/plugins/test-event?wait=true", { json: { event_type: "nobody.listens" } }));
      assert.deepEqual([none.complete, none.hooks], [true, []]);
    });

    test("a bad body is 400 invalid_request; a member gets 403", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      await expectError(await ten.request("POST", "/api/plugins/test-event", { json: {} }), 400, "invalid_request");
      await expectError(await ten.request("POST", "/api/plugins/test-event", { json: { event_type: "Not An Event" } }), 400, "invalid_request");
      await expectError(await ten.request("POST", "/api/plugins/test-event", { json: { event_type: 42 } }), 400, "invalid_request");
      await expectError(
        await ten.request("POST", "/api/plugins/test-event", { token: ten.member, json: { event_type: "build.completed" } }),
        403,
        "forbidden",
      );
      assert.deepEqual(await events(ten), [], "no event was stored");
    });
  });

  describe(`lifecycle (${engine})`, () => {
    test("onInstall, onUpgrade({from}), onDisable, onEnable, onUninstall run; plugin.* events are stored", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      const v1 = await install(ten, "ev-life");
      assert.equal(v1.status, "enabled");
      const installed = await logLine(ten, "ev-life", "onInstall", (l) => l.message === "lifecycle onInstall");
      assert.deepEqual(installed.fields, { version: "1.0.0" });
      assert.equal(installed.invocation?.kind, "lifecycle");

      const up = await ok(await ten.upload(withManifest("ev-life", { version: "1.1.0" })));
      assert.equal(up.previous_version, "1.0.0");
      assert.equal(up.plugin.status, "enabled");
      const upgraded = await logLine(ten, "ev-life", "onUpgrade", (l) => l.message === "lifecycle onUpgrade");
      assert.deepEqual(upgraded.fields, { info: { from: "1.0.0" }, version: "1.1.0" });

      assert.equal((await ok(await ten.request("POST", "/api/plugins/ev-life/disable"))).plugin.status, "disabled");
      await logLine(ten, "ev-life", "onDisable", (l) => l.message === "lifecycle onDisable");
      assert.equal((await ok(await ten.request("POST", "/api/plugins/ev-life/enable"))).plugin.status, "enabled");
      await logLine(ten, "ev-life", "onEnable", (l) => l.message === "lifecycle onEnable");

      const res = await ten.request("DELETE", "/api/plugins/ev-life");
      assert.equal(res.status, 204);
      const trace = await events(ten, "life.uninstalling");
      assert.equal(trace.length, 1, "onUninstall ran (its emit is stored)");
      assert.deepEqual([trace[0].source, trace[0].data], ["plugin:ev-life", { version: "1.1.0" }]);

      const plugin = (type: string) => events(ten, type).then((list) => list.map((e) => ({ ...e.data, source: e.source })));
      const ref = { id: v1.id, slug: "ev-life" };
      assert.deepEqual(await plugin("plugin.installed"), [{ plugin: { ...ref, version: "1.0.0", status: "enabled" }, source: "platform" }]);
      assert.deepEqual(await plugin("plugin.upgraded"), [{ plugin: { ...ref, version: "1.1.0", status: "enabled" }, from: "1.0.0", source: "platform" }]);
      assert.deepEqual(await plugin("plugin.disabled"), [{ plugin: { ...ref, version: "1.1.0", status: "disabled" }, source: "platform" }]);
      assert.deepEqual(await plugin("plugin.enabled"), [{ plugin: { ...ref, version: "1.1.0", status: "enabled" }, source: "platform" }]);
      assert.deepEqual(await plugin("plugin.uninstalled"), [{ plugin: { ...ref, version: "1.1.0", status: "enabled" }, source: "platform" }]);
      // Oldest first: the order things happened in.
      const order = (await events(ten)).reverse().map((e) => e.type);
      assert.deepEqual(order, ["plugin.installed", "plugin.upgraded", "plugin.disabled", "plugin.enabled", "life.uninstalling", "plugin.uninstalled"]);
    });

    test("a failing onInstall leaves the install failed with the error; its hooks do not run", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      const body = await ok(await ten.upload(fixtureZip("ev-life-fail")), 201);
      assert.equal(body.plugin.status, "failed");
      assert.match(body.plugin.error, /onInstall failed: .*cannot install: the backing store is missing/);
      const got = (await ok(await ten.request("GET", "/api/plugins/ev-life-fail"))).plugin;
      assert.equal(got.status, "failed");
      assert.equal(got.error, body.plugin.error);
      const listed = (await ok(await ten.request("GET", "/api/plugins/"))).plugins.find((p: any) => p.slug === "ev-life-fail");
      assert.equal(listed.status, "failed");

      const ev = await events(ten, "plugin.installed");
      assert.equal(ev.length, 1);
      assert.equal(ev[0].data.plugin.status, "failed");
      assert.equal((await publish(ten, "build.completed")).hooks, 0, "a failed install is not subscribed");
    });
  });

  describe(`events API (${engine})`, () => {
    test("GET /api/events filters by type and is tenant-scoped", async (t) => {
      if (!(await ready(t))) return;
      const app = await main();
      const a = await app.tenant("a");
      const b = await app.tenant("b");
      const a1 = await publish(a, "build.completed", { n: 1 });
      const a2 = await publish(a, "custom.thing", { n: 2 });
      const a3 = await publish(a, "build.completed", { n: 3 });
      const b1 = await publish(b, "build.completed", { n: 4 });

      assert.deepEqual((await events(a, "build.completed")).map((e) => e.id), [a3.event.id, a1.event.id]);
      assert.deepEqual((await events(a, "custom.thing")).map((e) => e.id), [a2.event.id]);
      assert.deepEqual((await events(a)).map((e) => e.id).sort(), [a1.event.id, a2.event.id, a3.event.id].sort());
      assert.deepEqual((await events(b)).map((e) => e.id), [b1.event.id]);
      assert.deepEqual(await events(b, "custom.thing"), []);
      for (const e of await events(a)) assert.equal(e.tenant, a.slug);
      await expectError(await b.request("GET", `/api/events/${a1.event.id}`), 404, "not_found");
      assert.equal((await getEvent(a, a1.event.id)).id, a1.event.id);
      await expectError(await a.request("GET", "/api/events", { token: a.member }), 403, "forbidden");
      // A's token cannot read B by naming B's tenant.
      await expectError(await a.request("GET", "/api/events", { headers: { "x-tenant-slug": b.slug } }), 403, "tenant_mismatch");
    });

    test("POST /api/events refuses a bad type, data over 256 KiB and NUL characters with 400", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      await expectError(await ten.request("POST", "/api/events", { json: { type: "NoDots" } }), 400, "invalid_request");
      await expectError(await ten.request("POST", "/api/events", { json: { data: {} } }), 400, "invalid_request");
      await expectError(await ten.request("POST", "/api/events", { json: { type: "big.thing", data: { blob: "x".repeat(300 * 1024) } } }), 400, "invalid_request");
      const nul = await expectError(await ten.request("POST", "/api/events", { json: { type: "nul.thing", data: { name: "a\u0000b" } } }), 400, "invalid_request");
      assert.match(nul.error.message, /NUL/);
      assert.deepEqual(await events(ten), []);
      // A backslash followed by "u0000" is plain text, not a NUL.
      await ok(await ten.request("POST", "/api/events", { json: { type: "text.thing", data: { name: "a\\u0000b" } } }), 202);
      assert.equal((await events(ten))[0].data.name, "a\\u0000b");
    });
  });

  describe(`durability (${engine})`, () => {
    test("pending hook runs committed but never enqueued (a crash) are run when consumers start (outbox sweep at start)", async (t) => {
      if (!(await ready(t))) return;
      // bullmq: an API without any worker; embedded: the app's own executor never saw the rows.
      const app = engine === "bullmq" ? await appFor("no-worker", { worker: false }) : await main();
      const ten = await app.tenant();
      const plugin = await install(ten, "ev-recorder");
      const { eventId, runId } = await insertPendingRun(app, ten, plugin.id, "restart.ping", { note: "left behind" });
      await staysPending(ten, eventId, 600);

      let worker: Awaited<ReturnType<TestApp["spawnWorker"]>> | undefined;
      if (engine === "bullmq") worker = await app.spawnWorker();
      else await app.startConsumer();
      try {
        const e = await settled(ten, eventId, 30_000);
        assert.deepEqual(
          e.hooks.map((h) => [h.id, h.status, h.attempts]),
          [[runId, "succeeded", 1]],
        );
        const line = await logLine(ten, "ev-recorder", "saw restart.ping", (l) => l.fields?.event?.id === eventId);
        assert.deepEqual(line.fields.event.data, { note: "left behind" });
      } finally {
        worker?.kill("SIGTERM");
        await worker?.exited;
      }
    });

    // The runner itself throwing (a database blip while it reads or writes the run) must not
    // strand the run: the outbox sweep finds it overdue and enqueues it again.
    test("a hook run whose runner failed once (transient error) is picked up again by the outbox sweep", async (t) => {
      if (!(await ready(t))) return;
      const app = await sweeping();
      const ten = await app.tenant();
      await install(ten, "ev-recorder");
      const runner = app.consumer!.hookRunner;
      const original = runner.run;
      let calls = 0;
      runner.run = async function (this: typeof runner, id: string) {
        if (++calls === 1) throw new Error("simulated: connection terminated unexpectedly");
        return original.call(this, id);
      };
      try {
        const res = await publish(ten, "build.completed", { n: 1 });
        const e = await settled(ten, res.event.id, 10_000, "the stranded run to be re-enqueued by the outbox sweep (OUTBOX_STALE_MS=300) and run");
        assert.deepEqual(pick(runOf(e, "ev-recorder"), ["status", "attempts"]), { status: "succeeded", attempts: 1 });
        assert.ok(calls >= 2);
      } finally {
        runner.run = original;
      }
    });
  });

  if (engine !== "bullmq") return;

  describe("BullMQ worker processes", () => {
    test("the API process (role api) does not consume: with no worker running, a published event stays pending", async (t) => {
      if (!(await ready(t))) return;
      const app = await appFor("no-worker", { worker: false });
      assert.equal(app.services.role, "api");
      const ten = await app.tenant();
      await install(ten, "ev-recorder");
      const res = await publish(ten, "build.completed", { n: 1 });
      assert.equal(res.hooks, 1);
      await staysPending(ten, res.event.id, 1500);
      assert.ok((await app.services.executor.depth()) >= 1, "the hook run waits in the queue");
      assert.deepEqual((await logs(ten, "ev-recorder")).filter((l) => l.message.startsWith("saw ")), []);
    });

    test("a worker killed (SIGKILL) mid-hook: a new worker process still runs the hook to success", async (t) => {
      if (!(await ready(t))) return;
      const app = await appFor("no-worker", { worker: false });
      const ten = await app.tenant();
      await install(ten, "ev-slow");
      const quickSweep = { OUTBOX_SWEEP_MS: "200", OUTBOX_STALE_MS: "500" };
      const first = await app.spawnWorker(quickSweep);
      const res = await publish(ten, "slow.work", { busy_ms: 2000 });
      // The hook announces itself (slow.started) before it starts its ~2 s busy loop.
      await eventually("the first worker to start the hook", async () => (await events(ten, "slow.started")).length > 0, 30_000, () => first.output());
      first.kill("SIGKILL");
      assert.deepEqual(await first.exited, { code: null, signal: "SIGKILL" });
      const cut = await getEvent(ten, res.event.id);
      assert.equal(runOf(cut, "ev-slow").status, "pending", "the killed worker did not finish the run");

      const second = await app.spawnWorker(quickSweep);
      try {
        // OUTBOX_STALE_MS is 500 ms: a new worker should pick the run up within seconds.
        const e = await settled(ten, res.event.id, 25_000, "the new worker (OUTBOX_STALE_MS=500) to run the killed worker's hook run");
        const run = runOf(e, "ev-slow");
        assert.equal(run.status, "succeeded", JSON.stringify(run));
        await logLine(ten, "ev-slow", "slow done", (l) => l.message === "slow done" && l.fields?.cause === res.event.id);
        assert.ok((await events(ten, "slow.started")).length >= 2, "the hook ran again (at least once)");
      } finally {
        second.kill("SIGTERM");
        await second.exited;
      }
    });
  });
}
