// The small pieces every ctx.db statement is built from. Plugin input only ever travels as a
// bound parameter ($n); the SQL text is assembled from constants of this module and its peers.

/** Collects bound parameters; `add` answers the placeholder to write in the SQL text. */
export class Params {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  /** A JSON value as a jsonb parameter, so it compares as JSON (numbers numerically). */
  json(value: unknown): string {
    return `${this.add(JSON.stringify(value))}::jsonb`;
  }
}

/**
 * How a field reads in SQL. "json" expressions are jsonb (document data, a user's `data`);
 * the others are typed columns of a table, compared in their own type so their indexes apply.
 */
export type FieldKind = "json" | "text" | "number" | "time";

export interface FieldSql {
  kind: FieldKind;
  /** The expression (jsonb for "json"). */
  sql: string;
  /** json only: the same path as text (`#>>`), the form collection indexes are built on. */
  text?: string;
  /** The field as the plugin wrote it, for messages. */
  label: string;
  /** Whether rows can lack a value (JSON fields always can). */
  nullable: boolean;
}

/** A value as a string for messages, cut so that a huge input does not make a huge error. */
export function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
