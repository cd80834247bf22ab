import { existsSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaClient } from "../generated/prisma/client.ts";
import { lockDataDir } from "./data-dir-lock.ts";
import { applyMigrations, DEFAULT_MIGRATIONS_DIR, type MigrationLogger, type SqlExec } from "./migrate.ts";

export type { SqlExec } from "./migrate.ts";

export type DatabaseKind = "pglite" | "postgres";

/** One open database: Prisma for the model, `sql` for what Prisma cannot say. */
export interface Database {
  kind: DatabaseKind;
  prisma: PrismaClient;
  /** On Postgres each call may use a different pooled connection: use `session` for BEGIN…COMMIT. */
  sql: SqlExec;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Postgres connection string; unset means embedded PGlite. `?schema=x` selects a schema. */
  databaseUrl?: string;
  /** PGlite keeps its files in `<dataDir>/pgdata`. */
  dataDir?: string;
  /** PGlite in memory, gone on close (tests). */
  inMemory?: boolean;
  log?: MigrationLogger & { error?(fields: object, msg: string): void };
  migrationsDir?: string;
  /** Where the pristine PGlite data directory is cached between runs; null: memory only. */
  templateCacheDir?: string | null;
  /** Postgres pool size, shared by Prisma and `sql`. */
  poolMax?: number;
}

/** Opens PGlite or Postgres, applies pending migrations, and hands back Prisma on top of it. */
export async function openDatabase(opts: OpenDatabaseOptions = {}): Promise<Database> {
  return opts.databaseUrl ? openPostgres(opts.databaseUrl, opts) : openPglite(opts);
}

async function openPglite(opts: OpenDatabaseOptions): Promise<Database> {
  if (!opts.inMemory && !opts.dataDir) throw new Error("openDatabase: dataDir is required for PGlite unless inMemory is set");
  if (opts.dataDir && !opts.inMemory) await mkdir(opts.dataDir, { recursive: true });
  const unlock = opts.inMemory || !opts.dataDir ? () => undefined : lockDataDir(opts.dataDir);
  let lite: PGlite;
  try {
    lite = await createPglite({ dataDir: opts.inMemory ? undefined : opts.dataDir, templateCacheDir: opts.templateCacheDir });
  } catch (err) {
    unlock();
    throw err;
  }
  const sql = pgliteExec(lite);
  try {
    await applyMigrations(sql, opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR, opts.log);
  } catch (err) {
    await lite.close().catch(() => undefined);
    unlock();
    throw err;
  }
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(lite) });
  return {
    kind: "pglite",
    prisma,
    sql,
    async close() {
      await prisma.$disconnect();
      if (!lite.closed) await lite.close();
      unlock();
    },
  };
}

async function openPostgres(databaseUrl: string, opts: OpenDatabaseOptions): Promise<Database> {
  const { connectionString, schema } = splitSchema(databaseUrl);
  const pool = new pg.Pool({
    connectionString,
    max: opts.poolMax ?? 10,
    // Prisma's `?schema=` convention: the pool's search_path puts our tables (and
    // _prisma_migrations) there, and Prisma qualifies its queries with the same name.
    ...(schema ? { options: `-c search_path=${quoteIdent(schema)}` } : {}),
  });
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on("error", (err) => opts.log?.error?.({ err }, "idle Postgres connection failed"));
  const sql = poolExec(pool);
  try {
    if (schema) await sql.exec(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    await applyMigrations(sql, opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR, opts.log);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool, schema ? { schema } : undefined) });
  let closed = false;
  return {
    kind: "postgres",
    prisma,
    sql,
    async close() {
      if (closed) return;
      closed = true;
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

const DEFAULT_TEMPLATE_DIR = fileURLToPath(new URL("../../node_modules/.cache/sbh-pglite", import.meta.url));
const templates = new Map<string, Promise<File>>();
const pgliteQueues = new WeakMap<PGlite, <T>(fn: () => Promise<T>) => Promise<T>>();

/**
 * A PGlite with an empty, initialised database (no migrations): in `<dataDir>/pgdata`, reused
 * when it exists, or in memory without dataDir.
 */
export async function createPglite(opts: { dataDir?: string; templateCacheDir?: string | null } = {}): Promise<PGlite> {
  const dir = opts.dataDir ? path.join(path.resolve(opts.dataDir), "pgdata") : undefined;
  if (dir && existsSync(path.join(dir, "PG_VERSION"))) return PGlite.create(dir);
  if (dir) await mkdir(path.dirname(dir), { recursive: true });
  const loadDataDir = await pgliteTemplate(opts.templateCacheDir === undefined ? DEFAULT_TEMPLATE_DIR : opts.templateCacheDir);
  return dir ? PGlite.create(dir, { loadDataDir }) : PGlite.create({ loadDataDir });
}

// initdb in WASM takes 2-3.5 s; unpacking a tarball of a freshly initialised data directory
// takes ~0.4 s. So the pristine directory is built once per PGlite version, kept on disk and
// in this process, and every new PGlite starts from it. Migrations still run on each copy.
function pgliteTemplate(cacheDir: string | null): Promise<File> {
  const key = cacheDir ?? "";
  let template = templates.get(key);
  if (!template) {
    template = loadOrBuildTemplate(cacheDir);
    templates.set(key, template);
    template.catch(() => templates.delete(key));
  }
  return template;
}

async function loadOrBuildTemplate(cacheDir: string | null): Promise<File> {
  const pkg = fileURLToPath(new URL("../package.json", import.meta.resolve("@electric-sql/pglite")));
  const { version } = JSON.parse(await readFile(pkg, "utf8")) as { version: string };
  const file = cacheDir ? path.join(cacheDir, `pgdata-${version}.tar.gz`) : undefined;
  const cached = file ? await readFile(file).catch(() => undefined) : undefined;
  if (cached) {
    try {
      return new File([gunzipSync(cached)], "pgdata.tar", { type: "application/x-tar" });
    } catch {
      // A truncated or foreign file: build a new one below.
    }
  }
  const lite = await PGlite.create();
  const tar = await lite.dumpDataDir("none").finally(() => lite.close());
  if (file) {
    // Write then rename, so a concurrent process never reads half a file. Caching is only
    // an optimisation: a read-only install just pays initdb each time.
    const tmp = `${file}.${process.pid}.tmp`;
    await mkdir(path.dirname(file), { recursive: true })
      .then(async () => writeFile(tmp, gzipSync(Buffer.from(await tar.arrayBuffer()))))
      .then(() => rename(tmp, file))
      .catch(() => undefined);
  }
  return new File([tar], "pgdata.tar", { type: "application/x-tar" });
}

/** SqlExec over PGlite's single connection. */
export function pgliteExec(lite: PGlite): SqlExec {
  // PGlite is one backend, so session-level advisory locks are re-entrant within it; a queue
  // per instance is what keeps two sessions on it apart (however many SqlExecs wrap it).
  let exclusive = pgliteQueues.get(lite);
  if (!exclusive) pgliteQueues.set(lite, (exclusive = serialize()));
  const exec: SqlExec = {
    async query<T>(text: string, params?: unknown[]) {
      return (await lite.query<T>(text, params)).rows;
    },
    async exec(text: string) {
      await lite.exec(text);
    },
    session: (fn) => exclusive!(() => fn(exec)),
  };
  return exec;
}

/** SqlExec over a pg pool: each call takes any free connection, `session` pins one. */
export function poolExec(pool: pg.Pool): SqlExec {
  return {
    async query<T>(text: string, params?: unknown[]) {
      return (await pool.query(text, params)).rows as T[];
    },
    async exec(text: string) {
      await pool.query(text);
    },
    async session(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        return await fn(clientExec(client));
      } catch (err) {
        // A failure may leave the connection mid-transaction or holding a lock: drop it.
        broken = err instanceof Error ? err : new Error(String(err));
        throw err;
      } finally {
        client.release(broken);
      }
    },
  };
}

/** SqlExec over one pg connection. */
export function clientExec(client: pg.ClientBase): SqlExec {
  return {
    async query<T>(text: string, params?: unknown[]) {
      return (await client.query(text, params)).rows as T[];
    },
    async exec(text: string) {
      // Without parameters pg uses the simple query protocol, which accepts several statements.
      await client.query(text);
    },
  };
}

function serialize(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>) => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
}

function splitSchema(databaseUrl: string): { connectionString: string; schema?: string } {
  const url = new URL(databaseUrl);
  const schema = url.searchParams.get("schema") ?? undefined;
  if (!schema) return { connectionString: databaseUrl };
  url.searchParams.delete("schema");
  return { connectionString: url.toString(), schema };
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
