import { createHash } from "node:crypto";
import type { PrismaClient } from "../generated/prisma/client.ts";
import { COLLECTION_NAME, FIELD_PATH, SLUG, type CollectionSpec } from "../packaging/manifest-schema.ts";

// The indexes a manifest declares under `collections` are real partial expression indexes on
// plugin_documents, one per (tenant, plugin, collection, field):
//
//   CREATE UNIQUE INDEX pdx_<h(tenant, plugin)>_<h(collection, field, unique)>
//     ON plugin_documents ((data #>> '{"address","city"}'))
//     WHERE tenant_id = '<uuid>' AND plugin = '<slug>' AND collection = '<name>'
//
// DDL takes no bound parameters, so every value written into it is first held to a strict
// pattern (uuid, slug, collection, field) that admits no quote, and then quoted anyway. The
// name is a hash: deterministic (IF NOT EXISTS makes installs idempotent), short (63-byte
// limit), and its prefix finds all of one plugin's indexes for an upgrade or a purge.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PREFIX = "pdx_";
const NAME = /^pdx_[0-9a-f]{16}_[0-9a-f]{16}$/;

/** What runs the DDL: the host's Prisma client (upload and uninstall have it) or any SqlExec. */
export interface DdlExec {
  query<T>(text: string, params?: unknown[]): Promise<T[]>;
}

export function prismaDdl(prisma: PrismaClient): DdlExec {
  return { query: <T>(text: string, params: unknown[] = []) => prisma.$queryRawUnsafe<T[]>(text, ...params) };
}

export interface DeclaredIndex {
  name: string;
  collection: string;
  field: string;
  unique: boolean;
  /** Where in plugin.json it was declared, for upload problems. */
  path: string;
}

/** Refused at upload when existing documents break a declared unique index. */
export class CollectionIndexError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = "CollectionIndexError";
  }
}

function digest(...parts: string[]): string {
  return createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 16);
}

/** Every index name of one plugin of one tenant starts with this. */
export function indexPrefix(tenantId: string, plugin: string): string {
  return `${PREFIX}${digest(tenantId, plugin)}_`;
}

export function indexName(tenantId: string, plugin: string, collection: string, field: string, unique: boolean): string {
  return indexPrefix(tenantId, plugin) + digest(collection, field, unique ? "unique" : "");
}

/** The indexes a manifest's `collections` declares (older manifests have none). */
export function declaredIndexes(tenantId: string, plugin: string, collections: Record<string, CollectionSpec> | undefined): DeclaredIndex[] {
  return Object.entries(collections ?? {}).flatMap(([collection, spec]) =>
    spec.indexes.map((ix, i) => ({
      name: indexName(tenantId, plugin, collection, ix.field, ix.unique),
      collection,
      field: ix.field,
      unique: ix.unique,
      path: `collections.${collection}.indexes[${i}].field`,
    })),
  );
}

/** The value, once it matched the pattern it must match. */
function checked(value: string, pattern: RegExp, what: string): string {
  if (!pattern.test(value)) throw new Error(`refusing to write ${what} ${JSON.stringify(value)} into DDL`);
  return value;
}

function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

export function createIndexSql(tenantId: string, plugin: string, ix: DeclaredIndex): string {
  // Each segment double-quoted inside the array literal: a field named NULL stays a name.
  const segments = checked(ix.field, FIELD_PATH, "field").split(".").map((s) => `"${s}"`);
  return (
    `CREATE ${ix.unique ? "UNIQUE " : ""}INDEX IF NOT EXISTS "${checked(ix.name, NAME, "index name")}"` +
    ` ON plugin_documents ((data #>> ${literal(`{${segments.join(",")}}`)}))` +
    ` WHERE tenant_id = ${literal(checked(tenantId, UUID, "tenant id"))}::uuid` +
    ` AND plugin = ${literal(checked(plugin, SLUG, "plugin slug"))}` +
    ` AND collection = ${literal(checked(ix.collection, COLLECTION_NAME, "collection"))}`
  );
}

/** Names of the plugin's indexes that exist now (whatever manifest declared them). */
export async function existingIndexes(exec: DdlExec, tenantId: string, plugin: string): Promise<string[]> {
  const prefix = indexPrefix(tenantId, plugin);
  const rows = await exec.query<{ name: string }>(
    `SELECT indexname AS name FROM pg_indexes
     WHERE schemaname = current_schema() AND tablename = 'plugin_documents' AND left(indexname, $1) = $2`,
    [prefix.length, prefix],
  );
  return rows.map((r) => r.name);
}

/**
 * Builds the declared indexes that do not exist yet and answers their names. If one cannot be
 * built (documents already break a unique index), those built by this call are dropped again
 * and a CollectionIndexError says which declaration failed.
 */
export async function createCollectionIndexes(
  exec: DdlExec,
  tenantId: string,
  plugin: string,
  collections: Record<string, CollectionSpec> | undefined,
): Promise<string[]> {
  const existing = new Set(await existingIndexes(exec, tenantId, plugin));
  const created: string[] = [];
  for (const ix of declaredIndexes(tenantId, plugin, collections)) {
    if (existing.has(ix.name)) continue;
    try {
      await exec.query(createIndexSql(tenantId, plugin, ix));
    } catch (err) {
      await dropIndexesByName(exec, created).catch(() => undefined);
      if (sqlStateOf(err) !== "23505") throw err;
      throw new CollectionIndexError(
        ix.path,
        `cannot make "${ix.field}" unique in collection "${ix.collection}": stored documents already share a value; remove the duplicates or drop "unique"`,
      );
    }
    created.push(ix.name);
  }
  return created;
}

/** Drops the plugin's indexes its current manifest no longer declares. */
export async function dropUndeclaredIndexes(
  exec: DdlExec,
  tenantId: string,
  plugin: string,
  collections: Record<string, CollectionSpec> | undefined,
): Promise<void> {
  const declared = new Set(declaredIndexes(tenantId, plugin, collections).map((ix) => ix.name));
  await dropIndexesByName(exec, (await existingIndexes(exec, tenantId, plugin)).filter((name) => !declared.has(name)));
}

/** Drops every index of the plugin (uninstall with purge). */
export async function dropAllCollectionIndexes(exec: DdlExec, tenantId: string, plugin: string): Promise<void> {
  await dropIndexesByName(exec, await existingIndexes(exec, tenantId, plugin));
}

/** Drops indexes this module named (anything else is refused). */
export async function dropIndexesByName(exec: DdlExec, names: string[]): Promise<void> {
  for (const name of names) await exec.query(`DROP INDEX IF EXISTS "${checked(name, NAME, "index name")}"`);
}

// Raw pg/PGlite errors carry the SQLSTATE as `code`; Prisma wraps it (P2010) in its meta.
function sqlStateOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; meta?: { code?: unknown; driverAdapterError?: { cause?: { originalCode?: unknown } } } } | null;
  const candidates = [e?.meta?.driverAdapterError?.cause?.originalCode, e?.meta?.code, e?.code];
  return candidates.find((c): c is string => typeof c === "string" && /^[0-9A-Z]{5}$/.test(c));
}
