import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type { CallScope } from "../capabilities/call-scope.ts";
import { CapabilityError, InvalidArgument } from "../capabilities/capability-error.ts";
import type { Capability } from "../capabilities/capability-handler.ts";
import type { CtxMethod } from "../capabilities/ctx-members.ts";
import { DuplicateKey } from "../capabilities/db-errors.ts";
import { COLLECTION_NAME as COLLECTION, FIELD_SEGMENT as FIELD } from "../packaging/manifest-schema.ts";
import type { TestContext } from "./test-context.ts";

const CORE = new Set(["users", "files"]);
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 100;

type Doc = Record<string, unknown>;

/** ctx.db over the context's in-memory collections and users, with the platform's filter language. */
export function fakeDb(ctx: TestContext): Record<Extract<CtxMethod, `db.${string}`>, Capability> {
  const rows = (table: string): Doc[] => {
    if (table === "users") return ctx.users;
    if (table === "files") {
      return [...ctx.files.entries()].map(([p, f]) => ({ id: p, path: p, size: f.content.length, content_type: f.contentType, updated_at: f.updatedAt }));
    }
    return ctx.collection(collectionName(table, "db.query"));
  };
  const writable = (collection: unknown, method: string) => {
    const name = collectionName(collection, method);
    if (CORE.has(name)) throw new CapabilityError(`ctx.${method}: "${name}" is a core table and read-only`, "read_only", "ReadOnly");
    let docs = ctx.collections.get(name);
    if (!docs) ctx.collections.set(name, (docs = new Map()));
    return docs;
  };
  return {
    "db.query": async (_scope: CallScope, [table, filter, options]) => {
      const matches = rows(tableName(table)).filter((doc) => matchesFilter(doc, filter ?? {}));
      const o = (options ?? {}) as { limit?: unknown; order_by?: unknown; offset?: unknown };
      const offset = o.offset === undefined ? 0 : Number(o.offset);
      if (!Number.isInteger(offset) || offset < 0 || offset > 10_000) throw new InvalidArgument("db.query", "offset must be an integer from 0 to 10000");
      const limit = o.limit === undefined ? DEFAULT_LIMIT : Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgument("db.query", "limit must be a positive integer");
      const order = o.order_by === undefined ? "created_at" : String(o.order_by);
      const desc = order.startsWith("-");
      const key = fieldPath(desc ? order.slice(1) : order, "db.query");
      const sorted = [...matches].sort((a, b) => compare(get(a, key), get(b, key)) * (desc ? -1 : 1));
      return sorted.slice(offset, offset + Math.min(limit, MAX_LIMIT)).map((d) => structuredClone(d));
    },
    "db.getById": async (_scope, [table, id]) => {
      const doc = rows(tableName(table)).find((d) => d.id === id);
      return doc ? structuredClone(doc) : null;
    },
    "db.insert": async (scope, [collection, doc]) => {
      const docs = writable(collection, "db.insert");
      const now = new Date().toISOString();
      const stored = { ...plainObject(doc, "db.insert"), id: randomUUID(), created_at: now, updated_at: now };
      checkUnique(scope, String(collection), docs, stored, "db.insert");
      docs.set(stored.id, stored);
      return structuredClone(stored);
    },
    "db.update": async (scope, [collection, id, patch]) => {
      const docs = writable(collection, "db.update");
      const doc = docs.get(String(id));
      if (!doc) return null;
      const { id: _id, created_at: _c, ...rest } = plainObject(patch, "db.update");
      checkUnique(scope, String(collection), docs, { ...doc, ...rest }, "db.update");
      Object.assign(doc, rest, { updated_at: new Date().toISOString() });
      return structuredClone(doc);
    },
    "db.delete": async (_scope, [collection, id]) => writable(collection, "db.delete").delete(String(id)),
  };
}

/**
 * The unique indexes plugin.json declares, as the platform's hold them: on the field's text form
 * (`#>>`: a string as itself, other values as JSON), a missing or null field never conflicting.
 */
function checkUnique(scope: CallScope, collection: string, docs: Map<string, Doc>, doc: Doc, method: string): void {
  for (const index of scope.manifest.collections[collection]?.indexes ?? []) {
    if (!index.unique) continue;
    const key = index.field.split(".");
    const mine = textForm(get(doc, key));
    if (mine === null) continue;
    for (const other of docs.values()) {
      if (other.id !== doc.id && textForm(get(other, key)) === mine) throw new DuplicateKey(method, collection, index.field);
    }
  }
}

function textForm(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  return typeof v === "string" ? v : JSON.stringify(v);
}

function tableName(v: unknown): string {
  if (typeof v !== "string") throw new InvalidArgument("db.query", "table must be a string");
  return v;
}

function collectionName(v: unknown, method: string): string {
  if (typeof v !== "string" || !COLLECTION.test(v)) throw new InvalidArgument(method, "collection names are lower-case a-z, 0-9 and _, starting with a letter");
  return v;
}

function fieldPath(v: string, method: string): string[] {
  const path = v.split(".");
  if (!path.every((seg) => FIELD.test(seg))) throw new InvalidArgument(method, `"${v}" is not a field name`);
  return path;
}

function plainObject(v: unknown, method: string): Doc {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new InvalidArgument(method, "the document must be an object");
  return structuredClone(v as Doc);
}

function get(doc: Doc, path: string[]): unknown {
  let v: unknown = doc;
  for (const seg of path) v = v !== null && typeof v === "object" ? (v as Doc)[seg] : undefined;
  return v;
}

// Postgres jsonb order across types is null < string < number < boolean; within a type, natural.
function compare(a: unknown, b: unknown): number {
  const rank = (v: unknown) => (v === undefined ? -1 : v === null ? 0 : typeof v === "string" ? 1 : typeof v === "number" ? 2 : typeof v === "boolean" ? 3 : 4);
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  if (typeof a === "string" || typeof a === "number" || typeof a === "boolean") return a < (b as typeof a) ? -1 : a > (b as typeof a) ? 1 : 0;
  return 0;
}

const OPS = new Set(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in"]);

function matchesFilter(doc: Doc, filter: unknown): boolean {
  if (filter === null || typeof filter !== "object" || Array.isArray(filter)) throw new InvalidArgument("db.query", "filter must be an object");
  return Object.entries(filter as Doc).every(([field, cond]) => {
    const value = get(doc, fieldPath(field, "db.query"));
    if (cond === null || typeof cond !== "object" || Array.isArray(cond)) return isDeepStrictEqual(value, cond);
    return Object.entries(cond as Doc).every(([op, operand]) => {
      if (!OPS.has(op)) throw new InvalidArgument("db.query", `unknown operator ${op}; use ${[...OPS].join(", ")}`);
      const same = typeof value === typeof operand && value !== undefined;
      switch (op) {
        case "$eq": return isDeepStrictEqual(value, operand);
        case "$ne": return !isDeepStrictEqual(value, operand);
        case "$gt": return same && compare(value, operand) > 0;
        case "$gte": return same && compare(value, operand) >= 0;
        case "$lt": return same && compare(value, operand) < 0;
        case "$lte": return same && compare(value, operand) <= 0;
        default: {
          if (!Array.isArray(operand)) throw new InvalidArgument("db.query", "$in takes an array");
          return operand.some((o) => isDeepStrictEqual(value, o));
        }
      }
    });
  });
}
