import { FIELD_SEGMENT } from "../packaging/manifest-schema.ts";
import { InvalidArgument } from "./capability-error.ts";
import { hasNul } from "./db-documents.ts";
import { shown, type FieldSql, type Params } from "./db-sql.ts";
import { parseField, type Source } from "./db-tables.ts";

// ctx.db.query's filter and options → SQL. A filter is `{field: value}` (equality) or
// `{field: {$gt: 1, $lte: 9, ...}}`; every field and value becomes a bound parameter.

export const MAX_FILTER_FIELDS = 20;
export const MAX_IN_VALUES = 100;
export const DEFAULT_LIMIT = 50;
export const MAX_OFFSET = 10_000;

const OPERATORS = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in"] as const;
type Operator = (typeof OPERATORS)[number];
const RANGE_SQL: Partial<Record<Operator, string>> = { $gt: ">", $gte: ">=", $lt: "<", $lte: "<=" };

type Scalar = string | number | boolean | null;

/** The WHERE conditions of a filter (ANDed); an absent filter is no condition. */
export function filterConditions(method: string, source: Source, filter: unknown, p: Params): string[] {
  if (filter === undefined || filter === null) return [];
  if (!isPlainObject(filter)) throw new InvalidArgument(method, 'the filter must be an object like {status: "open", total: {$gt: 10}}');
  const entries = Object.entries(filter);
  if (entries.length > MAX_FILTER_FIELDS) throw new InvalidArgument(method, `a filter may name at most ${MAX_FILTER_FIELDS} fields`);
  const conditions: string[] = [];
  for (const [name, condition] of entries) {
    const field = source.field(method, parseField(method, name, "filter"), p);
    conditions.push(...fieldConditions(method, field, condition, p));
  }
  return conditions;
}

function fieldConditions(method: string, field: FieldSql, condition: unknown, p: Params): string[] {
  if (isScalar(condition)) return [compare(method, field, "$eq", condition, p)];
  if (Array.isArray(condition)) {
    throw new InvalidArgument(method, `filter.${field.label}: a list is not a value; to match any of several use {$in: [...]}`);
  }
  if (!isPlainObject(condition)) throw new InvalidArgument(method, `filter.${field.label}: ${shown(condition)} is not a JSON value`);
  const ops = Object.entries(condition);
  if (!ops.length) throw new InvalidArgument(method, `filter.${field.label}: an empty object is not a condition`);
  return ops.map(([op, value]) => {
    if (!(OPERATORS as readonly string[]).includes(op)) throw unknownOperator(method, field.label, op);
    return compare(method, field, op as Operator, value, p);
  });
}

function unknownOperator(method: string, label: string, op: string): InvalidArgument {
  if (op.startsWith("$")) return new InvalidArgument(method, `filter.${label}: unknown operator ${shown(op)}; use ${OPERATORS.join(", ")}`);
  const example = FIELD_SEGMENT.test(op) ? `${label}.${op}` : `${label}.name`;
  return new InvalidArgument(method, `filter.${label}: objects are not values; match a nested field with a dotted name like "${example}"`);
}

function compare(method: string, field: FieldSql, op: Operator, value: unknown, p: Params): string {
  if (op === "$in") return inList(method, field, value, p);
  if (!isScalar(value)) throw new InvalidArgument(method, `filter.${field.label}.${op}: the value must be a string, number, boolean or null`);
  checkText(method, field, value);
  if (value === null) return nullTest(method, field, op);
  const sqlOp = op === "$eq" ? "=" : op === "$ne" ? "IS DISTINCT FROM" : RANGE_SQL[op]!;
  if (field.kind === "json") return jsonCompare(field, op, sqlOp, value, p);
  return `${field.sql} ${sqlOp} ${typedParam(method, field, value, p)}`;
}

// JSON null and a missing field both count as null, as in most document stores.
function nullTest(method: string, field: FieldSql, op: Operator): string {
  if (op !== "$eq" && op !== "$ne") throw new InvalidArgument(method, `filter.${field.label}.${op}: null can only be compared with $eq or $ne`);
  if (field.kind !== "json") return `${field.sql} IS ${op === "$eq" ? "" : "NOT "}NULL`;
  return op === "$eq" ? `(${field.sql} IS NULL OR ${field.sql} = 'null'::jsonb)` : `(${field.sql} IS NOT NULL AND ${field.sql} <> 'null'::jsonb)`;
}

function jsonCompare(field: FieldSql, op: Operator, sqlOp: string, value: Exclude<Scalar, null>, p: Params): string {
  const param = p.json(value);
  if (op === "$eq") {
    // The text form lets a collection index on the field (built on `#>>`) serve the lookup.
    return typeof value === "string" && field.text ? `(${field.text} = ${p.add(value)} AND ${field.sql} = ${param})` : `${field.sql} = ${param}`;
  }
  if (op === "$ne") return `${field.sql} ${sqlOp} ${param}`;
  // jsonb orders across types (a boolean is above every number), so a range only matches
  // values of the same JSON type as its bound.
  return `(jsonb_typeof(${field.sql}) = '${jsonType(value)}' AND ${field.sql} ${sqlOp} ${param})`;
}

function inList(method: string, field: FieldSql, list: unknown, p: Params): string {
  const where = `filter.${field.label}.$in`;
  if (!Array.isArray(list)) throw new InvalidArgument(method, `${where}: must be a list of values`);
  if (list.length > MAX_IN_VALUES) throw new InvalidArgument(method, `${where}: at most ${MAX_IN_VALUES} values`);
  for (const v of list) {
    if (!isScalar(v) || v === null) throw new InvalidArgument(method, `${where}: values must be strings, numbers or booleans (match null with {${field.label}: null})`);
    checkText(method, field, v);
  }
  if (field.kind === "json") return `${field.sql} IN (SELECT jsonb_array_elements(${p.json(list)}))`;
  const values = list.map((v) => typedValue(method, field, v));
  return `${field.sql} = ANY(${p.add(values)}::${SQL_TYPE[field.kind]}[])`;
}

const SQL_TYPE = { text: "text", number: "numeric", time: "timestamptz" } as const;

// Typed columns compare in their own type, so the value must be of that type.
function typedParam(method: string, field: FieldSql, value: Scalar, p: Params): string {
  return `${p.add(typedValue(method, field, value))}::${SQL_TYPE[field.kind as keyof typeof SQL_TYPE]}`;
}

function typedValue(method: string, field: FieldSql, value: Scalar): string | number {
  switch (field.kind) {
    case "text":
      if (typeof value === "string") return value;
      break;
    case "number":
      if (typeof value === "number") return value;
      break;
    case "time":
      if (typeof value === "string" && !Number.isNaN(Date.parse(value))) return new Date(value).toISOString();
      throw new InvalidArgument(method, `filter.${field.label}: compare with a date string like "2026-01-31T12:00:00Z", not ${shown(value)}`);
  }
  throw new InvalidArgument(method, `filter.${field.label} is a ${field.kind === "number" ? "number" : "string"}; ${shown(value)} cannot match it`);
}

function checkText(method: string, field: FieldSql, value: Scalar): void {
  if (typeof value === "number" && !Number.isFinite(value)) throw new InvalidArgument(method, `filter.${field.label}: numbers must be finite`);
  if (typeof value === "string" && hasNul(value)) throw new InvalidArgument(method, `filter.${field.label}: text cannot contain the NUL character (\\u0000)`);
}

function jsonType(value: string | number | boolean): "string" | "number" | "boolean" {
  return typeof value as "string" | "number" | "boolean";
}

export interface QueryOptions {
  limit: number;
  offset: number;
  /** The ORDER BY clause (without the keywords). */
  orderBy: string;
}

const OPTION_KEYS = ["limit", "offset", "order_by"];

/** `{limit, offset, order_by}`: limit defaults to 50 and is capped at the platform maximum. */
export function queryOptions(method: string, source: Source, options: unknown, maxLimit: number, p: Params): QueryOptions {
  if (options === undefined || options === null) options = {};
  if (!isPlainObject(options)) throw new InvalidArgument(method, "options must be an object like {limit: 20, order_by: \"-created_at\"}");
  const unknown = Object.keys(options).find((k) => !OPTION_KEYS.includes(k));
  if (unknown !== undefined) throw new InvalidArgument(method, `unknown option ${shown(unknown)}; use ${OPTION_KEYS.join(", ")}`);
  const { limit, offset, order_by: orderBy } = options as Record<string, unknown>;
  return {
    limit: Math.min(count(method, "limit", limit, DEFAULT_LIMIT, 1, Number.MAX_SAFE_INTEGER), maxLimit),
    offset: count(method, "offset", offset, 0, 0, MAX_OFFSET),
    orderBy: orderClause(method, source, orderBy, p),
  };
}

function count(method: string, name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined || value === null) return fallback;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw new InvalidArgument(method, `${name} must be an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? " up" : ` to ${max}`}, not ${shown(value)}`);
  }
  return value as number;
}

// "field" ascending, "-field" descending; documents without the field come last either way
// (said only where a field can be null: on NOT NULL columns it would keep an index from serving
// a descending order). The id breaks ties, so pages (offset) do not overlap.
function orderClause(method: string, source: Source, orderBy: unknown, p: Params): string {
  if (orderBy === undefined || orderBy === null) orderBy = "created_at";
  if (typeof orderBy !== "string") throw new InvalidArgument(method, 'order_by must be a field name, with a leading "-" for descending, like "-created_at"');
  const descending = orderBy.startsWith("-");
  const field = source.field(method, parseField(method, descending ? orderBy.slice(1) : orderBy, "order_by"), p);
  const direction = descending ? "DESC" : "ASC";
  return `${field.sql} ${direction}${descending && field.nullable ? " NULLS LAST" : ""}, ${source.id} ${direction}`;
}

function isScalar(value: unknown): value is Scalar {
  return value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean";
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
