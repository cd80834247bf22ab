import { createHash, randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

// Applies prisma/migrations/*/migration.sql the way `prisma migrate deploy` does, because the
// schema-engine binary that command needs cannot be installed everywhere this platform runs.
// The bookkeeping matches Prisma's own (table, columns, checksums, advisory lock id), so
// `prisma migrate status|deploy` agree with this runner wherever the binary does exist.

/** The least the runner needs from a database connection. */
export interface SqlExec {
  /** One statement with `$1…` parameters; returns the rows. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Several statements separated by `;`, no parameters (the simple query protocol). */
  exec(sql: string): Promise<void>;
  /**
   * Runs `fn` on one connection held for its whole duration, for session state such as
   * advisory locks and BEGIN…COMMIT. Absent when the executor is a single connection already.
   */
  session?<T>(fn: (conn: SqlExec) => Promise<T>): Promise<T>;
}

/** pino's Logger fits; so does any object with these two methods. */
export interface MigrationLogger {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

export class MigrationError extends Error {
  override name = "MigrationError";
}

/** Prisma Migrate's own lock id: this runner and `prisma migrate deploy` exclude each other. */
export const MIGRATION_LOCK_ID = 72707369;

export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL("../../prisma/migrations", import.meta.url));

interface MigrationFile {
  name: string;
  script: string;
  checksum: string;
}

interface MigrationRow {
  id: string;
  checksum: string;
  finished_at: Date | string | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | string | null;
  started_at: Date | string;
}

/**
 * Applies every migration not yet applied, in name order, each in its own transaction, under
 * Prisma's advisory lock. Refuses (MigrationError) when an applied migration's file was edited
 * or a recorded migration failed. Returns the names it applied.
 */
export async function applyMigrations(
  sql: SqlExec,
  dir: string = DEFAULT_MIGRATIONS_DIR,
  log?: MigrationLogger,
): Promise<string[]> {
  const files = await readMigrations(dir);
  const run = (conn: SqlExec) => withMigrationLock(conn, log, () => applyPending(conn, files, log));
  return sql.session ? sql.session(run) : run(sql);
}

/** sha256 hex of the script, as Prisma stores it in `_prisma_migrations.checksum`. */
export function migrationChecksum(script: string): string {
  return createHash("sha256").update(script, "utf8").digest("hex");
}

async function readMigrations(dir: string): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") throw new MigrationError(`migrations directory not found: ${dir}`);
    throw err;
  });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const file = path.join(dir, name, "migration.sql");
      const script = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") throw new MigrationError(`migration ${name} has no migration.sql (${file})`);
        throw err;
      });
      return { name, script, checksum: migrationChecksum(script) };
    }),
  );
}

async function withMigrationLock<T>(conn: SqlExec, log: MigrationLogger | undefined, fn: () => Promise<T>): Promise<T> {
  const [got] = await conn.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${MIGRATION_LOCK_ID}) AS ok`);
  if (!got?.ok) {
    log?.info({ lockId: MIGRATION_LOCK_ID }, "another process is migrating this database; waiting for it");
    await conn.query(`SELECT pg_advisory_lock(${MIGRATION_LOCK_ID})`);
  }
  try {
    return await fn();
  } finally {
    await conn.query(`SELECT pg_advisory_unlock(${MIGRATION_LOCK_ID})`);
  }
}

async function applyPending(conn: SqlExec, files: MigrationFile[], log?: MigrationLogger): Promise<string[]> {
  await ensureMigrationsTable(conn);
  const rows = await conn.query<MigrationRow>(
    `SELECT id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at
       FROM _prisma_migrations ORDER BY started_at, migration_name`,
  );
  const applied = checkHistory(rows, files, log);
  const pending = files.filter((f) => !applied.has(f.name));
  const done: string[] = [];
  for (const file of pending) {
    const started = performance.now();
    await applyOne(conn, file);
    done.push(file.name);
    log?.info({ migration: file.name, ms: Math.round(performance.now() - started) }, "migration applied");
  }
  return done;
}

// Prisma's table, column for column (prisma-engines, postgres flavour), so its CLI can read it.
async function ensureMigrationsTable(conn: SqlExec): Promise<void> {
  const [row] = await conn.query<{ oid: string | null }>(`SELECT to_regclass('_prisma_migrations')::text AS oid`);
  if (row?.oid) return;
  await conn.exec(`CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
)`);
}

// Returns the names already applied; throws on the two states Prisma refuses to go past.
function checkHistory(rows: MigrationRow[], files: MigrationFile[], log?: MigrationLogger): Set<string> {
  const byName = new Map(files.map((f) => [f.name, f]));
  const live = rows.filter((r) => r.rolled_back_at === null);
  const failed = live.filter((r) => r.finished_at === null);
  if (failed.length > 0) {
    const list = failed.map((r) => `  ${r.migration_name} (started ${iso(r.started_at)}): ${firstLine(r.logs)}`);
    throw new MigrationError(
      `refusing to migrate: ${failed.length === 1 ? "a migration" : "migrations"} failed before and ` +
        `${failed.length === 1 ? "is" : "are"} still recorded as failed in _prisma_migrations:\n${list.join("\n")}\n` +
        `Each migration runs in a transaction, so its changes were rolled back. Fix the migration, then mark ` +
        `it rolled back (\`prisma migrate resolve --rolled-back <name>\`, or ` +
        `UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = '<name>' AND finished_at IS NULL) and start again.`,
    );
  }
  const edited = live.filter((r) => {
    const file = byName.get(r.migration_name);
    return file !== undefined && !matchesChecksum(file.script, r.checksum);
  });
  if (edited.length > 0) {
    const list = edited.map((r) => `  ${r.migration_name}: applied ${r.checksum}, file now ${byName.get(r.migration_name)!.checksum}`);
    throw new MigrationError(
      `refusing to migrate: ${edited.length === 1 ? "a migration was" : "migrations were"} modified after being applied ` +
        `(checksum mismatch):\n${list.join("\n")}\n` +
        `Applied migrations are immutable: restore the original file and put the change in a new migration.`,
    );
  }
  const unknown = live.filter((r) => !byName.has(r.migration_name)).map((r) => r.migration_name);
  // A newer release may have migrated this database already (rolling deploys): not fatal.
  if (unknown.length > 0) log?.warn({ migrations: unknown }, "database has applied migrations this build does not know");
  return new Set(live.map((r) => r.migration_name));
}

// Same tolerance as Prisma: git may have converted line endings since the migration was applied.
function matchesChecksum(script: string, checksum: string): boolean {
  const variants = [script, script.replace(/\r\n/g, "\n"), script.replace(/\r?\n/g, "\r\n")];
  return variants.some((v) => migrationChecksum(v) === checksum);
}

async function applyOne(conn: SqlExec, file: MigrationFile): Promise<void> {
  const id = randomUUID();
  // The record commits with the schema change or not at all, so a crash mid-way leaves no trace
  // and the next start simply tries again.
  await conn.query("BEGIN");
  try {
    await conn.query(
      `INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count)
       VALUES ($1, $2, $3, now(), 0)`,
      [id, file.checksum, file.name],
    );
    await conn.exec(file.script);
    await conn.query(
      `UPDATE _prisma_migrations SET finished_at = clock_timestamp(), applied_steps_count = 1 WHERE id = $1`,
      [id],
    );
    await conn.query("COMMIT");
  } catch (err) {
    await conn.query("ROLLBACK").catch(() => undefined);
    const logs = failureLog(file.name, err);
    // Recorded as Prisma records a failure, so every process (and `prisma migrate status`)
    // sees it and nobody builds on a half-understood schema until someone looks.
    await conn
      .query(
        `INSERT INTO _prisma_migrations (id, checksum, migration_name, logs, started_at, applied_steps_count)
         VALUES ($1, $2, $3, $4, now(), 0)`,
        [id, file.checksum, file.name, logs],
      )
      .catch(() => undefined);
    throw new MigrationError(`migration ${file.name} failed and was rolled back: ${errorMessage(err)}`, { cause: err });
  }
}

function failureLog(name: string, err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return [
    "A migration failed to apply. New migrations cannot be applied before the error is recovered from.",
    `Migration name: ${name}`,
    typeof code === "string" ? `Database error code: ${code}` : undefined,
    `Database error:\n${errorMessage(err)}`,
  ]
    .filter(Boolean)
    .join("\n\n");
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function firstLine(logs: string | null): string {
  if (!logs) return "no log recorded (the process may have stopped mid-migration)";
  const error = logs.split("Database error:\n")[1] ?? logs;
  return error.split("\n")[0]!;
}

function iso(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : String(value);
}
