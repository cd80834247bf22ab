import type { CallScope } from "./call-scope.ts";
import { NotAvailable } from "./capability-error.ts";

export async function llmRun(_scope: CallScope, _args: unknown[]): Promise<unknown> {
  throw new NotAvailable("llm.run");
}

