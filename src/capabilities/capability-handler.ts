import type { CapabilityHandler } from "../sandbox/sandbox-process.ts";
import type { CallScope } from "./call-scope.ts";
import { CapabilityError, NotAvailable, PermissionDenied } from "./capability-error.ts";
import { METHOD_PERMISSIONS } from "./permissions.ts";
import { emit } from "./emit.ts";
import { secretsGet } from "./secrets.ts";

type Capability = (scope: CallScope, args: unknown[]) => Promise<unknown>;

// Deny by default: a method missing here is refused, whatever the plugin asks for.
const IMPLEMENTED: Readonly<Record<string, Capability>> = {
  "secrets.get": secretsGet,
  emit,
};

const PLANNED = new Set(Object.keys(METHOD_PERMISSIONS));

/** The host side of every ctx call of one invocation: permission first, then the work. */
export function capabilityHandler(scope: CallScope): CapabilityHandler {
  return async (method, args) => {
    const permission = METHOD_PERMISSIONS[method];
    if (permission && !scope.permissions.has(permission)) {
      const denied = new PermissionDenied(method, permission);
      scope.log("warn", denied.message, { method, permission });
      scope.count(method, "denied");
      throw denied;
    }
    const impl = IMPLEMENTED[method];
    if (!impl) {
      scope.count(method, "error");
      throw PLANNED.has(method) ? new NotAvailable(method) : new CapabilityError(`ctx.${method} does not exist`, "unknown_method");
    }
    try {
      const value = await impl(scope, args);
      scope.count(method, "ok");
      return value;
    } catch (err) {
      scope.count(method, "error");
      throw err;
    }
  };
}
