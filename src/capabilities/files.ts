import type { CallScope } from "./call-scope.ts";
import { NotAvailable } from "./capability-error.ts";

export async function filesList(_scope: CallScope, _args: unknown[]): Promise<unknown> {
  throw new NotAvailable("files.list");
}

export async function filesRead(_scope: CallScope, _args: unknown[]): Promise<unknown> {
  throw new NotAvailable("files.read");
}

export async function filesUpload(_scope: CallScope, _args: unknown[]): Promise<unknown> {
  throw new NotAvailable("files.upload");
}

export async function filesDelete(_scope: CallScope, _args: unknown[]): Promise<unknown> {
  throw new NotAvailable("files.delete");
}

