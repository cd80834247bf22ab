import { cp, mkdir, mkdtemp, readdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";
import pg from "pg";
import { createPglite, pgliteExec, poolExec, type SqlExec } from "../../src/db/database.ts";
import { DEFAULT_MIGRATIONS_DIR, type MigrationLogger } from "../../src/db/migrate.ts";
import { requireOrSkip } from "../support/services.ts";
import { createEmptyPostgresDatabase, type DatabaseKind } from "../support/test-database.ts";

// Shared by the migration runner tests: empty databases of each kind, scratch migration
// directories, and readers for what the runner recorded.

export const INIT = "20261121000000_init";

/** The names of the project's migrations, in the order they apply. */
export async function migrationNames(): Promise<string[]> {
  const entries = await readdir(DEFAULT_MIGRATIONS_DIR, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

export interface Target {
  /** A new SqlExec on the database (on Postgres: its own pool, so its own sessions). */
  sql(): SqlExec;
  close(): Promise<void>;
}

export async function emptyTarget(kind: DatabaseKind): Promise<Target> {
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

export async function migrationsDir(extra: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "sbh-migrations-"));
  await cp(path.join(DEFAULT_MIGRATIONS_DIR, INIT), path.join(dir, INIT), { recursive: true });
  for (const [name, script] of Object.entries(extra)) {
    await mkdir(path.join(dir, name));
    await writeFile(path.join(dir, name, "migration.sql"), script);
  }
  return dir;
}

export interface Row {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}

export const history = (sql: SqlExec) =>
  sql.query<Row>(`SELECT * FROM _prisma_migrations ORDER BY started_at, migration_name`);

export const tableExists = async (sql: SqlExec, name: string) =>
  (await sql.query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [name]))[0]!.t !== null;

export function spyLog(): MigrationLogger & { messages: string[] } {
  const messages: string[] = [];
  return { messages, info: (_f, msg) => messages.push(msg), warn: (_f, msg) => messages.push(`warn: ${msg}`) };
}

/** True when a test of this kind may run (PGlite always; Postgres per requireOrSkip). */
export async function kindReady(t: TestContext, kind: DatabaseKind, pgUp: boolean): Promise<boolean> {
  return kind === "pglite" || requireOrSkip(t, "postgres", pgUp);
}
