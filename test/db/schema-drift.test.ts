import { test, describe, before, after, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { Prisma } from "../../src/generated/prisma/client.ts";
import type { SqlExec } from "../../src/db/database.ts";
import { postgresAvailable, requireOrSkip } from "../support/services.ts";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database.ts";
import { columnFields, columnsOf, readPrismaSchema, type SchemaField, type SchemaModel } from "./prisma-schema.ts";

// The migrations are written by hand, so this is what keeps them honest: after migrating, the
// database must hold exactly what prisma/schema.prisma describes (tables, columns, types,
// nullability, defaults, keys, indexes, foreign keys) and nothing more.

const pgUp = await postgresAvailable();
const models = readPrismaSchema();

test("the schema reader sees the models and fields the generated client knows", () => {
  assert.deepEqual(models.map((m) => m.name), Object.values(Prisma.ModelName));
  for (const model of models) {
    const enumName = `${model.name}ScalarFieldEnum` as keyof typeof Prisma;
    const clientFields = Object.values(Prisma[enumName] as Record<string, string>);
    assert.deepEqual(columnFields(model).map((f) => f.name), clientFields, model.name);
  }
  const install = models.find((m) => m.name === "Install")!;
  const config = install.fields.find((f) => f.name === "config")!;
  assert.deepEqual([config.column, config.type, config.default, config.optional], ["config", "Json", '"{}"', false]);
  assert.deepEqual(install.uniques, [["tenantId", "slug"]]);
});

// What information_schema says for a Prisma field (postgresql connector defaults and @db types).
function expectedType(f: SchemaField): { data_type: string; precision?: number; length?: number } {
  const n = f.nativeArgs ? Number(f.nativeArgs.split(",")[0]) : undefined;
  switch (f.nativeType) {
    case "Uuid": return { data_type: "uuid" };
    case "Text": return { data_type: "text" };
    case "VarChar": return { data_type: "character varying", length: n };
    case "Timestamptz": return { data_type: "timestamp with time zone", precision: n ?? 6 };
    case "Timestamp": return { data_type: "timestamp without time zone", precision: n ?? 6 };
    case "Integer": return { data_type: "integer" };
    case "Date": return { data_type: "date" };
    case "SmallInt": return { data_type: "smallint" };
    case "JsonB": return { data_type: "jsonb" };
    case "Json": return { data_type: "json" };
    case undefined: break;
    default: throw new Error(`drift test: teach expectedType about @db.${f.nativeType}`);
  }
  const byType: Record<string, { data_type: string; precision?: number }> = {
    String: { data_type: "text" },
    Int: { data_type: "integer" },
    BigInt: { data_type: "bigint" },
    Float: { data_type: "double precision" },
    Boolean: { data_type: "boolean" },
    DateTime: { data_type: "timestamp without time zone", precision: 3 },
    Json: { data_type: "jsonb" },
    Bytes: { data_type: "bytea" },
  };
  const t = byType[f.type];
  if (!t) throw new Error(`drift test: teach expectedType about ${f.type}`);
  return t;
}

function defaultMatches(f: SchemaField, actual: string | null): boolean {
  const d = f.default;
  if (d === undefined || /^(uuid|cuid|nanoid|ulid)\(/.test(d)) return actual === null; // client-side ids
  if (d === "autoincrement()") return actual?.startsWith("nextval(") ?? false;
  if (d === "now()") return actual === "CURRENT_TIMESTAMP";
  if (d.startsWith('"')) return actual === `'${JSON.parse(d).replace(/'/g, "''")}'::${f.type === "Json" ? "jsonb" : "text"}`;
  return actual === d;
}

const CONSTRAINT_RULE: Record<string, string> = { c: "Cascade", r: "Restrict", a: "NoAction", n: "SetNull", d: "SetDefault" };

interface Column { column_name: string; data_type: string; is_nullable: string; column_default: string | null; datetime_precision: number | null; character_maximum_length: number | null }
interface Index { name: string; unique: boolean; primary: boolean; columns: string[] }
interface ForeignKey { name: string; ref_table: string; columns: string[]; ref_columns: string[]; on_delete: string; on_update: string }

const columnsOfTable = (sql: SqlExec, table: string) =>
  sql.query<Column>(
    `SELECT column_name::text, data_type::text, is_nullable::text, column_default::text,
            datetime_precision::int, character_maximum_length::int
       FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  );

const indexesOf = (sql: SqlExec, table: string) =>
  sql.query<Index>(
    `SELECT i.relname::text AS name, ix.indisunique AS unique, ix.indisprimary AS primary,
            array_agg(a.attname::text ORDER BY k.ord) AS columns
       FROM pg_index ix
       JOIN pg_class t ON t.oid = ix.indrelid
       JOIN pg_class i ON i.oid = ix.indexrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
       CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
      WHERE n.nspname = current_schema() AND t.relname = $1
      GROUP BY i.relname, ix.indisunique, ix.indisprimary ORDER BY 1`,
    [table],
  );

const foreignKeysOf = (sql: SqlExec, table: string) =>
  sql.query<ForeignKey>(
    `SELECT c.conname::text AS name, rt.relname::text AS ref_table,
            c.confdeltype::text AS on_delete, c.confupdtype::text AS on_update,
            (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS columns,
            (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum) AS ref_columns
       FROM pg_constraint c
       JOIN pg_class t ON t.oid = c.conrelid
       JOIN pg_class rt ON rt.oid = c.confrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE c.contype = 'f' AND n.nspname = current_schema() AND t.relname = $1 ORDER BY 1`,
    [table],
  );

function expectedIndexes(model: SchemaModel): Index[] {
  const idCols = columnsOf(model, model.fields.filter((f) => f.id).map((f) => f.name));
  const named = (cols: string[], suffix: string) => `${model.table}_${cols.join("_")}_${suffix}`;
  const uniques = model.uniques.map((u) => columnsOf(model, u));
  const plain = model.indexes.map((i) => columnsOf(model, i));
  return [
    { name: `${model.table}_pkey`, unique: true, primary: true, columns: idCols },
    ...uniques.map((cols) => ({ name: named(cols, "key"), unique: true, primary: false, columns: cols })),
    ...plain.map((cols) => ({ name: named(cols, "idx"), unique: false, primary: false, columns: cols })),
  ].sort((a, b) => (a.name < b.name ? -1 : 1));
}

function expectedForeignKeys(model: SchemaModel): ForeignKey[] {
  return model.fields
    .filter((f) => f.relation && f.relation.fields.length > 0)
    .map((f) => {
      const cols = columnsOf(model, f.relation!.fields);
      const target = models.find((m) => m.name === f.type)!;
      const required = f.relation!.fields.some((n) => !model.fields.find((x) => x.name === n)!.optional);
      return {
        name: `${model.table}_${cols.join("_")}_fkey`,
        ref_table: target.table,
        columns: cols,
        ref_columns: columnsOf(target, f.relation!.references),
        on_delete: f.relation!.onDelete ?? (required ? "Restrict" : "SetNull"),
        on_update: "Cascade",
      };
    })
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

for (const kind of databaseKinds()) {
  describe(`schema drift on ${kind}`, () => {
    let tdb: TestDatabase | undefined;
    const ready = async (t: TestContext) => kind === "pglite" || (await requireOrSkip(t, "postgres", pgUp));
    before(async () => {
      if (kind === "pglite" || pgUp) tdb = await createTestDatabase(kind);
    });
    after(async () => tdb?.drop());

    test("the database has exactly the schema's tables (plus _prisma_migrations)", async (t) => {
      if (!(await ready(t))) return;
      const rows = await tdb!.db.sql.query<{ table_name: string }>(
        `SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1`,
      );
      assert.deepEqual(rows.map((r) => r.table_name), ["_prisma_migrations", ...models.map((m) => m.table)].sort());
    });

    for (const model of models) {
      test(`${model.name} → "${model.table}": columns, types, nullability, defaults`, async (t) => {
        if (!(await ready(t))) return;
        const actual = await columnsOfTable(tdb!.db.sql, model.table);
        const fields = columnFields(model);
        assert.deepEqual(actual.map((c) => c.column_name), fields.map((f) => f.column), "same columns, same order, none extra");
        for (const f of fields) {
          const col = actual.find((c) => c.column_name === f.column)!;
          const want = expectedType(f);
          const where = `${model.table}.${f.column}`;
          assert.equal(col.data_type, want.data_type, where);
          if (want.precision !== undefined) assert.equal(col.datetime_precision, want.precision, `${where} precision`);
          if (want.length !== undefined) assert.equal(col.character_maximum_length, want.length, `${where} length`);
          assert.equal(col.is_nullable, f.optional ? "YES" : "NO", `${where} nullability`);
          assert.ok(defaultMatches(f, col.column_default), `${where} default: schema ${f.default ?? "none"}, database ${col.column_default}`);
        }
      });

      test(`${model.name} → "${model.table}": primary key, unique and plain indexes`, async (t) => {
        if (!(await ready(t))) return;
        assert.deepEqual(await indexesOf(tdb!.db.sql, model.table), expectedIndexes(model));
      });

      test(`${model.name} → "${model.table}": foreign keys and their rules`, async (t) => {
        if (!(await ready(t))) return;
        const actual = (await foreignKeysOf(tdb!.db.sql, model.table)).map((fk) => ({
          ...fk,
          on_delete: CONSTRAINT_RULE[fk.on_delete]!,
          on_update: CONSTRAINT_RULE[fk.on_update]!,
        }));
        assert.deepEqual(actual, expectedForeignKeys(model));
      });
    }
  });
}
