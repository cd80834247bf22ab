import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { createPglite, openDatabase, pgliteExec, poolExec, type SqlExec } from "../../src/db/database.ts";
import {
  applyMigrations,
  DEFAULT_MIGRATIONS_DIR,
  MIGRATION_LOCK_ID,
  MigrationError,
  migrationChecksum,
  type MigrationLogger,
} from "../../src/db/migrate.ts";
import { postgresAvailable, requireOrSkip } from "../support/services.ts";
import { createEmptyPostgresDatabase, databaseKinds, type DatabaseKind } from "../support/test-database.ts";

const INIT = "20261121000000_init";
const pgUp = await postgresAvailable();

interface Target {
  /** A new SqlExec on the database (on Postgres: its own pool, so its own sessions). */
  sql(): SqlExec;
  close(): Promise<void>;
}

async function emptyTarget(kind: DatabaseKind): Promise<Target> {
  if (kind === "pglite") {
    const lite = await createPglite();
    return { sql: () => pgliteExec(lite), close: () => lite.close() };
  }
  const empty = await createEmptyPostgresDatabase();
  const pools: pg.Pool[] = [];
  return {
    sql() {
      const pool = new pg.Pool({ connectionString: empty.url, max: 2 });
      pools.push(pool);
      return poolExec(pool);
    },
    async close() {
      await Promise.all(pools.map((p) => p.end()));
      await empty.drop();
    },
  };
}

async function migrationsDir(extra: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "sbh-migrations-"));
  await cp(path.join(DEFAULT_MIGRATIONS_DIR, INIT), path.join(dir, INIT), { recursive: true });
  for (const [name, script] of Object.entries(extra)) {
    await mkdir(path.join(dir, name));
    await writeFile(path.join(dir, name, "migration.sql"), script);
  }
  return dir;
}

interface Row {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}

const history = (sql: SqlExec) =>
  sql.query<Row>(`SELECT * FROM _prisma_migrations ORDER BY started_at, migration_name`);

const tableExists = async (sql: SqlExec, name: string) =>
  (await sql.query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [name]))[0]!.t !== null;

function spyLog(): MigrationLogger & { messages: string[] } {
  const messages: string[] = [];
  return { messages, info: (_f, msg) => messages.push(msg), warn: (_f, msg) => messages.push(`warn: ${msg}`) };
}

for (const kind of databaseKinds()) {
  const ready = async (t: import("node:test").TestContext) =>
    kind === "pglite" || (await requireOrSkip(t, "postgres", pgUp));

  describe(`migrations on ${kind}`, () => {
    test("an empty database gets the init migration, recorded as Prisma records it", async (t) => {
      if (!(await ready(t))) return;
      const target = await emptyTarget(kind);
      try {
        const sql = target.sql();
        assert.deepEqual(await applyMigrations(sql), [INIT]);
        const script = await readFile(path.join(DEFAULT_MIGRATIONS_DIR, INIT, "migration.sql"), "utf8");
        const rows = await history(sql);
        assert.equal(rows.length, 1);
        const [row] = rows;
        assert.equal(row!.migration_name, INIT);
        assert.equal(row!.checksum, migrationChecksum(script));
        assert.match(row!.checksum, /^[0-9a-f]{64}$/);
        assert.match(row!.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        assert.equal(row!.applied_steps_count, 1);
        assert.equal(row!.logs, null);
        assert.equal(row!.rolled_back_at, null);
        assert.ok(row!.finished_at instanceof Date);
        assert.ok(row!.finished_at.getTime() >= row!.started_at.getTime());
        assert.equal(await tableExists(sql, "plugin_logs"), true);
        assert.deepEqual(await applyMigrations(sql), [], "a second run applies nothing");
        assert.equal((await history(sql)).length, 1);
        const locks = await sql.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1`,
          [MIGRATION_LOCK_ID],
        );
        assert.equal(locks[0]!.n, 0, "the advisory lock is released");
      } finally {
        await target.close();
      }
    });

    test("reopening a migrated database applies nothing", async (t) => {
      if (!(await ready(t))) return;
      const dataDir = kind === "pglite" ? await mkdtemp(path.join(os.tmpdir(), "sbh-pglite-")) : undefined;
      const empty = kind === "postgres" ? await createEmptyPostgresDatabase() : undefined;
      const opts = { dataDir, databaseUrl: empty?.url };
      try {
        const first = spyLog();
        const db1 = await openDatabase({ ...opts, log: first });
        assert.deepEqual(first.messages, ["migration applied"]);
        await db1.prisma.tenant.create({ data: { slug: "kept", name: "Kept" } });
        await db1.close();

        const second = spyLog();
        const db2 = await openDatabase({ ...opts, log: second });
        try {
          assert.deepEqual(second.messages, []);
          assert.deepEqual(await applyMigrations(db2.sql), []);
          const rows = await history(db2.sql);
          assert.deepEqual(rows.map((r) => [r.migration_name, r.applied_steps_count]), [[INIT, 1]]);
          assert.ok(rows[0]!.finished_at instanceof Date);
          assert.equal((await db2.prisma.tenant.findUniqueOrThrow({ where: { slug: "kept" } })).name, "Kept");
        } finally {
          await db2.close();
        }
      } finally {
        if (dataDir) await rm(dataDir, { recursive: true, force: true });
        await empty?.drop();
      }
    });

    test("concurrent runners apply each migration exactly once", async (t) => {
      if (!(await ready(t))) return;
      // The sleep keeps the first runner inside its transaction while the others arrive:
      // without the lock they would all try CREATE TABLE and two would fail.
      const dir = await migrationsDir({
        "20990101000000_slow": `SELECT pg_sleep(0.3);\nCREATE TABLE "probe_slow" ("id" INTEGER NOT NULL);\n`,
        "20990102000000_after": `CREATE TABLE "probe_after" ("id" INTEGER NOT NULL);\n`,
      });
      const target = await emptyTarget(kind);
      try {
        const runners = [target.sql(), target.sql(), target.sql()];
        const results = await Promise.all(runners.map((sql) => applyMigrations(sql, dir)));
        const all = results.flat().sort();
        assert.deepEqual(all, [INIT, "20990101000000_slow", "20990102000000_after"]);
        assert.equal(results.filter((r) => r.length === 3).length, 1, "one runner did all the work");
        const rows = await history(runners[0]!);
        assert.deepEqual(rows.map((r) => r.migration_name).sort(), [INIT, "20990101000000_slow", "20990102000000_after"]);
        assert.ok(rows.every((r) => r.finished_at instanceof Date && r.applied_steps_count === 1));
      } finally {
        await target.close();
        await rm(dir, { recursive: true, force: true });
      }
    });

    test("an edited migration is refused and nothing after it runs", async (t) => {
      if (!(await ready(t))) return;
      const dir = await migrationsDir();
      const target = await emptyTarget(kind);
      try {
        const sql = target.sql();
        assert.deepEqual(await applyMigrations(sql, dir), [INIT]);
        const file = path.join(dir, INIT, "migration.sql");
        const original = await readFile(file, "utf8");
        await writeFile(file, `${original}\n-- an afterthought\n`);
        await mkdir(path.join(dir, "20990101000000_next"));
        await writeFile(path.join(dir, "20990101000000_next", "migration.sql"), `CREATE TABLE "probe_next" ("id" INTEGER);\n`);

        await assert.rejects(applyMigrations(sql, dir), (err: Error) => {
          assert.ok(err instanceof MigrationError);
          assert.match(err.message, /modified after being applied/);
          assert.match(err.message, new RegExp(`${INIT}: applied ${migrationChecksum(original)}, file now `));
          return true;
        });
        assert.equal(await tableExists(sql, "probe_next"), false);

        // Git converting line endings is not an edit (Prisma accepts it too).
        await writeFile(file, original.replace(/\n/g, "\r\n"));
        assert.deepEqual(await applyMigrations(sql, dir), ["20990101000000_next"]);
      } finally {
        await target.close();
        await rm(dir, { recursive: true, force: true });
      }
    });

    test("a failed migration is rolled back, recorded, and blocks until resolved", async (t) => {
      if (!(await ready(t))) return;
      const broken = "20990101000000_broken";
      const dir = await migrationsDir({ [broken]: `CREATE TABLE "half_done" ("id" INTEGER);\nSELECT 1/0;\n` });
      const target = await emptyTarget(kind);
      try {
        const sql = target.sql();
        await assert.rejects(applyMigrations(sql, dir), /migration 20990101000000_broken failed and was rolled back: division by zero/);
        assert.equal(await tableExists(sql, "half_done"), false, "its DDL was rolled back");
        assert.equal(await tableExists(sql, "tenants"), true, "the migration before it stays applied");
        const failed = (await history(sql)).find((r) => r.migration_name === broken)!;
        assert.equal(failed.finished_at, null);
        assert.equal(failed.rolled_back_at, null);
        assert.equal(failed.applied_steps_count, 0);
        assert.match(failed.logs!, /Database error code: 22012/);
        assert.match(failed.logs!, /division by zero/);

        await assert.rejects(applyMigrations(sql, dir), (err: Error) => {
          assert.ok(err instanceof MigrationError);
          assert.match(err.message, /still recorded as failed/);
          assert.match(err.message, /20990101000000_broken \(started .*\): division by zero/);
          assert.match(err.message, /migrate resolve --rolled-back/);
          return true;
        });

        // The operator's way out: fix the file, mark the failure rolled back, start again.
        await writeFile(path.join(dir, broken, "migration.sql"), `CREATE TABLE "half_done" ("id" INTEGER);\n`);
        await sql.query(`UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = $1`, [broken]);
        assert.deepEqual(await applyMigrations(sql, dir), [broken]);
        assert.equal(await tableExists(sql, "half_done"), true);
        const rows = (await history(sql)).filter((r) => r.migration_name === broken);
        assert.deepEqual(rows.map((r) => [r.rolled_back_at === null, r.finished_at === null]), [[false, true], [true, false]]);
      } finally {
        await target.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}

test("a missing migrations directory is a clear error", async () => {
  const lite = await createPglite();
  try {
    await assert.rejects(applyMigrations(pgliteExec(lite), "/nonexistent/migrations"), {
      name: "MigrationError",
      message: "migrations directory not found: /nonexistent/migrations",
    });
  } finally {
    await lite.close();
  }
});

test("migration_lock.toml is the file Prisma writes", async () => {
  const lock = await readFile(path.join(DEFAULT_MIGRATIONS_DIR, "migration_lock.toml"), "utf8");
  assert.equal(
    lock,
    '# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "postgresql"\n',
  );
});
