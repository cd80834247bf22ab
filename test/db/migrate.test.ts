import { test, describe, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createPglite, openDatabase, pgliteExec, type Database } from "../../src/db/database.ts";
import { applyMigrations, DEFAULT_MIGRATIONS_DIR, MIGRATION_LOCK_ID, migrationChecksum } from "../../src/db/migrate.ts";
import { postgresAvailable } from "../support/services.ts";
import { createEmptyPostgresDatabase, databaseKinds } from "../support/test-database.ts";
import { emptyTarget, history, INIT, kindReady, migrationNames, migrationsDir, spyLog, tableExists } from "./migration-fixtures.ts";

// The runner against real databases of each kind: what it records, that it runs each
// migration once however many processes start together, and that it reopens cleanly.

const pgUp = await postgresAvailable();

for (const kind of databaseKinds()) {
  const ready = (t: TestContext) => kindReady(t, kind, pgUp);

  describe(`migration runner on ${kind}`, () => {
    test("an empty database gets every migration, recorded as Prisma records it", async (t) => {
      if (!(await ready(t))) return;
      const names = await migrationNames();
      assert.equal(names[0], INIT);
      const target = await emptyTarget(kind);
      try {
        const sql = target.sql();
        assert.deepEqual(await applyMigrations(sql), names);
        const rows = await history(sql);
        assert.deepEqual(rows.map((r) => r.migration_name), names);
        for (const row of rows) {
          const script = await readFile(path.join(DEFAULT_MIGRATIONS_DIR, row.migration_name, "migration.sql"), "utf8");
          assert.equal(row.checksum, migrationChecksum(script));
          assert.match(row.checksum, /^[0-9a-f]{64}$/);
          assert.match(row.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
          assert.equal(row.applied_steps_count, 1);
          assert.equal(row.logs, null);
          assert.equal(row.rolled_back_at, null);
          assert.ok(row.finished_at instanceof Date);
          assert.ok(row.finished_at.getTime() >= row.started_at.getTime());
        }
        assert.equal(await tableExists(sql, "plugin_logs"), true);
        assert.deepEqual(await applyMigrations(sql), [], "a second run applies nothing");
        assert.equal((await history(sql)).length, names.length);
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
      const names = await migrationNames();
      const opened: Database[] = [];
      try {
        const first = spyLog();
        const db1 = await openDatabase({ ...opts, log: first });
        opened.push(db1);
        assert.deepEqual(first.messages, names.map(() => "migration applied"));
        await db1.prisma.tenant.create({ data: { slug: "kept", name: "Kept" } });
        await db1.close();

        const second = spyLog();
        const db2 = await openDatabase({ ...opts, log: second });
        opened.push(db2);
        assert.deepEqual(second.messages, []);
        assert.deepEqual(await applyMigrations(db2.sql), []);
        const rows = await history(db2.sql);
        assert.deepEqual(rows.map((r) => [r.migration_name, r.applied_steps_count]), names.map((n) => [n, 1]));
        assert.ok(rows.every((r) => r.finished_at instanceof Date));
        assert.equal((await db2.prisma.tenant.findUniqueOrThrow({ where: { slug: "kept" } })).name, "Kept");
      } finally {
        // close() is idempotent; a failed assertion must not leave a pool keeping the process up.
        for (const db of opened) await db.close();
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

  });
}

test("openDatabase honours ?schema= on Postgres, as Prisma does", async (t) => {
  if (!(await kindReady(t, "postgres", pgUp))) return;
  const empty = await createEmptyPostgresDatabase();
  try {
    const db = await openDatabase({ databaseUrl: `${empty.url}?schema=tenant_x` });
    try {
      await db.prisma.tenant.create({ data: { slug: "in-schema", name: "S" } });
      const [row] = await db.sql.query<{ n: number; pub: string | null; mig: string | null; schema: string }>(
        `SELECT (SELECT count(*)::int FROM tenant_x.tenants) AS n, to_regclass('public.tenants')::text AS pub,
                to_regclass('tenant_x._prisma_migrations')::text AS mig, current_schema() AS schema`,
      );
      assert.deepEqual(row, { n: 1, pub: null, mig: "_prisma_migrations", schema: "tenant_x" });
    } finally {
      await db.close();
    }
  } finally {
    await empty.drop();
  }
});

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
