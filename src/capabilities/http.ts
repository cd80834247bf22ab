import type { CallScope } from "./call-scope.ts";
import { NotAvailable } from "./capability-error.ts";

export async function httpFetch(_scope: CallScope, _args: unknown[]): Promise<unknown> {
  throw new NotAvailable("http.fetch");
}

export async function httpGet(_scope: CallScope, _args: unknown[]): Promise<unknown> {
  throw new NotAvailable("http.get");
}

export async function httpPost(_scope: CallScope, _args: unknown[]): Promise<unknown> {
  throw new NotAvailable("http.post");
}

