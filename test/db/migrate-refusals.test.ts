import { test, describe, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { applyMigrations, MigrationError, migrationChecksum } from "../../src/db/migrate.ts";
import { postgresAvailable } from "../support/services.ts";
import { databaseKinds } from "../support/test-database.ts";
import { emptyTarget, history, INIT, kindReady, migrationsDir, tableExists } from "./migration-fixtures.ts";

// The two states in which the runner must refuse to go on, as `prisma migrate deploy` does.

const pgUp = await postgresAvailable();

for (const kind of databaseKinds()) {
  const ready = (t: TestContext) => kindReady(t, kind, pgUp);

  describe(`migration refusals on ${kind}`, () => {
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
