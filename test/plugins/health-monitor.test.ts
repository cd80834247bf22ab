import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { eventually, sleep } from "../support/eventually.ts";
import { ok } from "../support/http-assert.ts";
import type { Services } from "../../src/services.ts";
import { fixtureZip, servicesGate, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";

// runtime.health_check on the real platform: the fixtures check every 5 s (the schema's minimum)
// with a 1 s timeout; the monitor ticks every 100 ms, so the first check follows the install at
// once and a later one within about 5 s. The tests run side by side to share those waits.

interface Health {
  status: string;
  checked_at: string;
  detail: any;
}

let app: TestApp;
before(async () => {
  app = await startTestApp({ env: { HEALTH_TICK_MS: "100" } });
});
after(async () => app?.close());

async function install(t: TestTenant, fixture: string): Promise<{ id: string; slug: string; version: string }> {
  const body = await ok(await t.upload(fixtureZip(fixture)), 201);
  return { id: body.plugin.id, slug: body.plugin.slug, version: body.plugin.version };
}

async function health(t: TestTenant, idOrSlug: string): Promise<Health | null> {
  return (await ok(await t.request("GET", `/api/plugins/${idOrSlug}`))).plugin.health;
}

/** The install's health as GET /api/plugins (the list) shows it. */
async function listedHealth(t: TestTenant, slug: string): Promise<Health | null> {
  const body = await ok(await t.request("GET", "/api/plugins"));
  return body.plugins.find((p: { slug: string }) => p.slug === slug).health;
}

/** Waits for a check that ends with `status` (and, given `after`, a later one than that). */
function checked(t: TestTenant, slug: string, status: string, after?: string): Promise<Health> {
  let last: Health | null = null;
  return eventually(
    `${slug} health ${status}${after ? ` after ${after}` : ""}`,
    async () => {
      last = await listedHealth(t, slug);
      return last && last.status === status && (!after || last.checked_at > after) ? last : undefined;
    },
    12_000,
    () => last,
  );
}

async function events(t: TestTenant, type: string): Promise<any[]> {
  return (await ok(await t.request("GET", `/api/events?type=${type}`))).events;
}

/** Health invocations stored for the install, after the given processes wrote what they hold. */
async function healthCalls(installId: string, processes: Services[] = [app.services]): Promise<number> {
  for (const p of processes) await p.recorder.flush();
  return processes[0]!.db.prisma.invocation.count({ where: { installId, kind: "health" } });
}

/** Health checks run for the install, stored as invocations or not (usage counters `health.*`). */
async function healthChecks(installId: string, processes: Services[] = [app.services], metric = "health.%"): Promise<number> {
  for (const p of processes) await p.usage.flush();
  const [row] = await processes[0]!.db.sql.query<{ n: number }>(
    `SELECT COALESCE(sum(value), 0)::int AS n FROM usage_counters WHERE install_id = $1::uuid AND metric LIKE $2`,
    [installId, metric],
  );
  return row!.n;
}

describe("per-install health checks", { concurrency: true }, () => {
  test("without a health() handler the built-in ping answers: ok in GET /api/plugins and /:id, no event", async () => {
    const t = await app.tenant("hping");
    const plugin = await install(t, "health-ping");
    const listed = await checked(t, "health-ping", "ok");
    assert.deepEqual(listed.detail, { status: "ok" });
    assert.ok(!Number.isNaN(Date.parse(listed.checked_at)));
    const one = await eventually("GET /:id shows the check", () => health(t, plugin.id));
    assert.equal(one.status, "ok");
    assert.deepEqual(one.detail, { status: "ok" });
    // Healthy from the start is not a change anyone needs to hear about.
    assert.deepEqual(await events(t, "plugin.unhealthy"), []);
    assert.deepEqual(await events(t, "plugin.healthy"), []);
  });

  test("degraded or error answers, a throw and a loop past timeout_seconds are shown with the reason, raised once", async () => {
    const t = await app.tenant("hbad");
    const plugins = {
      degraded: await install(t, "health-degraded"),
      error: await install(t, "health-error"),
      throws: await install(t, "health-throw"),
      loops: await install(t, "health-loop"),
    };
    const degraded = await checked(t, "health-degraded", "degraded");
    assert.deepEqual(degraded.detail, { status: "degraded", reason: "queue backlog", backlog: 1200 });
    const error = await checked(t, "health-error", "error");
    assert.deepEqual(error.detail, { status: "error", reason: "upstream unreachable", tenant: t.slug });
    const thrown = await checked(t, "health-throw", "error");
    assert.deepEqual(thrown.detail, { error: "Error: database connection refused", code: "plugin_error" });
    const looped = await checked(t, "health-loop", "error");
    assert.equal(looped.detail.code, "plugin_timeout");
    assert.match(looped.detail.error, /within 1000 ms/);

    // One plugin.unhealthy per install, carrying what the list shows.
    const raised = await events(t, "plugin.unhealthy");
    assert.equal(raised.length, 4);
    for (const [name, plugin] of Object.entries(plugins)) {
      const mine = raised.filter((e) => e.data.plugin.id === plugin.id);
      assert.equal(mine.length, 1, name);
      assert.deepEqual(mine[0].data.plugin, plugin);
      assert.equal(mine[0].data.previous, null);
      assert.equal(mine[0].source, "platform");
      assert.equal(mine[0].tenant, t.slug);
    }
    assert.deepEqual(raised.find((e) => e.data.plugin.slug === "health-throw").data.detail, thrown.detail);
    assert.equal(raised.find((e) => e.data.plugin.slug === "health-degraded").data.status, "degraded");

    // The next checks find the same status: nothing changed, nothing more is raised.
    await checked(t, "health-error", "error", error.checked_at);
    await checked(t, "health-loop", "error", looped.checked_at);
    assert.equal((await events(t, "plugin.unhealthy")).length, 4);
    assert.deepEqual(await events(t, "plugin.healthy"), []);
  });

  test("a change to non-ok raises plugin.unhealthy once, and recovery plugin.healthy", async () => {
    const t = await app.tenant("hflip");
    const plugin = await install(t, "health-modes");
    const first = await checked(t, "health-modes", "ok");
    assert.deepEqual(first.detail, { status: "ok", mode: "ok" });

    await ok(await t.request("PUT", "/api/plugins/health-modes/config", { json: { mode: "error" } }));
    const broken = await checked(t, "health-modes", "error");
    assert.deepEqual(broken.detail, { status: "error", reason: "switched to error" });
    const unhealthy = await events(t, "plugin.unhealthy");
    assert.equal(unhealthy.length, 1);
    assert.deepEqual(unhealthy[0].data, { plugin, status: "error", detail: broken.detail, previous: "ok" });
    assert.equal(unhealthy[0].source, "platform");
    assert.deepEqual(await events(t, "plugin.healthy"), []);

    await ok(await t.request("PUT", "/api/plugins/health-modes/config", { json: { mode: "ok" } }));
    const mended = await checked(t, "health-modes", "ok");
    const healthy = await events(t, "plugin.healthy");
    assert.equal(healthy.length, 1);
    assert.deepEqual(healthy[0].data, { plugin, status: "ok", detail: mended.detail, previous: "error" });
    assert.equal((await events(t, "plugin.unhealthy")).length, 1);
  });

  test("disabled installs and installs without health_check enabled are not checked", async () => {
    const t = await app.tenant("hoff");
    const off = await install(t, "health-off");
    const paused = await install(t, "health-modes");
    const first = await checked(t, "health-modes", "ok");
    await ok(await t.request("POST", "/api/plugins/health-modes/disable"));
    await ok(await t.request("PUT", "/api/plugins/health-modes/config", { json: { mode: "error" } }));
    // A check that started just before the disable may still land (within its 1 s timeout); count
    // from after it, so only a check started while disabled can fail the test.
    await sleep(1_500);
    const checksWhenDisabled = await healthChecks(paused.id);
    // Past one interval plus a tick: an enabled install would have been checked again by now.
    await sleep(6_000);
    assert.equal(await healthChecks(paused.id), checksWhenDisabled);
    assert.deepEqual(await listedHealth(t, "health-modes"), first, "the last check is kept, not redone");
    assert.equal(await healthChecks(off.id), 0);
    assert.equal(await healthCalls(off.id), 0);
    assert.equal(await listedHealth(t, "health-off"), null);
    assert.equal(await health(t, "health-off"), null);
    assert.deepEqual(await events(t, "plugin.unhealthy"), []);

    // Enabled again, it is due at once (its last check is older than the interval).
    await ok(await t.request("POST", "/api/plugins/health-modes/enable"));
    await checked(t, "health-modes", "error");
    assert.equal((await events(t, "plugin.unhealthy")).length, 1);
  });

  test("health events stay with the install's tenant", async () => {
    const [a, b, quiet] = await Promise.all([app.tenant("hiso-a"), app.tenant("hiso-b"), app.tenant("hiso-q")]);
    const pa = await install(a, "health-error");
    const pb = await install(b, "health-error");
    await install(quiet, "health-ping");
    await checked(a, "health-error", "error");
    await checked(b, "health-error", "error");
    await checked(quiet, "health-ping", "ok");
    const seenA = await events(a, "plugin.unhealthy");
    const seenB = await events(b, "plugin.unhealthy");
    assert.deepEqual(seenA.map((e) => [e.tenant, e.data.plugin.id, e.data.detail.tenant]), [[a.slug, pa.id, a.slug]]);
    assert.deepEqual(seenB.map((e) => [e.tenant, e.data.plugin.id, e.data.detail.tenant]), [[b.slug, pb.id, b.slug]]);
    assert.deepEqual(await events(quiet, "plugin.unhealthy"), []);
  });

  test("a check that succeeds, logs nothing and changes nothing is counted, not stored", async () => {
    const t = await app.tenant("hquiet");
    const ping = await install(t, "health-ping");
    const logs = await install(t, "health-logs");
    // checked_at moves when a check is claimed, before it ends; the counters move once it ended.
    const checks = (id: string, n: number) => eventually(`${n} health checks of ${id}`, async () => (await healthChecks(id)) >= n, 12_000);
    await checks(ping.id, 2);
    // The first check moved the status from none to ok: that one is stored; the next is only counted.
    assert.equal(await healthCalls(ping.id), 1);
    const usage = await ok(await t.request("GET", `/api/plugins/${ping.id}/usage`));
    assert.ok(usage.totals["health.ok"] >= 2, JSON.stringify(usage.totals));
    // A check that logs is stored every time, with its line. (Counted as ok: a check refused
    // while a loaded machine made the plugin time out is counted as an error and not stored.)
    await eventually("2 ok health checks of the logging plugin", async () => (await healthChecks(logs.id, [app.services], "health.ok")) >= 2, 12_000);
    const answered = await healthChecks(logs.id, [app.services], "health.ok");
    assert.ok((await healthCalls(logs.id)) >= answered, "every check that answered is stored");
    const lines = (await ok(await t.request("GET", `/api/plugins/${logs.id}/logs`))).logs;
    assert.ok(lines.filter((l: { message: string }) => l.message === "health checked").length >= 2);

    // A successful answer that changes the status is stored; the same status again is not.
    const modes = await install(t, "health-modes");
    await checked(t, "health-modes", "ok");
    const before = await healthCalls(modes.id);
    await ok(await t.request("PUT", "/api/plugins/health-modes/config", { json: { mode: "degraded" } }));
    await checked(t, "health-modes", "degraded");
    // Once a check has found the new status, checks that find it again add no row.
    const settled = await healthChecks(modes.id);
    await checks(modes.id, settled + 1);
    const rows = await healthCalls(modes.id);
    assert.ok(rows > before, `the changed check was stored (${before} → ${rows})`);
    await checks(modes.id, settled + 2);
    assert.equal((await listedHealth(t, "health-modes"))?.status, "degraded");
    assert.equal(await healthCalls(modes.id), rows, "the same status again is counted, not stored");
  });

  test("with two background processes each install is checked once per interval", async () => {
    const second = await app.startConsumer();
    const t = await app.tenant("hpair");
    const plugin = await install(t, "health-ping");
    await checked(t, "health-ping", "ok");
    await sleep(1_500); // many ticks of both processes, well inside the 5 s interval
    assert.equal(await healthChecks(plugin.id, [app.services, second]), 1);
  });
});

describe("scaled mode (Postgres, BullMQ)", () => {
  const gate = servicesGate("bullmq");
  test("the enqueue-only API process checks nothing; workers share the checks, one per interval", async (t) => {
    if (!(await gate(t))) return;
    const scaled = await startTestApp({ engine: "bullmq", worker: false, env: { HEALTH_TICK_MS: "100" } });
    try {
      const tn = await scaled.tenant("hscaled");
      const plugin = await install(tn, "health-ping");
      await sleep(1_000);
      assert.equal(await health(tn, plugin.id), null, "the API process ran a check");
      const workers = await Promise.all([scaled.startConsumer(), scaled.startConsumer()]);
      await checked(tn, "health-ping", "ok");
      await sleep(1_500);
      assert.equal(await healthChecks(plugin.id, [scaled.services, ...workers]), 1);
    } finally {
      await scaled.close();
    }
  });
});
