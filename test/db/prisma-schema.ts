import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

// A small reader for prisma/schema.prisma, enough for the drift test to know what the database
// must contain. The generated client's runtime data model lacks nullability and native types,
// so the schema file itself is the source of truth here.

export interface SchemaField {
  name: string;
  column: string;
  type: string;
  optional: boolean;
  list: boolean;
  nativeType?: string;
  nativeArgs?: string;
  default?: string;
  id: boolean;
  unique: boolean;
  relation?: { fields: string[]; references: string[]; onDelete?: string };
}

export interface SchemaModel {
  name: string;
  table: string;
  fields: SchemaField[];
  uniques: string[][];
  indexes: string[][];
}

export const SCALAR_TYPES = new Set(["String", "Int", "BigInt", "Float", "Decimal", "Boolean", "DateTime", "Json", "Bytes"]);

export const SCHEMA_PATH = fileURLToPath(new URL("../../prisma/schema.prisma", import.meta.url));

export function readPrismaSchema(file: string = SCHEMA_PATH): SchemaModel[] {
  return parsePrismaSchema(readFileSync(file, "utf8"));
}

export function parsePrismaSchema(source: string): SchemaModel[] {
  const lines = source.split("\n").map(stripComment);
  const models: SchemaModel[] = [];
  let current: SchemaModel | undefined;
  for (const raw of lines) {
    const line = raw.trim();
    const open = /^model\s+(\w+)\s*\{$/.exec(line);
    if (open) {
      current = { name: open[1]!, table: open[1]!, fields: [], uniques: [], indexes: [] };
      models.push(current);
      continue;
    }
    if (!current || line === "") continue;
    if (line === "}") {
      current = undefined;
      continue;
    }
    if (line.startsWith("@@")) {
      const map = /^@@map\("([^"]+)"\)/.exec(line);
      if (map) current.table = map[1]!;
      const block = /^@@(unique|index|id)\(\s*\[([^\]]*)\]/.exec(line);
      if (block?.[1] === "unique") current.uniques.push(list(block[2]!));
      if (block?.[1] === "index") current.indexes.push(list(block[2]!));
      continue;
    }
    const field = /^(\w+)\s+(\w+)(\[\])?(\?)?\s*(.*)$/.exec(line);
    if (!field) throw new Error(`prisma-schema: cannot read line in model ${current.name}: ${line}`);
    const [, name, type, isList, optional, attrs = ""] = field;
    const native = /@db\.(\w+)(?:\(([^)]*)\))?/.exec(attrs);
    const relation = /@relation\(([^)]*)\)/.exec(attrs);
    current.fields.push({
      name: name!,
      column: /@map\("([^"]+)"\)/.exec(attrs)?.[1] ?? name!,
      type: type!,
      optional: optional === "?",
      list: isList === "[]",
      nativeType: native?.[1],
      nativeArgs: native?.[2],
      default: balancedArgs(attrs, "@default("),
      id: /@id\b/.test(attrs),
      unique: /@unique\b/.test(attrs),
      relation: relation && /fields:/.test(relation[1]!) ? parseRelation(relation[1]!) : undefined,
    });
  }
  for (const model of models) {
    for (const f of model.fields) if (f.unique) model.uniques.push([f.name]);
  }
  return models;
}

/** Scalar fields stored as columns (relation fields and back-relations are not columns). */
export function columnFields(model: SchemaModel): SchemaField[] {
  return model.fields.filter((f) => SCALAR_TYPES.has(f.type) && !f.list);
}

/** Field names to column names. */
export function columnsOf(model: SchemaModel, fieldNames: string[]): string[] {
  return fieldNames.map((n) => {
    const f = model.fields.find((x) => x.name === n);
    if (!f) throw new Error(`prisma-schema: ${model.name} has no field ${n}`);
    return f.column;
  });
}

function parseRelation(body: string): SchemaField["relation"] {
  return {
    fields: list(/fields:\s*\[([^\]]*)\]/.exec(body)?.[1] ?? ""),
    references: list(/references:\s*\[([^\]]*)\]/.exec(body)?.[1] ?? ""),
    onDelete: /onDelete:\s*(\w+)/.exec(body)?.[1],
  };
}

// `@default("{}")` holds braces and quotes, so read up to the matching parenthesis.
function balancedArgs(attrs: string, opener: string): string | undefined {
  const start = attrs.indexOf(opener);
  if (start < 0) return undefined;
  let depth = 1;
  let inString = false;
  for (let i = start + opener.length; i < attrs.length; i++) {
    const c = attrs[i];
    if (c === '"' && attrs[i - 1] !== "\\") inString = !inString;
    if (inString) continue;
    if (c === "(") depth++;
    if (c === ")" && --depth === 0) return attrs.slice(start + opener.length, i);
  }
  throw new Error(`prisma-schema: unbalanced ${opener} in ${attrs}`);
}

function list(body: string): string[] {
  return body
    .split(",")
    .map((s) => s.trim().replace(/\(.*\)$/, ""))
    .filter(Boolean);
}

function stripComment(line: string): string {
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '"' && line[i - 1] !== "\\") inString = !inString;
    if (!inString && line[i] === "/" && line[i + 1] === "/") return line.slice(0, i);
  }
  return line;
}
