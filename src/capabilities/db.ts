import { randomUUID } from "node:crypto";
import type { CallScope } from "./call-scope.ts";
import { InvalidArgument } from "./capability-error.ts";
import { declaredIndexes } from "./db-collections.ts";
import { documentData } from "./db-documents.ts";
import { constraintOf, DocumentTooLarge, DuplicateKey, sqlState, toCapabilityError } from "./db-errors.ts";
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
  const p = new Params();
  // The size is checked in the statement, on the text the database stores.
  const [row] = await run<Row>(scope, method, source, p, (
    `INSERT INTO plugin_documents (id, tenant_id, plugin, collection, data)` +
    ` SELECT ${p.add(randomUUID())}::uuid, ${p.add(scope.tenantId)}::uuid, ${p.add(scope.pluginSlug)}, ${p.add(source.name)}, v.doc` +
    ` FROM (SELECT ${p.add(json)}::jsonb AS doc) v WHERE octet_length(v.doc::text) <= ${p.add(max)}` +
    ` RETURNING id, data, created_at, updated_at`
  ));
  if (!row) throw new DocumentTooLarge(method, (await storedSize(scope, "SELECT octet_length($1::jsonb::text) AS size", [json]))!, max);
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
  const p = new Params();
  const where = [...source.scope(p, scope), `d.id = ${p.add(id)}::uuid`];
  const merged = `d.data || ${p.add(patchJson)}::jsonb`;
  const [row] = await run<Row>(scope, method, source, p, (
    `UPDATE ${source.from} SET data = ${merged}, updated_at = CURRENT_TIMESTAMP` +
    ` WHERE ${where.join(" AND ")} AND octet_length((${merged})::text) <= ${p.add(max)}` +
    ` RETURNING ${source.columns}`
  ));
  if (row) return source.toDocument(row);
  // No row: either there is no such document (null) or the merge would be too large.
  const q = new Params();
  const sizeSql = `SELECT octet_length((d.data || ${q.add(patchJson)}::jsonb)::text) AS size FROM ${source.from}` +
    ` WHERE ${[...source.scope(q, scope), `d.id = ${q.add(id)}::uuid`].join(" AND ")}`;
  const size = await storedSize(scope, sizeSql, q.values);
  if (size === undefined) return null;
  throw new DocumentTooLarge(method, size, max);
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

async function storedSize(scope: CallScope, sql: string, params: unknown[]): Promise<number | undefined> {
  const [row] = await scope.deps.sql.query<{ size: number | string }>(sql, params);
  return row ? Number(row.size) : undefined;
}

// A unique violation names the index; the manifest says which field that index is on.
function databaseError(scope: CallScope, method: string, source: Source, err: unknown): Error {
  if (sqlState(err) !== "23505") return toCapabilityError(method, err);
  const index = declaredIndexes(scope.tenantId, scope.pluginSlug, scope.manifest.collections).find((ix) => ix.name === constraintOf(err));
  return new DuplicateKey(method, source.name, index?.field);
}
