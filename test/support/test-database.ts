import { randomBytes } from "node:crypto";
import pg from "pg";
import { openDatabase, type Database, type DatabaseKind, type OpenDatabaseOptions } from "../../src/db/database.ts";
import { postgresUrl } from "./services.ts";

// Each test file gets databases of its own: PGlite in memory, or a throw-away database on the
// Postgres server, so tests never see each other's rows and can run in parallel.

export type { DatabaseKind };

export interface TestDatabase {
  db: Database;
  /** The Postgres URL of this database; undefined for PGlite. */
  url?: string;
  /** Closes the database and, on Postgres, drops it. */
  drop(): Promise<void>;
}

export function databaseKinds(): DatabaseKind[] {
  return ["pglite", "postgres"];
}

/** A migrated database of the given kind. Check postgresAvailable() first for "postgres". */
export async function createTestDatabase(
  kind: DatabaseKind,
  opts: Pick<OpenDatabaseOptions, "log" | "migrationsDir"> = {},
): Promise<TestDatabase> {
  if (kind === "pglite") {
    const db = await openDatabase({ inMemory: true, ...opts });
    return { db, drop: () => db.close() };
  }
  const empty = await createEmptyPostgresDatabase();
  try {
    const db = await openDatabase({ databaseUrl: empty.url, poolMax: 4, ...opts });
    return {
      db,
      url: empty.url,
      async drop() {
        await db.close();
        await empty.drop();
      },
    };
  } catch (err) {
    await empty.drop();
    throw err;
  }
}

/** A new, empty database on the test Postgres server (no migrations applied). */
export async function createEmptyPostgresDatabase(
  serverUrl: string = postgresUrl(),
): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `sbh_test_${randomBytes(6).toString("hex")}`;
  await admin(serverUrl, `CREATE DATABASE "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    // FORCE ends connections a failed test may have leaked, so the drop cannot hang.
    drop: () => admin(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}

async function admin(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
