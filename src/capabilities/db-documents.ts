import { DOCUMENT_META_FIELDS } from "../packaging/manifest-schema.ts";
import { InvalidArgument } from "./capability-error.ts";
import { DocumentTooLarge } from "./db-errors.ts";

// What a document (ctx.db.insert) or a patch (ctx.db.update) must be before it reaches the
// database: a JSON object, without the keys the platform keeps, without text jsonb refuses,
// and no larger than the platform allows.

const NUL = "\u0000";
// A UTF-16 surrogate without its partner: JSON.stringify escapes it, and jsonb refuses it.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// Deeper nesting is no real data, and the database's JSON parser has a stack limit of its own.
export const MAX_DEPTH = 64;

export function hasNul(text: string): boolean {
  return text.includes(NUL);
}

/**
 * The data to store: the object without `id`, `created_at` and `updated_at`. Those are kept by
 * the platform and ignored here, so a document read back can be passed to update as it is.
 */
export function documentData(method: string, value: unknown, what: "document" | "patch", maxBytes: number): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidArgument(method, `the ${what} must be a JSON object like {"name": "Ada"}, not ${describe(value)}`);
  }
  const data = { ...(value as Record<string, unknown>) };
  for (const key of DOCUMENT_META_FIELDS) delete data[key];
  checkText(method, data, []);
  // The stored size is checked again in SQL (jsonb's text is a little longer); this check
  // spares the database a document that is too large already.
  const bytes = Buffer.byteLength(JSON.stringify(data));
  if (bytes > maxBytes) throw new DocumentTooLarge(method, bytes, maxBytes);
  return data;
}

/** Refuses text jsonb cannot hold, naming where it is (keys included). */
function checkText(method: string, value: unknown, path: string[]): void {
  if (typeof value === "string") {
    if (hasNul(value)) throw nulAt(method, path);
    if (LONE_SURROGATE.test(value)) throw new InvalidArgument(method, `the text at ${where(path)} has an unpaired UTF-16 surrogate`);
    return;
  }
  if (typeof value !== "object" || value === null) return;
  if (path.length >= MAX_DEPTH) throw new InvalidArgument(method, `documents may nest at most ${MAX_DEPTH} levels deep`);
  if (Array.isArray(value)) {
    value.forEach((item, i) => checkText(method, item, [...path, String(i)]));
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    if (hasNul(key)) throw nulAt(method, [...path, key.replaceAll(NUL, "\\u0000")]);
    if (LONE_SURROGATE.test(key)) throw new InvalidArgument(method, `a key at ${where(path)} has an unpaired UTF-16 surrogate`);
    checkText(method, item, [...path, key]);
  }
}

function nulAt(method: string, path: string[]): InvalidArgument {
  return new InvalidArgument(method, `text cannot contain the NUL character (\\u0000); found at ${where(path)}`);
}

function where(path: string[]): string {
  return path.length ? JSON.stringify(path.join(".")).slice(0, 80) : "the top level";
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return value === undefined ? "nothing" : `a ${typeof value}`;
}
