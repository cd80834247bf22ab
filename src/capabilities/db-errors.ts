import { CapabilityError, InvalidArgument } from "./capability-error.ts";

// The errors ctx.db raises besides InvalidArgument (name "TypeError") and PermissionDenied.
// Plugin code tells them apart by `err.name`; the database's own wording never reaches it.

/** A write to a core table (users, files): those belong to the host and are read-only here. */
export class ReadOnly extends CapabilityError {
  constructor(method: string, table: string) {
    super(
      `ctx.${method}: "${table}" is a core table and is read-only for plugins; write to a collection of your own instead`,
      "read_only",
      "ReadOnly",
    );
  }
}

/** A write that would give two documents the same value of a field with a unique index. */
export class DuplicateKey extends CapabilityError {
  constructor(method: string, collection: string, field?: string) {
    const what = field ? `the same "${field}" (unique index in plugin.json)` : "the same value of a uniquely indexed field";
    super(`ctx.${method}: another document in "${collection}" already has ${what}`, "duplicate_key", "DuplicateKey");
  }
}

export class DocumentTooLarge extends CapabilityError {
  constructor(method: string, bytes: number, max: number) {
    super(`ctx.${method}: the document would be ${bytes} bytes of JSON; the limit is ${max} bytes`, "document_too_large", "DocumentTooLarge");
  }
}

/** Anything else the database refused: the plugin learns which call failed, not how the host is built. */
export class DatabaseError extends CapabilityError {
  constructor(method: string, sqlState?: string) {
    super(`ctx.${method} failed in the database${sqlState ? ` (SQLSTATE ${sqlState})` : ""}`, "database_error", "DatabaseError");
  }
}

interface PgError {
  code?: unknown;
  constraint?: unknown;
  /** Statements run through Prisma (the quota-locked writes) come back wrapped (P2010). */
  meta?: { driverAdapterError?: { cause?: { originalCode?: unknown; originalMessage?: unknown; constraint?: { index?: unknown } } } };
}

/** The SQLSTATE of a pg/PGlite error, raw or wrapped by Prisma, if it is one. */
export function sqlState(err: unknown): string | undefined {
  const e = err as PgError | null;
  const code = e?.meta?.driverAdapterError?.cause?.originalCode ?? e?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** The constraint (for us: index) a pg/PGlite error names, raw or wrapped by Prisma. */
export function constraintOf(err: unknown): string | undefined {
  const e = err as PgError | null;
  if (typeof e?.constraint === "string") return e.constraint;
  const cause = e?.meta?.driverAdapterError?.cause;
  if (typeof cause?.constraint?.index === "string") return cause.constraint.index;
  // why: PGlite's Prisma adapter names the index's columns, not the index; the server's message names it.
  const named = typeof cause?.originalMessage === "string" ? /unique constraint "([^"]+)"/.exec(cause.originalMessage) : null;
  return named?.[1];
}

/**
 * Turns a database error into what the plugin sees. Unique violations are handled by the
 * caller (it knows the collection); values the database cannot store are the plugin's input.
 */
export function toCapabilityError(method: string, err: unknown): Error {
  if (err instanceof CapabilityError) return err;
  const state = sqlState(err);
  switch (state) {
    case "22P05": // jsonb refuses \u0000 (checked before; kept as a second line)
    case "22021": // text refuses NUL bytes
      return new InvalidArgument(method, "text cannot contain the NUL character (\\u0000)");
    case "22P02": // e.g. a lone UTF-16 surrogate in a JSON string
      return new InvalidArgument(method, "a value is not valid JSON text for the database (is there an unpaired surrogate in a string?)");
    default:
      return new DatabaseError(method, state);
  }
}
