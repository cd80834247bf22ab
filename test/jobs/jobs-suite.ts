import assert from "node:assert/strict";
import { after, describe, test, type TestContext } from "node:test";
import { getTasks } from "node-cron";
import type { BullmqExecutor } from "../../src/execution/bullmq-executor.ts";
import { expectError, ok } from "../support/http-assert.ts";
import { postgresAvailable, redisAvailable, redisUrl, requireOrSkip } from "../support/services.ts";
import {
  appsPerConfig,
  servicesGate,
  deleteRedisKeys,
  fixtureZip,
  startTestApp,
  type Engine,
  type StartTestAppOptions,
  type TestApp,
  type TestTenant,
  type WorkerProcess,
} from "../support/test-app.ts";
import { eventually, sleep } from "../support/eventually.ts";

// Cron jobs and run-now, the same behaviour asserted on both engines: embedded (PGlite,
// node-cron in the API process) and bullmq (Postgres, BullMQ job schedulers on Redis, worker
// processes consume the ticks). Runs are read through the HTTP API; where the API cannot show
// something (runs of a job the current version no longer declares, the live schedulers) the
// test reads the database rows or the scheduler itself.

const JOB_TIMEOUT_MS = 1500; // job-manual and job-overlap declare resources.job_timeout_ms = 1500
const TIMEOUT_ERROR = `The plugin did not answer within ${JOB_TIMEOUT_MS} ms`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SKIPPED = /^skipped: run ([0-9a-f-]{36}) of this job is still running$/;

/* ------------------------------------------------------------------ helpers */


/** Runs `check` every 100 ms for `ms` (it asserts what must stay true for that long). */
async function holdsFor(ms: number, check: () => Promise<void>): Promise<void> {
  const until = Date.now() + ms;
  do {
    await check();
    await sleep(100);
  } while (Date.now() < until);
  await check();
}

type LogLine = { level: string; message: string; fields: unknown; at: string };
type JobRun = {
  id: string;
  job: string;
  trigger: "cron" | "manual";
  status: string;
  scheduled_for: string | null;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  result: any;
  error: string | null;
  logs: LogLine[] | null;
  created_at: string;
};
type JobView = { name: string; schedule: string; timezone: string; next_run: string | null; last_run: { id: string; status: string; trigger: string; finished_at: string | null } | null };
type DbRun = Awaited<ReturnType<typeof dbRuns>>[number];

const ms = (iso: string | null | Date): number => (iso instanceof Date ? iso.getTime() : Date.parse(iso ?? "")); // NaN for null
const ENDED = new Set(["succeeded", "failed", "timed_out", "skipped"]);

async function installFixture(t: TestTenant, fixture: string): Promise<{ id: string; slug: string; version: string; status: string }> {
  const body = await ok(await t.upload(fixtureZip(fixture)), 201);
  assert.equal(body.plugin.status, "enabled");
  return body.plugin;
}

async function uninstall(t: TestTenant, plugin: string): Promise<void> {
  const res = await t.request("DELETE", `/api/plugins/${plugin}`);
  assert.equal(res.status, 204, await res.text());
}

async function jobsOf(t: TestTenant, plugin: string): Promise<JobView[]> {
  return (await ok(await t.request("GET", `/api/plugins/${plugin}/jobs`))).jobs;
}

async function runsPage(t: TestTenant, plugin: string, job: string, query = "limit=100"): Promise<{ runs: JobRun[]; next_before: string | null }> {
  return ok(await t.request("GET", `/api/plugins/${plugin}/jobs/${job}/runs?${query}`));
}

async function runs(t: TestTenant, plugin: string, job: string): Promise<JobRun[]> {
  return (await runsPage(t, plugin, job)).runs;
}

async function getRun(t: TestTenant, plugin: string, job: string, id: string): Promise<JobRun> {
  return (await ok(await t.request("GET", `/api/plugins/${plugin}/jobs/${job}/runs/${id}`))).run;
}

/** POST …/run-now: 202 {run: {id, status: "queued"}}; returns the run id. */
async function runNow(t: TestTenant, plugin: string, job: string): Promise<string> {
  const body = await ok(await t.request("POST", `/api/plugins/${plugin}/jobs/${job}/run-now`), 202);
  assert.deepEqual(Object.keys(body), ["run"]);
  assert.deepEqual(Object.keys(body.run).sort(), ["id", "status"]);
  assert.match(body.run.id, UUID);
  assert.equal(body.run.status, "queued");
  return body.run.id;
}

/** The run once it is no longer queued or running. */
async function ended(t: TestTenant, plugin: string, job: string, id: string, timeoutMs = 15_000): Promise<JobRun> {
  let last: JobRun | undefined;
  return eventually(
    `run ${id} of ${plugin}/${job} to end`,
    async () => {
      last = await getRun(t, plugin, job, id);
      return ENDED.has(last.status) ? last : undefined;
    },
    timeoutMs,
    () => last,
  );
}

/** Every run of one job of one install, oldest first, straight from the database. */
function dbRuns(app: TestApp, installId: string, jobName: string) {
  return app.services.db.prisma.jobRun.findMany({ where: { installId, jobName }, orderBy: { createdAt: "asc" } });
}

/** Waits for `count` succeeded cron runs of the job due at or after `since` (ms); returns them oldest first. */
async function cronRunsSince(app: TestApp, installId: string, jobName: string, since: number, count: number, timeoutMs = 10_000): Promise<DbRun[]> {
  let seen: DbRun[] = [];
  return eventually(
    `${count} succeeded cron runs of ${jobName} due after ${new Date(since).toISOString()}`,
    async () => {
      seen = (await dbRuns(app, installId, jobName)).filter((r) => r.trigger === "cron" && r.scheduledFor && r.scheduledFor.getTime() >= since);
      const done = seen.filter((r) => r.status === "succeeded");
      return done.length >= count ? done : undefined;
    },
    timeoutMs,
    () => seen.map((r) => [r.status, r.scheduledFor?.toISOString(), r.error]),
  );
}

/** Fails if a cron run of the job due at or after `since` is recorded within `forMs`. */
async function noCronRunsSince(app: TestApp, installId: string, jobName: string, since: number, forMs: number): Promise<void> {
  await holdsFor(forMs, async () => {
    const late = (await dbRuns(app, installId, jobName)).filter((r) => r.trigger === "cron" && (r.scheduledFor?.getTime() ?? 0) >= since);
    assert.deepEqual(
      late.map((r) => [r.status, r.scheduledFor?.toISOString()]),
      [],
      `${jobName} still fired after ${new Date(since).toISOString()}`,
    );
  });
}

/** Ids of the live schedules (node-cron tasks or BullMQ job schedulers) of an install, sorted. */
async function scheduleIds(app: TestApp, installId: string): Promise<string[]> {
  const prefix = `job-${installId}-`;
  if (app.engine === "embedded") {
    return [...getTasks().values()]
      .map((task) => task.name ?? "")
      .filter((name) => name.startsWith(prefix))
      .sort();
  }
  const queue = (app.services.executor as BullmqExecutor).queue;
  return (await queue.getJobSchedulers(0, -1))
    .map((s) => s.key ?? s.id ?? "")
    .filter((id) => id.startsWith(prefix))
    .sort();
}

function assertWholeSecond(iso: string | null, what: string): void {
  assert.ok(iso && Number.isInteger(ms(iso) / 1000), `${what} is not a whole second: ${iso}`);
}

function assertUnique<T>(values: T[], what: string): void {
  const dupes = values.filter((v, i) => values.indexOf(v) !== i);
  assert.deepEqual(dupes, [], `${what} repeated`);
}

/** Next 1 January 00:00 in Europe/Paris (UTC+1 in winter) after `now`, as UTC. */
function nextParisNewYear(now: number): string {
  const y = new Date(now).getUTCFullYear();
  const candidate = Date.UTC(y, 11, 31, 23, 0, 0);
  return new Date(candidate > now ? candidate : Date.UTC(y + 1, 11, 31, 23, 0, 0)).toISOString();
}

/** Resolves when a spawned worker process has logged that it is ready (it ran syncAll by then). */
async function booted(w: WorkerProcess, timeoutMs = 40_000): Promise<number> {
  let exited: unknown;
  void w.exited.then((e) => (exited = e));
  await eventually(
    `worker ${w.pid} to boot`,
    async () => {
      if (exited) assert.fail(`worker ${w.pid} exited ${JSON.stringify(exited)}: ${w.output().slice(-2000)}`);
      return w.output().includes('"worker ready"');
    },
    timeoutMs,
    () => w.output().slice(-1500),
  );
  return Date.now();
}

async function stop(w: WorkerProcess): Promise<void> {
  w.kill("SIGTERM");
  await w.exited;
}

/* ------------------------------------------------------------------ suite */

export function defineJobSuite(engine: Engine): void {
  // The fixtures' jobs tick every second, so a test sees cron runs in time: that takes the
  // operator's opt-in (manifests are otherwise held to at most once a minute).
  const appsFor = appsPerConfig(engine);
  const appFor: typeof appsFor = (name, opts = {}) => appsFor(name, { ...opts, env: { PLUGIN_ALLOW_SECOND_SCHEDULES: "true", ...opts.env } });
  const main = () => appFor("main");

  const ready = servicesGate(engine);

  describe(`cron schedules (${engine})`, () => {
    test("an every-second job fires and records its runs; GET …/jobs shows schedule, timezone, next_run and last_run", async (t) => {
      if (!(await ready(t))) return;
      const app = await main();
      const ten = await app.tenant();
      const plugin = await installFixture(ten, "job-clock");
      try {
        let seen: JobRun[] = [];
        const fired = await eventually(
          "two succeeded cron runs of tick",
          async () => {
            seen = await runs(ten, "job-clock", "tick");
            const done = seen.filter((r) => r.status === "succeeded");
            return done.length >= 2 ? done : undefined;
          },
          15_000,
          () => seen,
        );
        // Newest first.
        for (let i = 1; i < seen.length; i++) assert.ok(ms(seen[i - 1].created_at) >= ms(seen[i].created_at), "runs are listed newest first");
        assertUnique(seen.map((r) => r.scheduled_for), "scheduled_for");
        for (const r of fired) {
          assert.equal(r.job, "tick");
          assert.equal(r.trigger, "cron");
          assert.equal(r.error, null);
          assertWholeSecond(r.scheduled_for, "scheduled_for");
          assert.ok(ms(r.started_at) >= ms(r.created_at), `started ${r.started_at} before created ${r.created_at}`);
          assert.ok(ms(r.finished_at) >= ms(r.started_at), `finished ${r.finished_at} before started ${r.started_at}`);
          assert.ok(ms(r.created_at) >= ms(r.scheduled_for) - 50, `created ${r.created_at} well before it was due ${r.scheduled_for}`);
          assert.equal(typeof r.duration_ms, "number");
          assert.ok(Math.abs(r.duration_ms! - (ms(r.finished_at) - ms(r.started_at))) <= 50, `duration_ms ${r.duration_ms} vs ${r.started_at}..${r.finished_at}`);
          // The result is exactly what the handler returned, run included.
          assert.deepEqual(r.result, {
            run: { id: r.id, trigger: "cron", scheduled_for: r.scheduled_for },
            plugin: "job-clock",
            version: "1.0.0",
            tenant: ten.slug,
          });
          const line = r.logs?.find((l) => l.message === `tick for ${r.scheduled_for}`);
          assert.ok(line, `the handler's console.log line is in the run's logs: ${JSON.stringify(r.logs)}`);
          assert.equal(line.level, "info");
        }
        const one = await getRun(ten, "job-clock", "tick", fired[0].id);
        assert.deepEqual(one, fired[0]);

        // last_run is the newest run (retried until no tick lands between the two reads).
        let view: JobView[] = [];
        let newest: JobRun | undefined;
        await eventually(
          "GET …/jobs last_run to equal the newest run",
          async () => {
            view = await jobsOf(ten, "job-clock");
            newest = (await runs(ten, "job-clock", "tick"))[0];
            const last = view.find((j) => j.name === "tick")?.last_run;
            return last && newest && last.id === newest.id && last.status === newest.status && last.finished_at === newest.finished_at;
          },
          10_000,
          () => [view, newest],
        );
        const before = Date.now();
        view = await jobsOf(ten, "job-clock");
        const afterGet = Date.now();
        assert.deepEqual(
          view.map((j) => j.name),
          ["tick", "new_year"],
        );
        const [tick, newYear] = view;
        assert.equal(tick.schedule, "* * * * * *");
        assert.equal(tick.timezone, "UTC");
        assertWholeSecond(tick.next_run, "tick next_run");
        assert.ok(ms(tick.next_run) > before && ms(tick.next_run) <= afterGet + 1000, `next_run ${tick.next_run} is the next second after ${new Date(before).toISOString()}`);
        assert.equal(tick.last_run?.trigger, "cron");
        assert.deepEqual(Object.keys(tick.last_run!).sort(), ["finished_at", "id", "status", "trigger"]);
        assert.deepEqual(newYear, {
          name: "new_year",
          schedule: "0 0 1 1 *",
          timezone: "Europe/Paris",
          next_run: nextParisNewYear(before),
          last_run: null,
        });
        // The plugin view shows the same schedules.
        const detail = (await ok(await ten.request("GET", "/api/plugins/job-clock"))).plugin;
        assert.equal(detail.jobs.find((j: any) => j.name === "new_year").next_run, nextParisNewYear(before));
        assert.deepEqual(await scheduleIds(app, plugin.id), [`job-${plugin.id}-new_year`, `job-${plugin.id}-tick`]);
      } finally {
        await uninstall(ten, "job-clock");
      }
    });

    test("disable removes the schedule (no cron run for 2.5 s), enable restores it, uninstall removes it", async (t) => {
      if (!(await ready(t))) return;
      const app = await main();
      const ten = await app.tenant();
      const plugin = await installFixture(ten, "job-clock");
      const both = [`job-${plugin.id}-new_year`, `job-${plugin.id}-tick`];
      await cronRunsSince(app, plugin.id, "tick", 0, 1, 15_000);
      assert.deepEqual(await scheduleIds(app, plugin.id), both);

      const off = await ok(await ten.request("POST", "/api/plugins/job-clock/disable"));
      const disabledAt = Date.now();
      assert.equal(off.plugin.status, "disabled");
      assert.deepEqual(await scheduleIds(app, plugin.id), []);
      const count = (await dbRuns(app, plugin.id, "tick")).length;
      await noCronRunsSince(app, plugin.id, "tick", disabledAt, 2500);
      await eventually("runs started before the disable to end", async () =>
        (await dbRuns(app, plugin.id, "tick")).every((r) => ENDED.has(r.status)),
      );
      assert.equal((await dbRuns(app, plugin.id, "tick")).length, count, "no run was recorded after the disable");
      const offView = await jobsOf(ten, "job-clock");
      assert.deepEqual(
        offView.map((j) => [j.name, j.next_run]),
        [
          ["tick", null],
          ["new_year", null],
        ],
      );

      const on = await ok(await ten.request("POST", "/api/plugins/job-clock/enable"));
      const enabledAt = Date.now();
      assert.equal(on.plugin.status, "enabled");
      assert.deepEqual(await scheduleIds(app, plugin.id), both);
      const resumed = await cronRunsSince(app, plugin.id, "tick", enabledAt, 2);
      for (const r of resumed) assert.deepEqual(r.result, { run: { id: r.id, trigger: "cron", scheduled_for: r.scheduledFor!.toISOString() }, plugin: "job-clock", version: "1.0.0", tenant: ten.slug });
      assert.ok(ms((await jobsOf(ten, "job-clock"))[0].next_run) > enabledAt);

      await uninstall(ten, "job-clock");
      const goneAt = Date.now();
      assert.deepEqual(await scheduleIds(app, plugin.id), []);
      await expectError(await ten.request("GET", "/api/plugins/job-clock/jobs"), 404, "plugin_not_found");
      await noCronRunsSince(app, plugin.id, "tick", goneAt, 2000);
    });

    test("an upgrade changes the schedules (v1 job a → v2 job b); a rollback brings a back", async (t) => {
      if (!(await ready(t))) return;
      const app = await main();
      const ten = await app.tenant();
      const plugin = await installFixture(ten, "job-swap-v1");
      try {
        assert.deepEqual(await scheduleIds(app, plugin.id), [`job-${plugin.id}-a`]);
        const [a1] = await cronRunsSince(app, plugin.id, "a", 0, 1, 15_000);
        assert.deepEqual(a1.result, { job: "a", version: "1.0.0" });

        const up = await ok(await ten.upload(fixtureZip("job-swap-v2")));
        const upgradedAt = Date.now();
        assert.equal(up.previous_version, "1.0.0");
        assert.equal(up.plugin.version, "2.0.0");
        assert.deepEqual(await scheduleIds(app, plugin.id), [`job-${plugin.id}-b`]);
        assert.deepEqual(
          (await jobsOf(ten, "job-swap")).map((j) => [j.name, j.schedule]),
          [["b", "* * * * * *"]],
        );
        const [, bRuns] = await Promise.all([
          noCronRunsSince(app, plugin.id, "a", upgradedAt, 2500),
          cronRunsSince(app, plugin.id, "b", upgradedAt, 2),
        ]);
        for (const r of bRuns) assert.deepEqual(r.result, { job: "b", version: "2.0.0" });
        const listed = await runs(ten, "job-swap", "b");
        assert.ok(listed.length >= 2, `${listed.length} runs of b listed`);
        assert.deepEqual(listed.filter((r) => r.trigger !== "cron"), [], "only cron runs of b");

        const back = await ok(await ten.request("POST", "/api/plugins/job-swap/rollback"));
        const rolledBackAt = Date.now();
        assert.equal(back.plugin.version, "1.0.0");
        assert.equal(back.rolled_back_from, "2.0.0");
        assert.deepEqual(await scheduleIds(app, plugin.id), [`job-${plugin.id}-a`]);
        const [, aRuns] = await Promise.all([
          noCronRunsSince(app, plugin.id, "b", rolledBackAt, 2500),
          cronRunsSince(app, plugin.id, "a", rolledBackAt, 2),
        ]);
        for (const r of aRuns) assert.deepEqual(r.result, { job: "a", version: "1.0.0" });
        assert.deepEqual(
          (await jobsOf(ten, "job-swap")).map((j) => j.name),
          ["a"],
        );
      } finally {
        await uninstall(ten, "job-swap");
      }
    });
  });

  describe(`run-now (${engine})`, () => {
    test("run-now → 202 queued; the run succeeds with trigger manual and the handler gets {id, trigger, scheduled_for}", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      await installFixture(ten, "job-manual");
      const id = await runNow(ten, "job-manual", "echo");
      const run = await ended(ten, "job-manual", "echo", id);
      assert.equal(run.id, id);
      assert.equal(run.job, "echo");
      assert.equal(run.trigger, "manual");
      assert.equal(run.status, "succeeded");
      assert.equal(run.scheduled_for, null);
      assert.equal(run.error, null);
      assert.deepEqual(run.result, { run: { id, trigger: "manual", scheduled_for: null }, plugin: "job-manual" });
      assert.ok(ms(run.finished_at) >= ms(run.started_at), `finished ${run.finished_at} before started ${run.started_at}`);
      assert.deepEqual(
        run.logs?.map((l) => [l.level, l.message, l.fields]),
        [
          ["info", `echo ${id}`, null],
          ["info", "echo fields", { trigger: "manual" }],
        ],
      );
      assert.deepEqual((await runs(ten, "job-manual", "echo")).map((r) => r.id), [id]);
      const view = await jobsOf(ten, "job-manual");
      assert.deepEqual(
        view.find((j) => j.name === "echo")?.last_run,
        { id, status: "succeeded", trigger: "manual", finished_at: run.finished_at },
      );
    });

    test("unknown job → 404 job_not_found; unknown plugin → 404; member → 403; disabled plugin → 409 plugin_disabled", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      await installFixture(ten, "job-manual");
      await expectError(await ten.request("POST", "/api/plugins/job-manual/jobs/nope/run-now"), 404, "job_not_found");
      await expectError(await ten.request("GET", "/api/plugins/job-manual/jobs/nope/runs"), 404, "job_not_found");
      await expectError(await ten.request("POST", "/api/plugins/no-such-plugin/jobs/echo/run-now"), 404, "plugin_not_found");
      await expectError(await ten.request("POST", "/api/plugins/job-manual/jobs/echo/run-now", { token: ten.member }), 403, "forbidden");
      await expectError(await ten.request("GET", "/api/plugins/job-manual/jobs", { token: ten.member }), 403, "forbidden");
      await expectError(await ten.request("GET", "/api/plugins/job-manual/jobs/echo/runs", { token: ten.member }), 403, "forbidden");
      await expectError(await ten.request("POST", "/api/plugins/job-manual/jobs/echo/run-now", { token: null }), 401, "missing_token");

      assert.equal((await ok(await ten.request("POST", "/api/plugins/job-manual/disable"))).plugin.status, "disabled");
      const refused = await expectError(await ten.request("POST", "/api/plugins/job-manual/jobs/echo/run-now"), 409, "plugin_disabled");
      assert.match(refused.error.message, /disabled/);
      assert.deepEqual(await runs(ten, "job-manual", "echo"), [], "a refused run-now records nothing");
      assert.deepEqual(
        (await jobsOf(ten, "job-manual")).map((j) => [j.name, j.next_run, j.last_run]),
        [
          ["echo", null, null],
          ["boom", null, null],
          ["hang", null, null],
        ],
      );
      assert.equal((await ok(await ten.request("POST", "/api/plugins/job-manual/enable"))).plugin.status, "enabled");
      const id = await runNow(ten, "job-manual", "echo");
      assert.equal((await ended(ten, "job-manual", "echo", id)).status, "succeeded");
    });

    test("a job that outlives its timeout ends timed_out; a throwing job ends failed with the thrown message", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      await installFixture(ten, "job-manual");
      const hangId = await runNow(ten, "job-manual", "hang");
      const boomId = await runNow(ten, "job-manual", "boom");

      const boom = await ended(ten, "job-manual", "boom", boomId);
      assert.equal(boom.status, "failed");
      assert.equal(boom.error, `Error: kaboom in ${boomId}`);
      assert.equal(boom.result, null);
      assert.equal(boom.trigger, "manual");
      assert.ok(boom.logs?.some((l) => l.message === `about to fail ${boomId}`), JSON.stringify(boom.logs));

      const hang = await ended(ten, "job-manual", "hang", hangId);
      assert.equal(hang.status, "timed_out");
      assert.equal(hang.error, TIMEOUT_ERROR);
      assert.equal(hang.result, null);
      assert.ok(hang.duration_ms! >= JOB_TIMEOUT_MS - 100, `timed out after ${hang.duration_ms} ms`);
      assert.ok(hang.duration_ms! < JOB_TIMEOUT_MS + 5000, `timed out after ${hang.duration_ms} ms`);

      const view = Object.fromEntries((await jobsOf(ten, "job-manual")).map((j) => [j.name, j.last_run]));
      assert.deepEqual(view.boom, { id: boomId, status: "failed", trigger: "manual", finished_at: boom.finished_at });
      assert.deepEqual(view.hang, { id: hangId, status: "timed_out", trigger: "manual", finished_at: hang.finished_at });
      assert.equal(view.echo, null);
    });
  });

  describe(`overlap prevention (${engine})`, () => {
    test("run-now while a run is in progress → 409 job_running and a skipped run; accepted again once it ended", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      await installFixture(ten, "job-manual");
      const first = await runNow(ten, "job-manual", "hang");
      const body = await expectError(await ten.request("POST", "/api/plugins/job-manual/jobs/hang/run-now"), 409, "job_running");
      assert.equal(body.error.message, `skipped: run ${first} of this job is still running`);
      const skipped: JobRun = body.error.details.run;
      assert.match(skipped.id, UUID);
      assert.notEqual(skipped.id, first);
      assert.equal(skipped.job, "hang");
      assert.equal(skipped.trigger, "manual");
      assert.equal(skipped.status, "skipped");
      assert.equal(skipped.error, body.error.message);
      assert.equal(skipped.started_at, null);
      // Recorded as ended at once (finished_at is taken a moment before the row's created_at).
      assert.ok(Math.abs(ms(skipped.finished_at) - ms(skipped.created_at)) < 1000, `skipped run finished ${skipped.finished_at}, created ${skipped.created_at}`);
      // Another job of the same install is not blocked.
      const echo = await runNow(ten, "job-manual", "echo");

      const listed = await runs(ten, "job-manual", "hang");
      assert.deepEqual(listed.map((r) => r.id), [skipped.id, first]);
      assert.deepEqual(await getRun(ten, "job-manual", "hang", skipped.id), skipped);

      const done = await ended(ten, "job-manual", "hang", first);
      assert.equal(done.status, "timed_out");
      assert.equal(done.error, TIMEOUT_ERROR);
      assert.equal((await ended(ten, "job-manual", "echo", echo)).status, "succeeded");

      const again = await runNow(ten, "job-manual", "hang");
      assert.equal((await ended(ten, "job-manual", "hang", again)).status, "timed_out");
      assert.deepEqual(
        (await runs(ten, "job-manual", "hang")).map((r) => [r.id, r.status]),
        [
          [again, "timed_out"],
          [skipped.id, "skipped"],
          [first, "timed_out"],
        ],
      );
    });

    test("an every-second job that takes longer than a second: ticks meanwhile are skipped, never two runs at once", async (t) => {
      if (!(await ready(t))) return;
      const app = await main();
      const ten = await app.tenant();
      const plugin = await installFixture(ten, "job-overlap");
      let maxBusy = 0;
      let rows: DbRun[] = [];
      try {
        await eventually(
          "two timed-out runs and two skipped ticks",
          async () => {
            rows = await dbRuns(app, plugin.id, "crawl");
            const busy = rows.filter((r) => r.status === "queued" || r.status === "running").length;
            maxBusy = Math.max(maxBusy, busy);
            assert.ok(busy <= 1, `${busy} runs queued or running at once: ${JSON.stringify(rows.map((r) => [r.id, r.status]))}`);
            return rows.filter((r) => r.status === "timed_out").length >= 2 && rows.filter((r) => r.status === "skipped").length >= 2;
          },
          20_000,
          () => rows.map((r) => [r.status, r.scheduledFor?.toISOString(), r.error]),
        );
      } finally {
        assert.equal((await ok(await ten.request("POST", "/api/plugins/job-overlap/disable"))).plugin.status, "disabled");
      }
      assert.equal(maxBusy, 1, "a run was seen in progress");
      const disabledAt = Date.now();
      const byId = new Map(rows.map((r) => [r.id, r]));
      assertUnique(rows.map((r) => r.scheduledFor?.toISOString()), "scheduled_for");
      for (const r of rows) {
        assert.equal(r.trigger, "cron");
        assertWholeSecond(r.scheduledFor!.toISOString(), "scheduled_for");
      }
      const worked = rows.filter((r) => r.status !== "skipped");
      // Runs that did work never overlap: each starts after the previous one finished.
      const starts = worked.filter((r) => r.startedAt).sort((x, y) => x.startedAt!.getTime() - y.startedAt!.getTime());
      for (let i = 1; i < starts.length; i++) {
        const prev = starts[i - 1];
        assert.ok(prev.finishedAt, `run ${prev.id} had not finished when ${starts[i].id} started`);
        assert.ok(starts[i].startedAt!.getTime() >= prev.finishedAt.getTime(), `run ${starts[i].id} started before ${prev.id} finished`);
      }
      for (const r of worked.filter((w) => w.status === "timed_out")) {
        assert.equal(r.error, TIMEOUT_ERROR);
        assert.ok(r.durationMs! >= JOB_TIMEOUT_MS - 100, `timed out after ${r.durationMs} ms`);
      }
      for (const s of rows.filter((r) => r.status === "skipped")) {
        const m = SKIPPED.exec(s.error ?? "");
        assert.ok(m, `a skipped tick names the run in progress: ${s.error}`);
        const busy = byId.get(m[1]);
        assert.ok(busy && busy.status !== "skipped", `skipped ${s.id} names ${m[1]}, not a run of this job that did work`);
        assert.ok(s.createdAt >= busy.createdAt, `skipped ${s.id} before ${busy.id} existed`);
        assert.ok(!busy.finishedAt || s.createdAt <= busy.finishedAt, `skipped ${s.id} after ${busy.id} had finished`);
        assert.equal(s.startedAt, null);
        assert.ok(s.finishedAt, `skipped run ${s.id} has finished_at`);
      }
      // The API shows the same runs.
      const listed = await runs(ten, "job-overlap", "crawl");
      assert.ok(listed.some((r) => r.status === "skipped" && SKIPPED.test(r.error ?? "")), "GET …/runs lists the skipped ticks");
      await noCronRunsSince(app, plugin.id, "crawl", disabledAt, 300);
      await uninstall(ten, "job-overlap");
    });
  });

  describe(`run history API (${engine})`, () => {
    test("GET …/runs pages newest first with limit and before; GET …/runs/:runId; 404 for a bad id", async (t) => {
      if (!(await ready(t))) return;
      const app = await main();
      const ten = await app.tenant();
      await installFixture(ten, "job-manual");
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const id = await runNow(ten, "job-manual", "echo");
        assert.equal((await ended(ten, "job-manual", "echo", id)).status, "succeeded");
        ids.push(id);
      }
      const newest = [...ids].reverse();

      const all = await runsPage(ten, "job-manual", "echo");
      assert.deepEqual(all.runs.map((r) => r.id), newest);
      assert.equal(all.next_before, null);
      const p1 = await runsPage(ten, "job-manual", "echo", "limit=2");
      assert.deepEqual(p1.runs.map((r) => r.id), newest.slice(0, 2));
      assert.equal(p1.next_before, p1.runs[1].created_at);
      const p2 = await runsPage(ten, "job-manual", "echo", `limit=2&before=${encodeURIComponent(p1.next_before!)}`);
      assert.deepEqual(p2.runs.map((r) => r.id), newest.slice(2, 4));
      assert.equal(p2.next_before, p2.runs[1].created_at);
      const p3 = await runsPage(ten, "job-manual", "echo", `limit=2&before=${encodeURIComponent(p2.next_before!)}`);
      assert.deepEqual(p3.runs.map((r) => r.id), newest.slice(4));
      assert.equal(p3.next_before, null);
      assert.deepEqual([...p1.runs, ...p2.runs, ...p3.runs], all.runs);
      // Default page size is 20; limit is capped at 100.
      assert.equal((await runsPage(ten, "job-manual", "echo", "")).runs.length, 5);
      assert.equal((await runsPage(ten, "job-manual", "echo", "limit=1000")).runs.length, 5);
      await expectError(await ten.request("GET", "/api/plugins/job-manual/jobs/echo/runs?before=not-a-time"), 400, "invalid_request");

      const third = all.runs[2];
      assert.deepEqual(await getRun(ten, "job-manual", "echo", third.id), third);
      await expectError(await ten.request("GET", "/api/plugins/job-manual/jobs/echo/runs/not-a-uuid"), 404, "not_found");
      await expectError(await ten.request("GET", "/api/plugins/job-manual/jobs/echo/runs/00000000-0000-4000-8000-000000000000"), 404, "not_found");
      // A run is found only under its own job and its own tenant.
      await expectError(await ten.request("GET", `/api/plugins/job-manual/jobs/boom/runs/${third.id}`), 404, "not_found");
      await expectError(await ten.request("GET", `/api/plugins/job-manual/jobs/nope/runs/${third.id}`), 404, "job_not_found");
      const other = await app.tenant("other");
      await installFixture(other, "job-manual");
      await expectError(await other.request("GET", `/api/plugins/job-manual/jobs/echo/runs/${third.id}`), 404, "not_found");
      assert.deepEqual(await runs(other, "job-manual", "echo"), []);
    });
  });

  if (engine !== "bullmq") return;

  describe("BullMQ worker processes", () => {
    test("two worker processes: each tick of an every-second job runs exactly once", async (t) => {
      if (!(await ready(t))) return;
      const app = await appFor("no-worker", { worker: false });
      assert.equal(app.services.role, "api");
      const [w1, w2] = await Promise.all([app.spawnWorker({ LOG_LEVEL: "info" }), app.spawnWorker({ LOG_LEVEL: "info" })]);
      try {
        await Promise.all([booted(w1), booted(w2)]);
        const ten = await app.tenant();
        const plugin = await installFixture(ten, "job-clock");
        const [first] = await cronRunsSince(app, plugin.id, "tick", 0, 1, 15_000);
        const windowStart = first.scheduledFor!.getTime() + 1000;
        const windowEnd = windowStart + 5000;
        await cronRunsSince(app, plugin.id, "tick", windowEnd, 1, 10_000);
        const all = await dbRuns(app, plugin.id, "tick");
        assertUnique(all.map((r) => r.scheduledFor?.toISOString()), "scheduled_for");
        assert.deepEqual(all.filter((r) => r.status === "skipped").map((r) => r.error), [], "no tick was handled twice (a second copy would be skipped)");
        const inWindow = all.filter((r) => r.scheduledFor!.getTime() >= windowStart && r.scheduledFor!.getTime() < windowEnd);
        for (const r of all) assertWholeSecond(r.scheduledFor!.toISOString(), "scheduled_for");
        // One run per second: 5 at most; a late tick under load may be missed, never doubled.
        assert.ok(inWindow.length >= 3 && inWindow.length <= 5, `${inWindow.length} runs in 5 s: ${inWindow.map((r) => r.scheduledFor!.toISOString())}`);
        assert.deepEqual(
          all.filter((r) => r.trigger !== "cron" || (ENDED.has(r.status) && r.status !== "succeeded")).map((r) => [r.trigger, r.status, r.error]),
          [],
        );
        assert.deepEqual(await scheduleIds(app, plugin.id), [`job-${plugin.id}-new_year`, `job-${plugin.id}-tick`]);
        await uninstall(ten, "job-clock");
      } finally {
        await Promise.all([stop(w1), stop(w2)]);
      }
    });

    test("Redis loses its data: ticks stop; a new worker's boot puts the schedule back; booting again does not double ticks", async (t) => {
      if (!(await ready(t))) return;
      const app = await appFor("redis-restart", { worker: false });
      const queue = (app.services.executor as BullmqExecutor).queue;
      // Periodic resync off: this test is about what a boot does (the next test covers resync).
      const w1 = await app.spawnWorker({ LOG_LEVEL: "info", SCHEDULE_RESYNC_MS: "0" });
      const started: WorkerProcess[] = [w1];
      try {
        await booted(w1);
        const ten = await app.tenant();
        const plugin = await installFixture(ten, "job-clock");
        const ids = [`job-${plugin.id}-new_year`, `job-${plugin.id}-tick`];
        await cronRunsSince(app, plugin.id, "tick", 0, 2, 15_000);

        // "Restart" Redis between two ticks, while no run is in progress: everything under the
        // queue prefix is gone (this Redis keeps nothing on disk).
        await eventually("no tick run in progress", async () => (await dbRuns(app, plugin.id, "tick")).every((r) => ENDED.has(r.status)));
        const intoSecond = Date.now() % 1000;
        if (intoSecond < 300 || intoSecond > 600) await sleep((1400 - intoSecond) % 1000);
        await deleteRedisKeys(redisUrl(), app.queuePrefix!);
        const wipedAt = Date.now();
        assert.deepEqual(await scheduleIds(app, plugin.id), []);
        // The worker is still running, but no tick comes.
        await noCronRunsSince(app, plugin.id, "tick", wipedAt, 2500);
        assert.equal(await Promise.race([w1.exited.then(() => "exited"), sleep(10).then(() => "running")]), "running");

        // A new worker process boots: its syncAll upserts the schedulers again.
        const w2 = await app.spawnWorker({ LOG_LEVEL: "info", SCHEDULE_RESYNC_MS: "0" });
        started.push(w2);
        const bootedAt = await booted(w2);
        assert.deepEqual(await scheduleIds(app, plugin.id), ids);
        await cronRunsSince(app, plugin.id, "tick", bootedAt, 2);

        // The same worker restarted: a second boot upserts the same schedulers, nothing doubles.
        await stop(w2);
        const w3 = await app.spawnWorker({ LOG_LEVEL: "info", SCHEDULE_RESYNC_MS: "0" });
        started.push(w3);
        const rebootedAt = await booted(w3);
        const windowStart = Math.ceil(rebootedAt / 1000) * 1000;
        const windowEnd = windowStart + 4000;
        await cronRunsSince(app, plugin.id, "tick", windowEnd, 1);
        assert.deepEqual(await scheduleIds(app, plugin.id), ids);
        const all = await dbRuns(app, plugin.id, "tick");
        assertUnique(all.map((r) => r.scheduledFor?.toISOString()), "scheduled_for");
        // A tick that found the previous one still running (a loaded machine) is skipped for that
        // reason; any other skip would be a tick handled twice.
        const doubled = all.filter((r) => r.status === "skipped" && !/is still running$/.test(r.error ?? ""));
        assert.deepEqual(doubled.map((r) => r.error), [], "no tick was handled twice");
        const inWindow = all.filter((r) => r.scheduledFor!.getTime() >= windowStart && r.scheduledFor!.getTime() < windowEnd);
        assert.ok(inWindow.length >= 2 && inWindow.length <= 4, `${inWindow.length} runs in 4 s: ${inWindow.map((r) => r.scheduledFor!.toISOString())}`);
        // One pending tick per scheduler in Redis, not one per boot.
        const pending = (await queue.getJobs(["delayed", "waiting", "prioritized"])).filter((j) => j?.name === "job-tick" && String(j.data?.id).startsWith(`job-${plugin.id}-`));
        assert.deepEqual(
          pending.map((j) => j.data.id).sort(),
          ids,
        );
        await uninstall(ten, "job-clock");
      } finally {
        for (const w of started) await stop(w);
      }
    });

    test("Redis loses its data: a running worker's periodic resync brings the ticks back without a reboot", async (t) => {
      if (!(await ready(t))) return;
      const app = await appFor("redis-resync", { worker: false });
      const w = await app.spawnWorker({ LOG_LEVEL: "info", SCHEDULE_RESYNC_MS: "1000" });
      try {
        await booted(w);
        const ten = await app.tenant();
        const plugin = await installFixture(ten, "job-clock");
        const ids = [`job-${plugin.id}-new_year`, `job-${plugin.id}-tick`];
        await cronRunsSince(app, plugin.id, "tick", 0, 2, 15_000);
        await deleteRedisKeys(redisUrl(), app.queuePrefix!);
        const wipedAt = Date.now();
        // Within a resync period or two the same worker has put both schedulers back…
        await eventually("schedulers re-upserted", async () => JSON.stringify(await scheduleIds(app, plugin.id)) === JSON.stringify(ids), 10_000);
        // …and ticks after the wipe run again, still once per scheduled second.
        await cronRunsSince(app, plugin.id, "tick", wipedAt, 2, 15_000);
        const all = await dbRuns(app, plugin.id, "tick");
        assertUnique(all.map((r) => r.scheduledFor?.toISOString()), "scheduled_for");
        await uninstall(ten, "job-clock");
      } finally {
        await stop(w);
      }
    });

    // Any number of API and worker processes run; each one's boot reconciles every schedule
    // (syncAll). A plugin installed while another process boots must keep its schedule. The
    // interleaving is forced: the booting process's final look at Redis is held until the
    // install (upload → upsertJobScheduler in the API process) has finished.
    test("a plugin installed while another process boots keeps its schedule (syncAll does not remove it)", async (t) => {
      if (!(await ready(t))) return;
      const app = await appFor("boot-race");
      const ten = await app.tenant();
      const booting = await app.startConsumer();
      const scheduler = booting.schedules as unknown as { existing: () => Promise<string[]> };
      const original = scheduler.existing;
      let plugin: { id: string } | undefined;
      // No install has jobs yet, so syncAll's only look at Redis is the one after its database read.
      scheduler.existing = async function (this: unknown) {
        scheduler.existing = original;
        plugin = await installFixture(ten, "job-clock");
        assert.deepEqual(await scheduleIds(app, plugin.id), [`job-${plugin.id}-new_year`, `job-${plugin.id}-tick`], "the upload put the schedules in place");
        return original.call(this);
      };
      try {
        await booting.schedules.syncAll();
      } finally {
        scheduler.existing = original;
      }
      assert.ok(plugin, "the install ran during syncAll");
      const installed = (await ok(await ten.request("GET", "/api/plugins/job-clock"))).plugin;
      assert.equal(installed.status, "enabled");
      assert.deepEqual(
        await scheduleIds(app, plugin.id),
        [`job-${plugin.id}-new_year`, `job-${plugin.id}-tick`],
        "the enabled install's schedules were removed by the other process's boot (syncAll)",
      );
      const installedAt = Date.now();
      await cronRunsSince(app, plugin.id, "tick", installedAt, 1, 5000);
      await uninstall(ten, "job-clock");
    });

    // The same race for an upgrade: the booting process read the install at v1; the upgrade to
    // v2 (job a → job b) commits and updates the schedulers before the boot gets to this install.
    test("an install upgraded while another process boots keeps the new version's schedules", async (t) => {
      if (!(await ready(t))) return;
      const app = await appFor("boot-race");
      const ten = await app.tenant();
      const plugin = await installFixture(ten, "job-swap-v1");
      try {
        assert.deepEqual(await scheduleIds(app, plugin.id), [`job-${plugin.id}-a`]);
        const booting = await app.startConsumer();
        // syncAll applies each install it read through `apply`; the upgrade lands just before.
        const scheduler = booting.schedules as unknown as { apply: (install: { id: string }, existing: string[]) => Promise<string[]> };
        const original = scheduler.apply;
        let upgraded = false;
        scheduler.apply = async function (this: unknown, install: { id: string }, existing: string[]) {
          if (install.id === plugin.id && !upgraded) {
            upgraded = true;
            const up = await ok(await ten.upload(fixtureZip("job-swap-v2")));
            assert.equal(up.plugin.version, "2.0.0");
            assert.deepEqual(await scheduleIds(app, plugin.id), [`job-${plugin.id}-b`], "the upgrade put b's schedule in place");
          }
          return original.call(this, install, existing);
        };
        try {
          await booting.schedules.syncAll();
        } finally {
          scheduler.apply = original;
        }
        assert.ok(upgraded, "the upgrade ran during syncAll");
        assert.equal((await ok(await ten.request("GET", "/api/plugins/job-swap"))).plugin.version, "2.0.0");
        assert.deepEqual(
          await scheduleIds(app, plugin.id),
          [`job-${plugin.id}-b`],
          "the other process's boot put back the schedules of the version it had read (v1)",
        );
        await cronRunsSince(app, plugin.id, "b", Date.now(), 1, 5000);
      } finally {
        await uninstall(ten, "job-swap");
      }
    });
  });
}
