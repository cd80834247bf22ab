import { COLLECTION_NAME, CORE_TABLES, DOCUMENT_META_FIELDS, FIELD_PATH } from "../packaging/manifest-schema.ts";
import type { CallScope } from "./call-scope.ts";
import { InvalidArgument } from "./capability-error.ts";
import { ReadOnly } from "./db-errors.ts";
import { shown, type FieldKind, type FieldSql, type Params } from "./db-sql.ts";

/**
 * What ctx.db reads from: a core table of the tenant (users, files) or one of the plugin's
 * collections. A source knows its scoping conditions, its fields and how a row looks to the plugin.
 */
export interface Source {
  name: string;
  core: boolean;
  /** `FROM` clause with the alias every expression of the source uses. */
  from: string;
  /** The select list: only the columns the plugin may see (never tenant_id or install_id). */
  columns: string;
  /** Tie-breaker and getById key. */
  id: string;
  /** Conditions that keep every statement inside the tenant (and, for collections, the plugin). */
  scope(p: Params, call: CallScope): string[];
  field(method: string, path: string[], p: Params): FieldSql;
  toDocument(row: Record<string, unknown>): Record<string, unknown>;
}

type Access = "read" | "write";

/** The source a ctx.db call names; writes to core tables are refused here. */
export function resolveSource(method: string, table: unknown, access: Access): Source {
  if (typeof table !== "string") throw new InvalidArgument(method, 'the first argument must be "users", "files" or the name of a collection');
  const core = CORE[table];
  if (core) {
    if (access === "write") throw new ReadOnly(method, table);
    return core;
  }
  if (!COLLECTION_NAME.test(table)) {
    throw new InvalidArgument(method, `${shown(table)} is not a collection name: 1-63 characters of a-z, 0-9 and _, starting with a letter`);
  }
  return collection(table);
}

/** A field name from plugin input (filter key, order_by), split into its dotted segments. */
export function parseField(method: string, field: string, where: string): string[] {
  if (!FIELD_PATH.test(field)) {
    throw new InvalidArgument(
      method,
      `${where}: ${shown(field)} is not a field; use names of letters, digits and _ (not starting with a digit), dotted for nested fields like "address.city" (at most 8 deep)`,
    );
  }
  return field.split(".");
}

const META = new Set<string>(DOCUMENT_META_FIELDS);

function collection(name: string): Source {
  return {
    name,
    core: false,
    from: "plugin_documents d",
    columns: "d.id, d.data, d.created_at, d.updated_at",
    id: "d.id",
    // Keyed by the plugin's slug, not the install: data outlives upgrades and reinstalls.
    scope: (p, call) => [`d.tenant_id = ${p.add(call.tenantId)}::uuid`, `d.plugin = ${p.add(call.pluginSlug)}`, `d.collection = ${p.add(name)}`],
    field(method, path, p) {
      const label = path.join(".");
      if (META.has(path[0])) {
        if (path.length > 1) throw new InvalidArgument(method, `${path[0]} has no fields; "${label}" cannot be read`);
        return path[0] === "id" ? { kind: "text", sql: "d.id::text", label, nullable: false } : { kind: "time", sql: `d.${path[0]}`, label, nullable: false };
      }
      const at = p.add(path);
      return { kind: "json", sql: `d.data #> ${at}::text[]`, text: `d.data #>> ${at}::text[]`, label, nullable: true };
    },
    toDocument: (row) => ({ id: row.id, ...(row.data as object), created_at: iso(row.created_at), updated_at: iso(row.updated_at) }),
  };
}

/** A core table: its visible columns and their kinds; `data` (users) is JSON, so it has fields. */
function coreTable(name: (typeof CORE_TABLES)[number], columns: Record<string, FieldKind>, nullable = new Set<string>()): Source {
  const names = Object.keys(columns);
  return {
    name,
    core: true,
    from: `${name} t`,
    columns: names.map((c) => `t.${c}`).join(", "),
    id: "t.id",
    scope: (p, call) => [`t.tenant_id = ${p.add(call.tenantId)}::uuid`],
    field(method, path, p) {
      const [column, ...rest] = path;
      const label = path.join(".");
      const kind = Object.hasOwn(columns, column) ? columns[column] : undefined;
      if (!kind) throw new InvalidArgument(method, `${name} has no field "${column}"; its fields are ${names.join(", ")}`);
      if (kind !== "json" && rest.length) throw new InvalidArgument(method, `${name}.${column} has no fields; "${label}" cannot be read`);
      if (kind !== "json") return { kind, sql: column === "id" ? "t.id::text" : `t.${column}`, label, nullable: nullable.has(column) };
      if (!rest.length) return { kind, sql: `t.${column}`, label, nullable: false };
      const at = p.add(rest);
      return { kind, sql: `t.${column} #> ${at}::text[]`, text: `t.${column} #>> ${at}::text[]`, label, nullable: true };
    },
    toDocument(row) {
      const doc: Record<string, unknown> = {};
      for (const c of names) doc[c] = columns[c] === "time" ? iso(row[c]) : row[c];
      return doc;
    },
  };
}

// Column names below are constants of this file: they are the only identifiers written into SQL.
const CORE: Readonly<Record<string, Source>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, Source>, {
    users: coreTable(
      "users",
      { id: "text", email: "text", name: "text", data: "json", created_at: "time", updated_at: "time" },
      new Set(["name"]),
    ),
    files: coreTable("files", {
      id: "text",
      path: "text",
      size: "number",
      content_type: "text",
      sha256: "text",
      created_at: "time",
      updated_at: "time",
    }),
  }),
);

function iso(value: unknown): unknown {
  return value instanceof Date ? value.toISOString() : value;
}
