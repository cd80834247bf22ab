import type { CallScope } from "./call-scope.ts";
import { InvalidArgument } from "./capability-error.ts";

/** ctx.secrets.get(name): the install's secret, decrypted on the host, or undefined. */
export async function secretsGet(scope: CallScope, args: unknown[]): Promise<string | null> {
  const [name] = args;
  if (typeof name !== "string" || !/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(name)) {
    throw new InvalidArgument("secrets.get", "name must be a secret name like API_KEY");
  }
  return (await scope.secrets.get(scope.installId, name)) ?? null;
}
