import type { CapabilityHandler } from "../sandbox/sandbox-process.ts";
import type { CallScope } from "./call-scope.ts";
import { CapabilityError, NotAvailable, PermissionDenied } from "./capability-error.ts";
import { METHOD_PERMISSIONS } from "./permissions.ts";
import { assetsList, assetsRead } from "./assets.ts";
import { dbDelete, dbGetById, dbInsert, dbQuery, dbUpdate } from "./db.ts";
import { emailSend } from "./email.ts";
import { emit } from "./emit.ts";
import { filesDelete, filesList, filesRead, filesUpload } from "./files.ts";
import { httpFetch, httpGet, httpPost } from "./http.ts";
import { llmRun } from "./llm.ts";
import { secretsGet } from "./secrets.ts";

/** One ctx method's host side: the scope of the call and the arguments as the plugin passed them. */
export type Capability<S = CallScope> = (scope: S, args: unknown[]) => Promise<unknown>;
export type CapabilityTable<S = CallScope> = Readonly<Record<string, Capability<S>>>;

/** What the permission check needs of a scope (the test harness has its own, lighter one). */
export type CheckedScope = Pick<CallScope, "permissions" | "log" | "count">;

// Deny by default: a method missing here is refused, whatever the plugin asks for.
export const IMPLEMENTED: CapabilityTable = {
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
  "assets.read": assetsRead,
  "assets.list": assetsList,
};

const PLANNED = new Set(Object.keys(METHOD_PERMISSIONS));

/**
 * The host side of every ctx call of one invocation: permission first, then the work, over a
 * table of implementations (production's IMPLEMENTED, or a test harness's fakes).
 */
export function createCapabilityHandler<S extends CheckedScope>(scope: S, table: CapabilityTable<S>): CapabilityHandler {
  return async (method, args) => {
    const permission = METHOD_PERMISSIONS[method];
    if (permission && !scope.permissions.has(permission)) {
      const denied = new PermissionDenied(method, permission);
      scope.log("warn", denied.message, { method, permission });
      scope.count(method, "denied");
      throw denied;
    }
    const impl = Object.hasOwn(table, method) ? table[method] : undefined;
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
