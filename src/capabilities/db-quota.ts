import type { SqlExec } from "../db/database.ts";
import { inTurn } from "../db/in-turn.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { CallScope } from "./call-scope.ts";
import { CapabilityError } from "./capability-error.ts";
import { MIB, QuotaExceeded, quotasOf } from "./quotas.ts";

// ctx.db's quotas (resources.max_db_documents, resources.max_db_mb) count a plugin's documents
// of one tenant, over all its collections: the data is keyed by plugin slug, so it outlives
// upgrades and reinstalls, and so does what it counts. Writes that can add documents or bytes
// check the usage and write in one transaction under a lock per (tenant, plugin), so concurrent
// inserts of one plugin cannot pass the quota together, whichever process serves them. A write
// whose call has ended before the write began is not made: a call that timed out with writes
// still queued would otherwise go on writing, and hold up the plugin's next calls, long after
// its caller got the timeout.

/** What one plugin keeps in one tenant's database. */
export interface DbUsage {
  documents: number;
  bytes: number;
}

/** One statement with `$n` parameters inside the locked transaction. */
export type LockedQuery = <T>(sql: string, params: unknown[]) => Promise<T[]>;

/** A write its call queued that had not begun when the call ended (answered, failed or timed out). */
export class CallEnded extends CapabilityError {
  constructor() {
    super("ctx.db: the call this write belongs to has ended; the write was not made", "call_ended", "CallEnded");
  }
}

// Prisma's `maxWait` bounds the wait for a connection to start the transaction on (the pg pool
// every tenant shares, or PGlite's single connection); `timeout` bounds the transaction from its
// start, the wait for the advisory lock included. Each process holds at most one of these
// transactions per (tenant, plugin) (`inTurn`), so the lock waits for at most one holder per
// other process, each two or three statements long. 10 s is far beyond both waits, yet short
// enough that a stuck holder is rolled back, and its lock and connection freed, before the
// plugin's next calls have long given up. Either failure reaches the plugin as a DatabaseError.
const TX_OPTIONS = { maxWait: 10_000, timeout: 10_000 };

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
 * holds one database connection, not the whole pool, while it waits for the lock. Rejects
 * with CallEnded, without writing, when the call has ended before `fn` began.
 */
export function withDbWriteLock<T>(scope: CallScope, fn: (query: LockedQuery) => Promise<T>): Promise<T> {
  const key = `db:${scope.tenantId}:${scope.pluginSlug}`;
  return inTurn(key, () => locked(scope.deps.prisma, scope.ended, key, fn));
}

async function locked<T>(prisma: PrismaClient, ended: CallScope["ended"], key: string, fn: (query: LockedQuery) => Promise<T>): Promise<T> {
  if (ended.aborted) throw new CallEnded();
  return prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${key}))`;
    // The connection and the lock may have come after the call ended: then nothing is written.
    if (ended.aborted) throw new CallEnded();
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
