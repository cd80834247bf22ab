import type { CapabilityHandler } from "../sandbox/sandbox-process.ts";
import type { CallScope } from "./call-scope.ts";
import { CapabilityError, PermissionDenied } from "./capability-error.ts";
import { CTX_MEMBERS, isCtxMethod, type CtxMethod } from "./ctx-members.ts";
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
/** One implementation per ctx member (ctx-members.ts): a member without one fails the type check. */
export type CapabilityTable<S = CallScope> = Readonly<Record<CtxMethod, Capability<S>>>;

/** What the permission check needs of a scope (the test harness has its own, lighter one). */
export type CheckedScope = Pick<CallScope, "permissions" | "log" | "count">;

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

/**
 * The host side of every ctx call of one invocation: permission first, then the work, over a
 * table of implementations (production's IMPLEMENTED, or a test harness's fakes).
 */
export function createCapabilityHandler<S extends CheckedScope>(scope: S, table: CapabilityTable<S>): CapabilityHandler {
  return async (method, args) => {
    // Deny by default: a name the registry does not hold is refused, whatever the isolate sends.
    if (!isCtxMethod(method)) {
      scope.count(method, "error");
      throw new CapabilityError(`ctx.${method} does not exist`, "unknown_method");
    }
    const permission = CTX_MEMBERS[method].permission;
    if (permission && !scope.permissions.has(permission)) {
      const denied = new PermissionDenied(method, permission);
      scope.log("warn", denied.message, { method, permission });
      scope.count(method, "denied");
      throw denied;
    }
    try {
      const value = await table[method](scope, args);
      scope.count(method, "ok");
      return value;
    } catch (err) {
      scope.count(method, "error");
      throw err;
    }
  };
}
