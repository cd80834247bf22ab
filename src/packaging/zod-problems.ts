import type { z } from "zod";
import { closest, formatPath, type Problem } from "./problem.ts";

// Zod's own messages ("Invalid input: expected string, received undefined") are written for
// developers; a plugin author reading a 422 wants "is required" and "did you mean …".

type Format = (segments: readonly PropertyKey[], message: string) => Problem;
const byPath: Format = (segments, message) => ({ path: formatPath(segments), message });

/**
 * Turns zod issues into Problems. `schema` lets an unknown key get a "did you mean" hint;
 * `format` decides how a location is written (a webhook file prefixes its name, adds a line).
 */
export function issuesToProblems(
  issues: readonly z.core.$ZodIssue[],
  opts: { schema?: z.ZodType; format?: Format } = {},
): Problem[] {
  const { schema, format = byPath } = opts;
  const problems: Problem[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      const known = schema ? keysAt(schema, issue.path) : undefined;
      for (const key of issue.keys) {
        const hint = known ? closest(key, known) : undefined;
        problems.push(format([...issue.path, key], `unknown key${hint ? `; did you mean "${hint}"?` : ""}`));
      }
    } else if (issue.code === "invalid_key") {
      problems.push(format(issue.path, `bad key: ${issue.issues[0]?.message ?? issue.message}`));
    } else if (issue.code === "invalid_type") {
      const input = (issue as { input?: unknown }).input;
      const message = input === undefined ? "is required" : `must be ${noun(issue.expected)}, not ${describe(input)}`;
      problems.push(format(issue.path, message));
    } else {
      problems.push(format(issue.path, issue.message));
    }
  }
  return problems;
}

function noun(expected: string): string {
  const nouns: Record<string, string> = {
    int: "an integer",
    number: "a number",
    string: "a string",
    boolean: "true or false",
    array: "a list",
    object: "an object",
    record: "an object",
  };
  return nouns[expected] ?? expected;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "number") return Number.isInteger(value) ? "a number" : `the fraction ${value}`;
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

// Walks the schema along an issue's path to list the keys the object there accepts.
// Uses `_zod.def`, the introspection surface zod 4 documents for library authors.
type Def = { type: string; shape?: Record<string, z.ZodType>; element?: z.ZodType; valueType?: z.ZodType };
type Walkable = { _zod?: { def: Def & { innerType?: Walkable; in?: Walkable } } };
const WRAPPERS = new Set(["default", "prefault", "optional", "nullable", "readonly", "catch", "pipe"]);

function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  const unwrap = (s: Walkable | undefined) => {
    while (s?._zod && WRAPPERS.has(s._zod.def.type)) s = s._zod.def.innerType ?? s._zod.def.in;
    return s;
  };
  let s = unwrap(schema as Walkable);
  for (const seg of path) {
    const def = s?._zod?.def;
    if (def?.type === "object") s = def.shape?.[String(seg)] as Walkable;
    else if (def?.type === "array") s = def.element as Walkable;
    else if (def?.type === "record") s = def.valueType as Walkable;
    else return undefined;
    s = unwrap(s);
  }
  const def = s?._zod?.def;
  return def?.type === "object" && def.shape ? Object.keys(def.shape) : undefined;
}
