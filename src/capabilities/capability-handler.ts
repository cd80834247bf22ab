import type { CapabilityHandler } from "../sandbox/sandbox-process.ts";
import type { CallScope } from "./call-scope.ts";
import { CapabilityError, NotAvailable, PermissionDenied } from "./capability-error.ts";
import { METHOD_PERMISSIONS } from "./permissions.ts";
import { dbDelete, dbGetById, dbInsert, dbQuery, dbUpdate } from "./db.ts";
import { emailSend } from "./email.ts";
import { emit } from "./emit.ts";
import { filesDelete, filesList, filesRead, filesUpload } from "./files.ts";
import { httpFetch, httpGet, httpPost } from "./http.ts";
import { llmRun } from "./llm.ts";
import { secretsGet } from "./secrets.ts";

type Capability = (scope: CallScope, args: unknown[]) => Promise<unknown>;

// Deny by default: a method missing here is refused, whatever the plugin asks for.
const IMPLEMENTED: Readonly<Record<string, Capability>> = {
  "secrets.get": secretsGet,
  emit,
  "db.query": dbQuery,
  "db.getById": dbGetById,
  "db.insert": dbInsert,
  "db.update": dbUpdate,
  "db.delete": dbDelete,
  "http.fetch": httpFetch,
  "http.get": httpGet,
  "http.post": httpPost,
  "files.list": filesList,
  "files.read": filesRead,
  "files.upload": filesUpload,
  "files.delete": filesDelete,
  "llm.run": llmRun,
  "email.send": emailSend,
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
