import type { SqlExec } from "../db/database.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { CallScope } from "./call-scope.ts";
import { MIB, QuotaExceeded, quotasOf } from "./quotas.ts";

// ctx.db's quotas (resources.max_db_documents, resources.max_db_mb) count a plugin's documents
// of one tenant, over all its collections: the data is keyed by plugin slug, so it outlives
// upgrades and reinstalls, and so does what it counts. Writes that can add documents or bytes
// check the usage and write in one transaction under a lock per (tenant, plugin), so concurrent
// inserts of one plugin cannot pass the quota together, whichever process serves them.

/** What one plugin keeps in one tenant's database. */
export interface DbUsage {
  documents: number;
  bytes: number;
}

/** One statement with `$n` parameters inside the locked transaction. */
export type LockedQuery = <T>(sql: string, params: unknown[]) => Promise<T[]>;

// Waiting for the lock counts against this; the work under it is two or three statements.
const TX_OPTIONS = { maxWait: 30_000, timeout: 30_000 };

/** The usage of one plugin; served from the (tenant_id, plugin, size) index alone. */
export async function dbUsage(sql: Pick<SqlExec, "query">, tenantId: string, plugin: string): Promise<DbUsage> {
  const [row] = await sql.query<{ documents: number | string; bytes: number | string }>(USAGE_SQL, [tenantId, plugin]);
  return { documents: Number(row?.documents ?? 0), bytes: Number(row?.bytes ?? 0) };
}

const USAGE_SQL =
  "SELECT count(*) AS documents, coalesce(sum(size), 0) AS bytes FROM plugin_documents WHERE tenant_id = $1::uuid AND plugin = $2";

/**
 * Runs `fn` in a transaction that holds the plugin's write lock. Calls of one plugin in this
 * process wait their turn before they open a transaction, so a flood of concurrent writes
 * holds one database connection, not the whole pool, while it waits for the lock.
 */
export function withDbWriteLock<T>(scope: CallScope, fn: (query: LockedQuery) => Promise<T>): Promise<T> {
  const key = `db:${scope.tenantId}:${scope.pluginSlug}`;
  return inTurn(key, () => locked(scope.deps.prisma, key, fn));
}

async function locked<T>(prisma: PrismaClient, key: string, fn: (query: LockedQuery) => Promise<T>): Promise<T> {
  return prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${key}))`;
    return fn(<R>(sql: string, params: unknown[]) => tx.$queryRawUnsafe<R[]>(sql, ...params));
  }, TX_OPTIONS);
}

/** Refuses a new document when the plugin keeps max_db_documents already, or it would pass max_db_mb. */
export function checkInsertQuota(scope: CallScope, method: string, usage: DbUsage, size: number): void {
  const quotas = quotasOf(scope.manifest.resources, scope.deps.limits);
  if (usage.documents >= quotas.dbDocuments) {
    throw refused(scope, method, new QuotaExceeded(
      `ctx.${method} refused: quota max_db_documents exceeded: this plugin keeps ${usage.documents} documents and its limit is ${quotas.dbDocuments}; ` +
        "delete documents to make room, or raise resources.max_db_documents",
      "max_db_documents", usage.documents, quotas.dbDocuments,
    ));
  }
  checkBytes(scope, method, usage.bytes, usage.bytes + size, size);
}

/**
 * Refuses a write that would bring the plugin's documents to `wouldUse` bytes, past max_db_mb.
 * `growth` is what this write adds; a write that adds nothing is never refused.
 */
export function checkBytes(scope: CallScope, method: string, used: number, wouldUse: number, growth: number): void {
  const quotas = quotasOf(scope.manifest.resources, scope.deps.limits);
  if (growth <= 0 || wouldUse <= quotas.dbBytes) return;
  throw refused(scope, method, new QuotaExceeded(
    `ctx.${method} refused: quota max_db_mb exceeded: this plugin's documents take ${used} bytes and this write would bring them to ${wouldUse}; ` +
      `its limit is ${quotas.dbBytes} bytes (${quotas.dbBytes / MIB} MiB); delete documents to make room, or raise resources.max_db_mb`,
    "max_db_mb", used, quotas.dbBytes,
  ));
}

// why: a plugin that floods its storage is what an admin reading the plugin's log looks for.
function refused(scope: CallScope, method: string, err: QuotaExceeded): QuotaExceeded {
  scope.log("warn", err.message, { method, quota: err.quota, used: err.used, limit: err.limit });
  return err;
}

const turns = new Map<string, Promise<unknown>>();

// Per-process, per-key FIFO: each call starts when the one before it has settled, either way.
async function inTurn<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const before = turns.get(key) ?? Promise.resolve();
  const mine = before.then(fn, fn);
  const settled = mine.then(() => undefined, () => undefined);
  turns.set(key, settled);
  try {
    return await mine;
  } finally {
    if (turns.get(key) === settled) turns.delete(key);
  }
}
