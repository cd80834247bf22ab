import { test, describe, before, after, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import type { SqlExec } from "../../src/db/database.ts";
import { EventBudget } from "../../src/events/event-budget.ts";
import { RateLimits } from "../../src/limits/rate-limits.ts";
import { createLogger } from "../../src/logger.ts";
import { Metrics, type MetricSources } from "../../src/metrics/metrics.ts";
import { LOCK_SQL, UNLOCK_SQL } from "../../src/retention/retention-sql.ts";
import { RetentionSweeper, type RetentionDays, type RetentionOptions } from "../../src/retention/retention-sweeper.ts";
import { eventually, sleep } from "../support/eventually.ts";
import { postgresAvailable, requireOrSkip } from "../support/services.ts";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database.ts";

// The sweep on each engine, over rows back-dated with SQL: what is old and finished goes, what is
// recent or still pending stays, in batches, and only while nobody else holds the sweep's lock.

const pgUp = await postgresAvailable();
const logger = createLogger("silent");
const DAYS: RetentionDays = { invocations: 14, events: 30, jobRuns: 30, deliveries: 30, audit: 365, usage: 400, emails: 30 };
const uid = () => randomBytes(4).toString("hex");

/** A tenant with one install, the owner of every row below. */
async function seedInstall(sql: SqlExec): Promise<{ tenantId: string; installId: string }> {
  const tenantId = randomUUID();
  const versionId = randomUUID();
  const installId = randomUUID();
  await sql.query(`INSERT INTO tenants (id, slug, name) VALUES ($1, $2, 'Retention')`, [tenantId, `ret-${uid()}`]);
  await sql.query(
    `INSERT INTO plugin_versions (id, tenant_id, slug, version, manifest, registered, bundle, sha256)
     VALUES ($1, $2, 'keeper', '1.0.0', '{}', '{}', '\\x00', '00')`,
    [versionId, tenantId],
  );
  await sql.query(`INSERT INTO installs (id, tenant_id, slug, status, current_version_id) VALUES ($1, $2, 'keeper', 'enabled', $3)`, [
    installId,
    tenantId,
    versionId,
  ]);
  return { tenantId, installId };
}

/** Rows of each kind, `daysAgo` old; returns their ids. */
class Rows {
  constructor(
    private readonly sql: SqlExec,
    private readonly owner: { tenantId: string; installId: string },
  ) {}

  async invocation(daysAgo: number): Promise<string> {
    const id = randomUUID();
    await this.sql.query(
      `INSERT INTO invocations (id, tenant_id, install_id, kind, name, status, duration_ms, created_at)
       VALUES ($1, $2, $3, 'route', 'GET /x', 'ok', 1, now() - make_interval(days => $4))`,
      [id, this.owner.tenantId, this.owner.installId, daysAgo],
    );
    return id;
  }

  async log(daysAgo: number, invocationId: string | null): Promise<string> {
    const [row] = await this.sql.query<{ id: string }>(
      `INSERT INTO plugin_logs (install_id, invocation_id, level, message, created_at)
       VALUES ($1, $2, 'info', 'hello', now() - make_interval(days => $3)) RETURNING id::text`,
      [this.owner.installId, invocationId, daysAgo],
    );
    return row!.id;
  }

  /** An event; with `rootId`, one emitted in the chain that event started. */
  async event(daysAgo: number, rootId: string | null = null): Promise<string> {
    const id = randomUUID();
    await this.sql.query(
      `INSERT INTO events (id, tenant_id, type, data, source, occurred_at, root_id)
       VALUES ($1, $2, 'build.completed', '{}', 'test', now() - make_interval(days => $3), $4::uuid)`,
      [id, this.owner.tenantId, daysAgo, rootId],
    );
    return id;
  }

  /** A hook run of the event; its own install, since (event, install) is unique. */
  async hookRun(eventId: string, status: string, daysAgo: number): Promise<string> {
    const id = randomUUID();
    const { installId } = await seedInstallFor(this.sql, this.owner.tenantId);
    await this.sql.query(
      `INSERT INTO hook_runs (id, event_id, tenant_id, install_id, event_type, status, max_attempts, created_at, finished_at)
       VALUES ($1, $2, $3, $4, 'build.completed', $5, 3, now() - make_interval(days => $6),
               CASE WHEN $5 = 'pending' THEN NULL ELSE now() - make_interval(days => $6) END)`,
      [id, eventId, this.owner.tenantId, installId, status, daysAgo],
    );
    return id;
  }

  async delivery(eventId: string, status: string, createdDaysAgo: number, finishedDaysAgo: number | null): Promise<string> {
    const id = randomUUID();
    await this.sql.query(
      `INSERT INTO webhook_deliveries (id, tenant_id, install_id, event_id, webhook, event_type, status, max_attempts, created_at, finished_at)
       VALUES ($1, $2, $3, $4, $5, 'build.completed', $6, 6, now() - make_interval(days => $7),
               CASE WHEN $8::int IS NULL THEN NULL ELSE now() - make_interval(days => $8::int) END)`,
      [id, this.owner.tenantId, this.owner.installId, eventId, `hook-${uid()}`, status, createdDaysAgo, finishedDaysAgo],
    );
    return id;
  }

  async attempt(deliveryId: string, n: number, daysAgo: number): Promise<void> {
    await this.sql.query(
      `INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code)
       VALUES ($1, $2, now() - make_interval(days => $3), 5, 500)`,
      [deliveryId, n, daysAgo],
    );
  }

  async jobRun(status: string, daysAgo: number): Promise<string> {
    const id = randomUUID();
    await this.sql.query(
      `INSERT INTO job_runs (id, tenant_id, install_id, job_name, trigger, status, created_at)
       VALUES ($1, $2, $3, 'nightly', 'cron', $4, now() - make_interval(days => $5))`,
      [id, this.owner.tenantId, this.owner.installId, status, daysAgo],
    );
    return id;
  }

  async audit(daysAgo: number): Promise<string> {
    const id = randomUUID();
    await this.sql.query(
      `INSERT INTO audit_log (id, tenant_id, actor, actor_role, action, target_type, target_id, created_at)
       VALUES ($1, $2, 'u1', 'admin', 'plugin.enabled', 'plugin', 'x', now() - make_interval(days => $3))`,
      [id, this.owner.tenantId, daysAgo],
    );
    return id;
  }

  async email(daysAgo: number): Promise<string> {
    const id = randomUUID();
    await this.sql.query(
      `INSERT INTO email_messages (id, tenant_id, install_id, recipients, subject, status, created_at)
       VALUES ($1, $2, $3, '["a@example.com"]', 'hi', 'stored', now() - make_interval(days => $4))`,
      [id, this.owner.tenantId, this.owner.installId, daysAgo],
    );
    return id;
  }

  async usage(daysAgo: number): Promise<string> {
    const [row] = await this.sql.query<{ id: string }>(
      `INSERT INTO usage_counters (tenant_id, install_id, metric, day, value)
       VALUES ($1, $2, $3, (now() - make_interval(days => $4))::date, 7) RETURNING id::text`,
      [this.owner.tenantId, this.owner.installId, `ctx.db.query:ok-${uid()}`, daysAgo],
    );
    return row!.id;
  }
}

async function seedInstallFor(sql: SqlExec, tenantId: string): Promise<{ installId: string }> {
  const versionId = randomUUID();
  const installId = randomUUID();
  const slug = `p-${uid()}`;
  await sql.query(
    `INSERT INTO plugin_versions (id, tenant_id, slug, version, manifest, registered, bundle, sha256)
     VALUES ($1, $2, $3, '1.0.0', '{}', '{}', '\\x00', '00')`,
    [versionId, tenantId, slug],
  );
  await sql.query(`INSERT INTO installs (id, tenant_id, slug, status, current_version_id) VALUES ($1, $2, $3, 'enabled', $4)`, [
    installId,
    tenantId,
    slug,
    versionId,
  ]);
  return { installId };
}

/** Which of the ids are still in the table. */
async function present(sql: SqlExec, table: string, ids: string[], column = "id"): Promise<string[]> {
  const rows = await sql.query<{ id: string }>(`SELECT ${column}::text AS id FROM ${table} WHERE ${column}::text = ANY($1::text[])`, [ids]);
  return rows.map((r) => r.id).sort();
}

function sweeper(sql: SqlExec, opts: Partial<RetentionOptions> = {}, metrics?: Metrics): RetentionSweeper {
  return new RetentionSweeper(
    { sql, logger, pruned: metrics?.retentionPruned },
    { sweepMs: 0, batchSize: 5000, days: DAYS, ...opts },
  );
}

// Only the retention counter is read, so the gauges' sources never are.
const newMetrics = () => new Metrics({ sandbox: () => ({}) as ReturnType<MetricSources["sandbox"]>, queueDepth: async () => 0 });

for (const kind of databaseKinds()) {
  describe(`retention sweep on ${kind}`, () => {
    let tdb: TestDatabase | undefined;
    const sql = () => tdb!.db.sql;
    const ready = async (t: TestContext) => kind === "pglite" || (await requireOrSkip(t, "postgres", pgUp));

    before(async () => {
      if (kind === "pglite" || pgUp) tdb = await createTestDatabase(kind);
    });
    after(async () => tdb?.drop());

    test("old finished history goes; recent rows and pending work stay; counted per kind and in /metrics", async (t) => {
      if (!(await ready(t))) return;
      const rows = new Rows(sql(), await seedInstall(sql()));

      const oldCalls = [await rows.invocation(20), await rows.invocation(15)];
      const newCall = await rows.invocation(2);
      const oldLogs = [await rows.log(20, oldCalls[0]!), await rows.log(20, oldCalls[0]!), await rows.log(15, oldCalls[1]!)];
      const orphanOld = await rows.log(40, null);
      const keptLogs = [await rows.log(2, newCall), await rows.log(1, null)];

      // Events: finished hook runs → gone with them; a pending hook run or any delivery keeps one.
      const doneEvent = await rows.event(40);
      const doneRuns = [await rows.hookRun(doneEvent, "succeeded", 40), await rows.hookRun(doneEvent, "failed", 40)];
      const pendingRunEvent = await rows.event(40);
      const pendingRun = await rows.hookRun(pendingRunEvent, "pending", 40);
      const deliveredEvent = await rows.event(40);
      const oldDelivery = await rows.delivery(deliveredEvent, "delivered", 40, 39);
      await rows.attempt(oldDelivery, 1, 40);
      await rows.attempt(oldDelivery, 2, 39);
      const pendingDeliveryEvent = await rows.event(40);
      const pendingDelivery = await rows.delivery(pendingDeliveryEvent, "pending", 40, null);
      await rows.attempt(pendingDelivery, 1, 40);
      const replayedEvent = await rows.event(40);
      // Created long ago, finished yesterday (a replay): its clock is when it finished.
      const replayed = await rows.delivery(replayedEvent, "failed", 40, 1);
      const newEvent = await rows.event(3);
      const newRun = await rows.hookRun(newEvent, "succeeded", 3);

      const oldJobs = [await rows.jobRun("succeeded", 40), await rows.jobRun("failed", 40), await rows.jobRun("timed_out", 40), await rows.jobRun("skipped", 40)];
      const busyJobs = [await rows.jobRun("queued", 40), await rows.jobRun("running", 40)];
      const newJob = await rows.jobRun("succeeded", 3);

      const oldAudit = await rows.audit(400);
      const keptAudit = await rows.audit(100);
      const oldUsage = await rows.usage(500);
      const keptUsage = [await rows.usage(0), await rows.usage(300)];
      const oldEmail = await rows.email(40);
      const keptEmail = await rows.email(3);

      const metrics = newMetrics();
      const result = await sweeper(sql(), {}, metrics).sweep();
      assert.equal(result.skipped, undefined);
      assert.deepEqual(result.pruned, {
        invocations: 2,
        plugin_logs: 4,
        job_runs: 4,
        webhook_deliveries: 1,
        webhook_attempts: 2,
        events: 2,
        hook_runs: 2,
        audit_log: 1,
        usage_counters: 1,
        email_messages: 1,
      });

      assert.deepEqual(await present(sql(), "invocations", [...oldCalls, newCall]), [newCall]);
      assert.deepEqual(await present(sql(), "plugin_logs", [...oldLogs, orphanOld, ...keptLogs]), [...keptLogs].sort());
      assert.deepEqual(await present(sql(), "events", [doneEvent, pendingRunEvent, deliveredEvent, pendingDeliveryEvent, replayedEvent, newEvent]), [pendingRunEvent, pendingDeliveryEvent, replayedEvent, newEvent].sort());
      assert.deepEqual(await present(sql(), "hook_runs", [...doneRuns, pendingRun, newRun]), [pendingRun, newRun].sort());
      assert.deepEqual(await present(sql(), "webhook_deliveries", [oldDelivery, pendingDelivery, replayed]), [pendingDelivery, replayed].sort());
      assert.deepEqual(await present(sql(), "webhook_attempts", [oldDelivery, pendingDelivery], "delivery_id"), [pendingDelivery]);
      assert.deepEqual(await present(sql(), "job_runs", [...oldJobs, ...busyJobs, newJob]), [...busyJobs, newJob].sort());
      assert.deepEqual(await present(sql(), "audit_log", [oldAudit, keptAudit]), [keptAudit]);
      assert.deepEqual(await present(sql(), "usage_counters", [oldUsage, ...keptUsage]), [...keptUsage].sort());
      assert.deepEqual(await present(sql(), "email_messages", [oldEmail, keptEmail]), [keptEmail]);

      const text = await metrics.registry.getSingleMetricAsString("sbh_retention_pruned_rows_total");
      assert.match(text, /sbh_retention_pruned_rows_total\{kind="invocations"\} 2\b/);
      assert.match(text, /sbh_retention_pruned_rows_total\{kind="plugin_logs"\} 4\b/);
      assert.match(text, /sbh_retention_pruned_rows_total\{kind="webhook_attempts"\} 2\b/);
      assert.match(text, /sbh_retention_pruned_rows_total\{kind="usage_counters"\} 1\b/);

      // Nothing left to do: a second sweep deletes nothing and counts nothing more.
      const again = await sweeper(sql(), {}, metrics).sweep();
      assert.ok(Object.values(again.pruned).every((n) => n === 0), JSON.stringify(again.pruned));
      assert.match(await metrics.registry.getSingleMetricAsString("sbh_retention_pruned_rows_total"), /kind="invocations"\} 2\b/);
    });

    test("deletes in batches of at most RETENTION_BATCH_SIZE until a batch comes back short", async (t) => {
      if (!(await ready(t))) return;
      const rows = new Rows(sql(), await seedInstall(sql()));
      const calls: string[] = [];
      const events: string[] = [];
      for (let i = 0; i < 5; i++) {
        calls.push(await rows.invocation(30 + i));
        const event = await rows.event(60 + i);
        await rows.hookRun(event, "succeeded", 60 + i);
        events.push(event);
      }
      // The statements as the database gets them: the limit each invocations batch carried.
      const seen: number[] = [];
      const watch = (inner: SqlExec): SqlExec => ({
        query: <T>(text: string, params?: unknown[]) => {
          if (text.includes("DELETE FROM invocations")) seen.push(Number(params![1]));
          return inner.query<T>(text, params);
        },
        exec: (text) => inner.exec(text),
        session: (fn) => inner.session!((conn) => fn(watch(conn))),
      });
      const result = await sweeper(watch(sql()), { batchSize: 2 }).sweep();
      assert.equal(result.pruned.invocations, 5);
      assert.equal(result.batches.invocations, 3, "2 + 2 + 1");
      assert.deepEqual(seen, [2, 2, 2], "every statement was limited to the batch size");
      assert.equal(result.pruned.events, 5);
      assert.equal(result.pruned.hook_runs, 5);
      assert.equal(result.batches.events, 3);
      assert.deepEqual(await present(sql(), "invocations", calls), []);
      assert.deepEqual(await present(sql(), "events", events), []);

      // Exactly a multiple of the batch: one more statement finds nothing and ends the loop.
      for (let i = 0; i < 4; i++) await rows.audit(400 + i);
      const even = await sweeper(sql(), { batchSize: 2 }).sweep();
      assert.equal(even.pruned.audit_log, 4);
      assert.equal(even.batches.audit_log, 3);
    });

    test("a parent with more children than a batch goes in statements that each delete at most a batch, cascades included", async (t) => {
      if (!(await ready(t))) return;
      const rows = new Rows(sql(), await seedInstall(sql()));
      const big = await rows.invocation(20);
      const small = await rows.invocation(19);
      const kept = await rows.invocation(1);
      const bigLogs: string[] = [];
      for (let i = 0; i < 7; i++) bigLogs.push(await rows.log(20, big));
      const smallLog = await rows.log(19, small);
      const keptLog = await rows.log(1, kept);
      const event = await rows.event(40);
      const runs: string[] = [];
      for (let i = 0; i < 4; i++) runs.push(await rows.hookRun(event, "succeeded", 40));

      // What each statement took from these tables, whatever deleted it (a cascade too): counted
      // around every statement on the sweep's own connection, where each runs as its own
      // transaction.
      const tables = ["invocations", "plugin_logs", "events", "hook_runs"];
      const total = async (conn: SqlExec) => {
        const [row] = await conn.query<{ n: number }>(`SELECT (${tables.map((x) => `(SELECT count(*) FROM ${x})`).join(" + ")})::int AS n`);
        return Number(row!.n);
      };
      const took: number[] = [];
      const watch = (inner: SqlExec): SqlExec => ({
        query: async <T>(text: string, params?: unknown[]) => {
          if (!text.includes("DELETE")) return inner.query<T>(text, params);
          const before = await total(inner);
          const answer = await inner.query<T>(text, params);
          took.push(before - (await total(inner)));
          return answer;
        },
        exec: (text) => inner.exec(text),
        session: (fn) => inner.session!((conn) => fn(watch(conn))),
      });
      const metrics = newMetrics();
      const result = await sweeper(watch(sql()), { batchSize: 3 }, metrics).sweep();

      assert.ok(took.every((n) => n <= 3), `rows deleted per statement: ${JSON.stringify(took)}`);
      assert.equal(took.reduce((a, b) => a + b, 0), 2 + 8 + 1 + 4, "every row deleted is one of these");
      assert.equal(result.pruned.invocations, 2);
      assert.equal(result.pruned.plugin_logs, 8);
      assert.equal(result.pruned.events, 1);
      assert.equal(result.pruned.hook_runs, 4);
      const text = await metrics.registry.getSingleMetricAsString("sbh_retention_pruned_rows_total");
      assert.match(text, /kind="invocations"\} 2\b/);
      assert.match(text, /kind="plugin_logs"\} 8\b/);
      assert.match(text, /kind="events"\} 1\b/);
      assert.match(text, /kind="hook_runs"\} 4\b/);
      assert.deepEqual(await present(sql(), "invocations", [big, small, kept]), [kept]);
      assert.deepEqual(await present(sql(), "plugin_logs", [...bigLogs, smallLog, keptLog]), [keptLog]);
      assert.deepEqual(await present(sql(), "hook_runs", runs), []);
      assert.deepEqual(await present(sql(), "events", [event]), []);
    });

    test("an old root stays while its chain is live, so emits under it are still counted; it goes with its chain once all is old", async (t) => {
      if (!(await ready(t))) return;
      const owner = await seedInstall(sql());
      const rows = new Rows(sql(), owner);
      const root = await rows.event(40);
      const oldChild = await rows.event(40, root);
      await rows.hookRun(oldChild, "succeeded", 40);
      const newChild = await rows.event(2, root);
      // An old chain whose last event's hook is still retrying: that hook may emit under the root.
      const retryingRoot = await rows.event(50);
      const retrying = await rows.event(45, retryingRoot);
      const retryRun = await rows.hookRun(retrying, "pending", 45);
      const loneRoot = await rows.event(40);

      const first = await sweeper(sql()).sweep();
      assert.deepEqual(await present(sql(), "events", [root, oldChild, newChild]), [root, newChild].sort());
      assert.deepEqual(await present(sql(), "events", [retryingRoot, retrying, loneRoot]), [retryingRoot, retrying].sort());
      assert.equal(first.pruned.events, 2, "the old child and the root without a chain");

      const limits = new RateLimits({ prefix: `test-${randomUUID()}`, logger });
      t.after(() => limits.close());
      const budget = new EventBudget({ sql: sql(), limits }, { treeMax: 5, emitRate: 100, emitPeriodSeconds: 60 });
      const lines: string[] = [];
      await budget.take(owner.tenantId, root, (m) => lines.push(m));
      await budget.take(owner.tenantId, retryingRoot, (m) => lines.push(m));
      assert.deepEqual(lines, []);
      const counts = await sql().query<{ id: string; descendants: number }>(
        "SELECT id::text AS id, descendants FROM events WHERE id = ANY($1::uuid[]) ORDER BY id",
        [[root, retryingRoot]],
      );
      assert.deepEqual(counts.map((c) => Number(c.descendants)), [1, 1]);

      // The whole chain old, the retry finished: each root goes in the same sweep as its chain.
      await sql().query("UPDATE events SET occurred_at = now() - make_interval(days => 40) WHERE id = $1::uuid", [newChild]);
      await sql().query("UPDATE hook_runs SET status = 'failed', finished_at = now() - make_interval(days => 40) WHERE id = $1::uuid", [retryRun]);
      const second = await sweeper(sql()).sweep();
      assert.deepEqual(await present(sql(), "events", [root, newChild, retryingRoot, retrying]), []);
      assert.equal(second.pruned.events, 4);
      assert.equal(second.pruned.hook_runs, 1);
    });

    test("a day setting of 0 keeps that kind forever", async (t) => {
      if (!(await ready(t))) return;
      const rows = new Rows(sql(), await seedInstall(sql()));
      const ancient = await rows.audit(5000);
      const old = await rows.invocation(100);
      const result = await sweeper(sql(), { days: { ...DAYS, audit: 0 } }).sweep();
      assert.equal(result.batches.audit_log, 0);
      assert.deepEqual(await present(sql(), "audit_log", [ancient]), [ancient]);
      assert.deepEqual(await present(sql(), "invocations", [old]), []);
    });

    test("while another session holds the sweep's lock, a sweep skips and deletes nothing", async (t) => {
      if (!(await ready(t))) return;
      const rows = new Rows(sql(), await seedInstall(sql()));
      const old = await rows.invocation(30);
      // Another process sweeping: on Postgres a connection of its own; PGlite is one backend, so
      // a lock taken outside the sweep in that backend stands in for it.
      let holder: pg.Client | undefined;
      if (kind === "postgres") {
        holder = new pg.Client({ connectionString: tdb!.url });
        await holder.connect();
        await holder.query(LOCK_SQL);
      } else {
        await sql().query(LOCK_SQL);
      }
      try {
        const skipped = await sweeper(sql()).sweep();
        assert.equal(skipped.skipped, "locked");
        assert.ok(Object.values(skipped.pruned).every((n) => n === 0));
        assert.deepEqual(await present(sql(), "invocations", [old]), [old]);
      } finally {
        if (holder) await holder.end();
        else await sql().query(UNLOCK_SQL);
      }
      const done = await sweeper(sql()).sweep();
      assert.equal(done.skipped, undefined);
      assert.ok(done.pruned.invocations >= 1);
      assert.deepEqual(await present(sql(), "invocations", [old]), []);
      // The sweep let go of its lock: the next one runs too.
      assert.equal((await sweeper(sql()).sweep()).skipped, undefined);
    });

    test("a second sweep of the same process while one runs skips; start() sweeps soon; stop() waits", async (t) => {
      if (!(await ready(t))) return;
      const rows = new Rows(sql(), await seedInstall(sql()));
      const s = sweeper(sql());
      const first = s.sweep();
      const second = await s.sweep();
      assert.equal(second.skipped, "running");
      assert.equal((await first).skipped, undefined);

      const old = await rows.invocation(30);
      const timed = sweeper(sql(), { sweepMs: 60_000, firstDelayMs: 10 });
      timed.start();
      try {
        await eventually("the first timed sweep", async () => (await present(sql(), "invocations", [old])).length === 0 || undefined, 5000);
      } finally {
        await timed.stop();
      }
      assert.equal((await timed.sweep()).skipped, "stopped");

      // RETENTION_SWEEP_MS=0: start() schedules nothing.
      const later = await rows.invocation(30);
      const off = sweeper(sql(), { sweepMs: 0, firstDelayMs: 0 });
      off.start();
      await sleep(100);
      await off.stop();
      assert.deepEqual(await present(sql(), "invocations", [later]), [later]);
    });
  });
}
