// Runs inside every plugin isolate, before any plugin code, as the body of a closure that
// receives three host References: $0 = capability relay, $1 = log sink, $2 = web primitives
// (used only by the Web globals of isolate/web/, which run first in this closure). It keeps
// them in this closure only (plugin code can never reach a Reference), defines the SDK on a
// frozen global, and returns the dispatcher the sandbox process calls for each invocation.
//
// Everything crossing the boundary is a JSON string, so only copies ever cross. Builtins the
// dispatcher relies on are captured now, before plugin code can tamper with them.
//
// Strict mode matters beyond hygiene: V8 hides strict functions from CallSite.getFunction()
// and Function.prototype.caller, so plugin code cannot pick the dispatcher or the relays off a
// stack trace. None of this is what keeps tenants apart, though: each call is named by an
// unguessable token, and the sandbox process and the host honour a ctx request only for the
// call that the requesting isolate is running. Reaching these internals is worth nothing.
"use strict";

const capRef = $0;
const logRef = $1;
const stringify = JSON.stringify;
const parse = JSON.parse;
const ErrorCtor = Error;
const freeze = Object.freeze;
const defineProperty = Object.defineProperty;
const hasOwn = Object.hasOwn;

// isolated-vm reads inherited properties of its option objects, so a plugin that sets
// Object.prototype.promise would change how the relays transfer values. These have no prototype.
const opts = (o) => freeze(Object.assign(Object.create(null), o));
const CAP_OPTIONS = opts({ arguments: opts({ copy: true }), result: opts({ promise: true, copy: true }) });
const LOG_OPTIONS = opts({ arguments: opts({ copy: true }) });

// Stack-trace hooks are the platform's: a plugin may not install a prepareStackTrace that
// collects CallSites (assignments are ignored, reads give undefined), nor replace captureStackTrace.
defineProperty(ErrorCtor, "prepareStackTrace", { get: () => undefined, set: () => {}, configurable: false });
defineProperty(ErrorCtor, "captureStackTrace", { value: ErrorCtor.captureStackTrace, writable: false, configurable: false });

// WebAssembly memories are reserved outside the V8 heap that memory_mb limits (a 64 MB plugin
// kept three 1 GB memories across calls), so plugin code gets no WebAssembly at all.
delete globalThis.WebAssembly;

const registry = {
  hooks: new Map(),
  routes: [],
  jobs: new Map(),
  lifecycle: new Map(),
  health: null,
  transforms: new Map(),
};

class HttpError extends ErrorCtor {
  constructor(status, message, details) {
    super(message === undefined ? "HTTP " + status : String(message));
    this.name = "HttpError";
    this.status = Number(status);
    this.details = details;
  }
}

class PermissionDenied extends ErrorCtor {
  constructor(message) {
    super(message);
    this.name = "PermissionDenied";
  }
}

class JsonResponse {
  constructor(body, status, headers) {
    this.body = body;
    this.status = status === undefined ? 200 : Number(status);
    this.headers = headers || {};
  }
}

function json(body, status, headers) {
  return new JsonResponse(body, status, headers);
}

function assertHandler(fn, what) {
  if (typeof fn !== "function") throw new TypeError(what + " needs a handler function");
}

function hook(eventType, handler) {
  if (typeof eventType !== "string" || !eventType) throw new TypeError("hook(eventType, handler): eventType must be a string");
  assertHandler(handler, "hook(\"" + eventType + "\")");
  const list = registry.hooks.get(eventType) || [];
  list.push(handler);
  registry.hooks.set(eventType, list);
}

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

function route(path, options, handler) {
  if (typeof options === "function") {
    handler = options;
    options = {};
  }
  if (typeof path !== "string" || path[0] !== "/") throw new TypeError("route(path, …): path must start with /");
  assertHandler(handler, "route(\"" + path + "\")");
  options = options || {};
  const methods = (options.methods || ["GET"]).map((m) => String(m).toUpperCase());
  for (const m of methods) if (!METHODS.includes(m)) throw new TypeError("route(\"" + path + "\"): unknown method " + m);
  const auth = options.auth === undefined ? "user" : String(options.auth);
  if (!["user", "admin", "public"].includes(auth)) throw new TypeError("route(\"" + path + "\"): auth must be user, admin or public");
  if (options.rawBody !== undefined && typeof options.rawBody !== "boolean") throw new TypeError("route(\"" + path + "\"): rawBody must be true or false");
  registry.routes.push({ path, methods, auth, rawBody: options.rawBody === true, handler });
}

function job(name, handler) {
  if (typeof name !== "string" || !name) throw new TypeError("job(name, handler): name must be a string");
  assertHandler(handler, "job(\"" + name + "\")");
  registry.jobs.set(name, handler);
}

function lifecycle(name) {
  return (handler) => {
    assertHandler(handler, name);
    registry.lifecycle.set(name, handler);
  };
}

function health(handler) {
  assertHandler(handler, "health");
  registry.health = handler;
}

defineProperty(globalThis, "__sbh_sdk", {
  value: freeze({
    hook, route, job, json, HttpError, PermissionDenied, health,
    onInstall: lifecycle("onInstall"),
    onUpgrade: lifecycle("onUpgrade"),
    onEnable: lifecycle("onEnable"),
    onDisable: lifecycle("onDisable"),
    onUninstall: lifecycle("onUninstall"),
  }),
  enumerable: false, writable: false, configurable: false,
});

// Webhook transforms are modules of their own (not imported by the entry); the sandbox
// process evaluates a small glue module per transform file that hands its exports here.
// Last registration wins, and the glue runs after the entry, so the package's file is what runs.
defineProperty(globalThis, "__sbh_transforms", {
  value: (file, namespace) => { registry.transforms.set(String(file), namespace); },
  enumerable: false, writable: false, configurable: false,
});

// --- host relays -------------------------------------------------------------------------

async function callHost(callId, method, args) {
  const raw = await capRef.apply(undefined, [callId, method, stringify(args === undefined ? [] : args)], CAP_OPTIONS);
  // The host's reply re-enters the isolate for this call: what runs from here on (the awaiting
  // plugin code included) runs for it. See `currentCall`.
  entered = callId;
  const reply = parse(raw);
  if (reply.ok) return reply.value;
  const err = reply.error.name === "PermissionDenied" ? new PermissionDenied(reply.error.message) : new ErrorCtor(reply.error.message);
  if (reply.error.name !== "PermissionDenied") err.name = reply.error.name || "Error";
  if (reply.error.code) err.code = reply.error.code;
  throw err;
}

function toText(v) {
  if (typeof v === "string") return v;
  try { return stringify(v); } catch { return String(v); }
}

function sendLog(callId, level, message, fields) {
  let f = null;
  if (fields !== undefined) {
    try { f = stringify(fields); } catch { f = null; }
  }
  // Synchronous on purpose: the line is in its call's bucket before the call can return, so a
  // log written just before `return` is never dropped (an async hand-off could arrive late).
  logRef.applySync(undefined, [callId, level, toText(message), f], LOG_OPTIONS);
}

// Call identities below (`callId`) are the host's per-call tokens.
//
// console.*, timers and the global fetch have no ctx, so they act for the call the isolate is
// running for, `currentCall()`. Each time the isolate is entered it is for one call: the
// dispatcher starting a handler, a timer of that call firing, a ctx reply coming back
// (callHost). V8 runs the microtasks an entry queued before the next entry begins, so the code
// after an `await` of a ctx call runs for the call that made it. The call last entered is
// taken while it still runs; failing that (code resumed by something else, such as a promise
// another call resolved) the newest running call; outside any call, none. ctx.log is always
// exact. Calls overlap only when a plugin awaits across concurrent requests.
const running = [];
let entered = null;
function isRunning(callId) {
  return running.lastIndexOf(callId) !== -1;
}
function currentCall() {
  if (entered !== null && isRunning(entered)) return entered;
  return running.length ? running[running.length - 1] : null;
}

// What the timers and fetch Web families (isolate/web/) use of the dispatcher.
const web = webInternals;
web.calls = freeze({ current: currentCall, host: callHost, parse, stringify });
function consoleLevel(level) {
  return (...args) => sendLog(currentCall(), level, args.map(toText).join(" "));
}
defineProperty(globalThis, "console", {
  value: freeze({
    log: consoleLevel("info"), info: consoleLevel("info"), debug: consoleLevel("debug"),
    warn: consoleLevel("warn"), error: consoleLevel("error"), trace: consoleLevel("debug"),
  }),
  writable: false, configurable: false,
});

// --- ctx ---------------------------------------------------------------------------------

// ctx.http answers with plain data ({status, headers, body, url, redirected}); plugins get a
// fetch-like response around it. The body is text; json() parses it here, in the isolate.
function httpResponse(r) {
  const body = typeof r.body === "string" ? r.body : "";
  return freeze({
    status: r.status,
    ok: r.status >= 200 && r.status < 300,
    headers: freeze({ ...r.headers }),
    url: r.url,
    redirected: r.redirected === true,
    text: async () => body,
    json: async () => parse(body),
  });
}

// The host-served members, from the platform's registry (capabilities/ctx-members.ts), put
// here as the runtime is compiled: [method, answer] pairs, method "group.name" or "name".
const CTX_LAYOUT = __CTX_LAYOUT__;

// Split once, as the runtime starts: {group (null for top-level), name, method, answer}.
const CTX_SHAPE = CTX_LAYOUT.map(([method, answer]) => {
  const dot = method.indexOf(".");
  return dot < 0 ? { group: null, name: method, method, answer } : { group: method.slice(0, dot), name: method.slice(dot + 1), method, answer };
});

// Own data properties, so a setter a plugin put on Object.prototype cannot divert a member.
const put = (target, key, value) => defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });

function relay(callId, method, answer) {
  if (answer === "response") return async (...args) => httpResponse(await callHost(callId, method, args));
  return (...args) => callHost(callId, method, args);
}

// The host-served part of one call's ctx: top-level members and frozen groups.
function hostMembers(callId) {
  const members = {};
  for (let i = 0; i < CTX_SHAPE.length; i++) {
    const m = CTX_SHAPE[i];
    const fn = relay(callId, m.method, m.answer);
    if (m.group === null) {
      put(members, m.name, fn);
      continue;
    }
    if (!hasOwn(members, m.group)) put(members, m.group, {});
    put(members[m.group], m.name, fn);
  }
  for (const name in members) if (typeof members[name] === "object") freeze(members[name]);
  return members;
}

function makeCtx(callId, info, request) {
  const config = info.config || {};
  const log = {};
  for (const level of ["debug", "info", "warn", "error"]) log[level] = (msg, fields) => sendLog(callId, level, msg, fields);
  return freeze({
    tenantId: info.tenantId,
    userId: info.userId === undefined ? null : info.userId,
    plugin: freeze({ ...info.plugin }),
    request: request === undefined ? null : request,
    config: freeze({
      get: (key) => (hasOwn(config, key) ? config[key] : undefined),
      all: () => ({ ...config }),
    }),
    log: freeze(log),
    ...hostMembers(callId),
  });
}

// --- dispatch ----------------------------------------------------------------------------

function describe() {
  const hooks = [...registry.hooks.keys()];
  const routes = registry.routes.map((r) => ({ path: r.path, methods: r.methods, auth: r.auth, ...(r.rawBody ? { rawBody: true } : {}) }));
  const transforms = {};
  for (const [file, ns] of registry.transforms) transforms[file] = Object.keys(ns).filter((k) => typeof ns[k] === "function");
  return { hooks, routes, jobs: [...registry.jobs.keys()], lifecycle: [...registry.lifecycle.keys()], health: registry.health !== null, transforms };
}

function findHandler(kind, name) {
  switch (kind) {
    case "route": return registry.routes[Number(name)] && registry.routes[Number(name)].handler;
    case "hook": return registry.hooks.get(name) && (async (ctx, event) => {
      for (const h of registry.hooks.get(name)) await h(ctx, event);
    });
    case "job": return registry.jobs.get(name);
    case "lifecycle": return registry.lifecycle.get(name);
    case "health": return registry.health || (() => ({ status: "ok" }));
    case "transform": return transformHandler(name);
    default: return undefined;
  }
}

// name = "transforms/file.js#fn"; the transform gets the event first, ctx second.
function transformHandler(name) {
  const at = name.lastIndexOf("#");
  const ns = registry.transforms.get(name.slice(0, at));
  const fn = ns && ns[name.slice(at + 1)];
  if (typeof fn !== "function") return undefined;
  return (ctx, event) => fn(event, ctx);
}

function errorRecord(err) {
  if (err !== null && typeof err === "object") {
    const rec = { name: String(err.name || "Error"), message: String(err.message === undefined ? err : err.message) };
    if (err instanceof HttpError) {
      rec.status = err.status;
      if (err.details !== undefined) { try { rec.details = parse(stringify(err.details)); } catch { /* dropped */ } }
    }
    if (typeof err.stack === "string") rec.stack = err.stack.slice(0, 4000);
    return rec;
  }
  return { name: "Error", message: toText(err) };
}

function checkSendable(value) {
  const t = typeof value;
  if (t === "function" || t === "symbol" || t === "bigint") throw new TypeError("a " + t + " is not JSON");
}

function encode(value) {
  if (value instanceof JsonResponse) {
    checkSendable(value.body);
    return stringify({ ok: true, value: value.body === undefined ? null : value.body, response: { status: value.status, headers: value.headers } });
  }
  checkSendable(value);
  return stringify({ ok: true, value: value === undefined ? null : value });
}

return async function dispatch(callId, kind, name, argsJson, infoJson) {
  if (kind === "timer") {
    // The host keeps the clock (CallTimers); it calls only for a call still in flight, and a
    // timer of a call whose handler has settled is dropped here too.
    if (typeof web.fireTimer !== "function" || !isRunning(callId)) return null;
    entered = callId;
    const ids = parse(argsJson);
    for (let i = 0; i < ids.length; i++) web.fireTimer(callId, ids[i]);
    return null;
  }
  if (kind === "describe") return stringify({ ok: true, value: describe() });
  const handler = findHandler(kind, name);
  if (!handler) return stringify({ ok: false, error: { name: "NoHandler", message: "no " + kind + " handler for " + name } });
  const args = parse(argsJson);
  // A route's request is its first argument; it crosses the boundary once, not twice.
  const ctx = makeCtx(callId, parse(infoJson), kind === "route" ? args[0] : undefined);
  running.push(callId);
  entered = callId;
  try {
    const value = await handler(ctx, ...args);
    try {
      return encode(value);
    } catch (err) {
      return stringify({ ok: false, error: { name: "BadResponse", message: "return value cannot be serialised: " + String(err && err.message) } });
    }
  } catch (err) {
    return stringify({ ok: false, error: errorRecord(err) });
  } finally {
    const i = running.lastIndexOf(callId);
    if (i !== -1) running.splice(i, 1);
    if (typeof web.dropTimers === "function") web.dropTimers(callId);
  }
};
