import { randomUUID } from "node:crypto";
import type { CallScope } from "./call-scope.ts";
import { InvalidArgument } from "./capability-error.ts";
import { declaredIndexes } from "./db-collections.ts";
import { documentData } from "./db-documents.ts";
import { constraintOf, DocumentTooLarge, DuplicateKey, sqlState, toCapabilityError } from "./db-errors.ts";
import { checkBytes, checkInsertQuota, withDbWriteLock, type LockedQuery } from "./db-quota.ts";
import { filterConditions, queryOptions } from "./db-filter.ts";
import { Params } from "./db-sql.ts";
import { resolveSource, type Source } from "./db-tables.ts";

// ctx.db: the tenant's core tables (users, files) to read, and the plugin's own collections of
// JSON documents to read and write. The permission (db.read / db.write) is checked by the
// capability handler before any of these runs. Every statement is scoped to the calling
// tenant, and collection statements to the calling plugin, by conditions the source adds.

type Row = Record<string, unknown>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** ctx.db.query(table, filter?, {limit?, offset?, order_by?}) → documents (rows) */
export async function dbQuery(scope: CallScope, args: unknown[]): Promise<unknown> {
  const method = "db.query";
  const [table, filter, options] = args;
  const source = resolveSource(method, table, "read");
  const p = new Params();
  const where = [...source.scope(p, scope), ...filterConditions(method, source, filter, p)];
  const opts = queryOptions(method, source, options, scope.deps.db.maxQueryLimit, p);
  const rows = await run<Row>(scope, method, source, p, (
    `SELECT ${source.columns} FROM ${source.from} WHERE ${where.join(" AND ")}` +
    ` ORDER BY ${opts.orderBy} LIMIT ${p.add(opts.limit)} OFFSET ${p.add(opts.offset)}`
  ));
  return rows.map(source.toDocument);
}

/** ctx.db.getById(table, id) → the document (row), or null */
export async function dbGetById(scope: CallScope, args: unknown[]): Promise<unknown> {
  const method = "db.getById";
  const [table, id] = args;
  const source = resolveSource(method, table, "read");
  // A malformed id names no document: null, as for any other id that is not there.
  if (!isId(method, id)) return null;
  const p = new Params();
  const where = [...source.scope(p, scope), `${source.id} = ${p.add(id)}::uuid`];
  const [row] = await run<Row>(scope, method, source, p, `SELECT ${source.columns} FROM ${source.from} WHERE ${where.join(" AND ")}`);
  return row ? source.toDocument(row) : null;
}

/** ctx.db.insert(collection, doc) → the stored document with its id, created_at, updated_at */
export async function dbInsert(scope: CallScope, args: unknown[]): Promise<unknown> {
  const method = "db.insert";
  const [table, doc] = args;
  const source = resolveSource(method, table, "write");
  const max = scope.deps.db.maxDocumentBytes;
  const json = JSON.stringify(documentData(method, doc, "document", max));
  const row = await locked(scope, method, source, async (query) => {
    // The size is measured on the text the database stores, in the same statement as the usage.
    const [usage] = await query<{ documents: number | string; bytes: number | string; size: number | string }>(
      "SELECT count(*) AS documents, coalesce(sum(size), 0) AS bytes, octet_length($3::jsonb::text) AS size" +
        " FROM plugin_documents WHERE tenant_id = $1::uuid AND plugin = $2",
      [scope.tenantId, scope.pluginSlug, json],
    );
    const size = Number(usage.size);
    if (size > max) throw new DocumentTooLarge(method, size, max);
    checkInsertQuota(scope, method, { documents: Number(usage.documents), bytes: Number(usage.bytes) }, size);
    const p = new Params();
    const [inserted] = await query<Row>(
      `INSERT INTO plugin_documents (id, tenant_id, plugin, collection, data, size)` +
        ` VALUES (${p.add(randomUUID())}::uuid, ${p.add(scope.tenantId)}::uuid, ${p.add(scope.pluginSlug)}, ${p.add(source.name)}, ${p.add(json)}::jsonb, ${p.add(size)}::int)` +
        ` RETURNING id, data, created_at, updated_at`,
      p.values,
    );
    return inserted;
  });
  return source.toDocument(row);
}

/** ctx.db.update(collection, id, patch) → the document after a shallow merge, or null */
export async function dbUpdate(scope: CallScope, args: unknown[]): Promise<unknown> {
  const method = "db.update";
  const [table, id, patch] = args;
  const source = resolveSource(method, table, "write");
  const max = scope.deps.db.maxDocumentBytes;
  const patchJson = JSON.stringify(documentData(method, patch, "patch", max));
  if (!isId(method, id)) return null;
  return locked(scope, method, source, async (query) => {
    // Measured first, under the lock: the merge's size, the document's size now, the plugin's total.
    const q = new Params();
    const [found] = await query<{ size: number | string; old: number | string; used: number | string }>(
      `SELECT octet_length((d.data || ${q.add(patchJson)}::jsonb)::text) AS size, d.size AS old,` +
        ` (SELECT coalesce(sum(o.size), 0) FROM plugin_documents o WHERE o.tenant_id = d.tenant_id AND o.plugin = d.plugin) AS used` +
        ` FROM ${source.from} WHERE ${[...source.scope(q, scope), `d.id = ${q.add(id)}::uuid`].join(" AND ")}`,
      q.values,
    );
    if (!found) return null;
    const [size, old, used] = [Number(found.size), Number(found.old), Number(found.used)];
    if (size > max) throw new DocumentTooLarge(method, size, max);
    // A merge that does not grow the document passes even a quota lowered below the usage.
    checkBytes(scope, method, used, used - old + size, size - old);
    const p = new Params();
    const where = [...source.scope(p, scope), `d.id = ${p.add(id)}::uuid`];
    // Deletes take no lock, so the document may be gone by now: then, as for any missing id, null.
    const [row] = await query<Row>(
      `UPDATE ${source.from} SET data = d.data || ${p.add(patchJson)}::jsonb, size = ${p.add(size)}::int, updated_at = CURRENT_TIMESTAMP` +
        ` WHERE ${where.join(" AND ")} RETURNING ${source.columns}`,
      p.values,
    );
    return row ? source.toDocument(row) : null;
  });
}

/** ctx.db.delete(collection, id) → true when a document was deleted */
export async function dbDelete(scope: CallScope, args: unknown[]): Promise<unknown> {
  const method = "db.delete";
  const [table, id] = args;
  const source = resolveSource(method, table, "write");
  if (!isId(method, id)) return false;
  const p = new Params();
  const where = [...source.scope(p, scope), `d.id = ${p.add(id)}::uuid`];
  const rows = await run<Row>(scope, method, source, p, `DELETE FROM ${source.from} WHERE ${where.join(" AND ")} RETURNING d.id`);
  return rows.length > 0;
}

/** True for a uuid; false for another string; anything else is a mistake in the call. */
function isId(method: string, id: unknown): id is string {
  if (typeof id !== "string") throw new InvalidArgument(method, `the id must be a string (a document's "id"), not ${id === null ? "null" : typeof id}`);
  return UUID.test(id);
}

async function run<T>(scope: CallScope, method: string, source: Source, p: Params, sql: string): Promise<T[]> {
  try {
    return await scope.deps.sql.query<T>(sql, p.values);
  } catch (err) {
    throw databaseError(scope, method, source, err);
  }
}

// Writes that add documents or bytes run under the plugin's quota lock (db-quota.ts); the
// database's errors are turned into the plugin's the same way as outside it.
async function locked<T>(scope: CallScope, method: string, source: Source, fn: (query: LockedQuery) => Promise<T>): Promise<T> {
  try {
    return await withDbWriteLock(scope, fn);
  } catch (err) {
    throw databaseError(scope, method, source, err);
  }
}

// A unique violation names the index; the manifest says which field that index is on.
function databaseError(scope: CallScope, method: string, source: Source, err: unknown): Error {
  if (sqlState(err) !== "23505") return toCapabilityError(method, err);
  const index = declaredIndexes(scope.tenantId, scope.pluginSlug, scope.manifest.collections).find((ix) => ix.name === constraintOf(err));
  return new DuplicateKey(method, source.name, index?.field);
}
