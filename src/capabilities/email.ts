import type { CallScope } from "./call-scope.ts";
import { NotAvailable } from "./capability-error.ts";

export async function emailSend(_scope: CallScope, _args: unknown[]): Promise<unknown> {
  throw new NotAvailable("email.send");
}

