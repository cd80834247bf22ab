import type { CallScope } from "./call-scope.ts";
import { NotAvailable } from "./capability-error.ts";

export async function dbQuery(_scope: CallScope, _args: unknown[]): Promise<unknown> {
  throw new NotAvailable("db.query");
}

export async function dbGetById(_scope: CallScope, _args: unknown[]): Promise<unknown> {
  throw new NotAvailable("db.getById");
}

export async function dbInsert(_scope: CallScope, _args: unknown[]): Promise<unknown> {
  throw new NotAvailable("db.insert");
}

export async function dbUpdate(_scope: CallScope, _args: unknown[]): Promise<unknown> {
  throw new NotAvailable("db.update");
}

export async function dbDelete(_scope: CallScope, _args: unknown[]): Promise<unknown> {
  throw new NotAvailable("db.delete");
}

