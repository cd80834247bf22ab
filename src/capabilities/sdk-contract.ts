// Checked by `npm run typecheck`, never run: the ctx that sdk/index.d.ts promises plugin
// authors and the members the platform serves (ctx-members.ts) must name the same methods.
// A member added to one and not the other, or misspelt in either, fails the build here.
import type { Context } from "@sbh/sdk";
import type { CtxMethod } from "./ctx-members.ts";

/** The ctx members the isolate answers by itself, without a host call (runtime.js makeCtx). */
type LocalMember = "tenantId" | "userId" | "plugin" | "request" | "config" | "log";

/** "name" for a function member, "group.name" for each function of an object member. */
type DeclaredMethods = {
  [K in Exclude<keyof Context, LocalMember> & string]: Context[K] extends (...args: never[]) => unknown
    ? K
    : { [N in keyof Context[K] & string]: Context[K][N] extends (...args: never[]) => unknown ? `${K}.${N}` : never }[keyof Context[K] & string];
}[Exclude<keyof Context, LocalMember> & string];

// Each fails to compile naming the methods that are on one side only.
type NoneOf<T extends never> = T;
export type DeclaredInSdkOnly = NoneOf<Exclude<DeclaredMethods, CtxMethod>>;
export type ServedButNotDeclared = NoneOf<Exclude<CtxMethod, DeclaredMethods>>;
