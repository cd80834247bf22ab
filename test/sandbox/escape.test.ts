import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { after, before, test } from "node:test";
import { WEB_FAMILIES } from "../../src/sandbox/child/isolate-sources.ts";
import { callOk, expectStillServing, sandboxChildren, startHostileStage, type HostileStage } from "./hostile-harness.ts";

// Escape attempts from inside an isolate, and what an escape would find: sandbox processes
// started without the platform's credentials and without network connections.

const canary = (name: string) => `${name.toLowerCase()}-canary-${randomBytes(12).toString("hex")}`;
// Credentials as a deployment would hold them: in the API process's environment and config.
const CREDENTIALS = {
  JWT_SECRET: canary("JWT_SECRET"),
  SECRETS_KEY: canary("SECRETS_KEY"),
  LLM_API_KEY: canary("LLM_API_KEY"),
};
const AMBIENT = { ...CREDENTIALS, AWS_SECRET_ACCESS_KEY: canary("AWS"), SBH_TEST_CANARY: canary("SBH") };
const saved: Record<string, string | undefined> = {};

let stage: HostileStage;
before(async () => {
  for (const [k, v] of Object.entries(AMBIENT)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  stage = await startHostileStage("hostile-escape", CREDENTIALS);
});
after(async () => {
  await stage.app.close();
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

interface ProbeReport {
  typeofHostNames: Record<string, string>;
  constructorChain: Record<string, string>;
  globalViaFunction: { sameAsGlobalThis: boolean; process: string; require: string; buffer: string; names: string[] };
  callSites: { file: string; receiver: string; fn: string }[];
  stackHostPaths: string[];
  ctxErrors: string[];
  importMeta: string;
  dynamicImport: Record<string, string>;
  secrets: Record<string, unknown>;
  config: Record<string, unknown>;
}

async function probe(): Promise<ProbeReport> {
  const res = await stage.hostile.request("GET", `/ext/${stage.slug}/probe`);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as ProbeReport;
}

// ECMAScript's own globals (a few newer ones included so a V8 upgrade does not break this)
// plus what the runtime defines on purpose. Anything else on the global object came from a host.
const STANDARD_GLOBALS = new Set([
  "AggregateError", "Array", "ArrayBuffer", "Atomics", "BigInt", "BigInt64Array", "BigUint64Array", "Boolean",
  "DataView", "Date", "Error", "EvalError", "FinalizationRegistry", "Float16Array", "Float32Array", "Float64Array",
  "Function", "Infinity", "Int16Array", "Int32Array", "Int8Array", "Intl", "Iterator", "JSON", "Map", "Math", "NaN",
  "Number", "Object", "Promise", "Proxy", "RangeError", "ReferenceError", "Reflect", "RegExp", "Set",
  "SharedArrayBuffer", "String", "Symbol", "SyntaxError", "TypeError", "URIError", "Uint16Array", "Uint32Array",
  "Uint8Array", "Uint8ClampedArray", "WeakMap", "WeakRef", "WeakSet", "WebAssembly", "decodeURI",
  "decodeURIComponent", "encodeURI", "encodeURIComponent", "escape", "eval", "globalThis", "isFinite", "isNaN",
  "parseFloat", "parseInt", "undefined", "unescape", "DisposableStack", "AsyncDisposableStack", "SuppressedError",
  // Defined by the platform's runtime.
  "console", "__sbh_sdk", "__sbh_transforms",
  // The Web globals, as their families declare them (src/sandbox/child/isolate-sources.ts).
  ...WEB_FAMILIES.flatMap((f) => f.globals),
]);

test("no host global is reachable from plugin code", async () => {
  const report = await probe();
  const webGlobals = new Set(WEB_FAMILIES.flatMap((f) => f.globals));
  for (const [name, seen] of Object.entries(report.typeofHostNames)) {
    // Timers and fetch are Node's host globals, and the isolate's own Web globals by the same
    // names (isolate/web/, tested in test/runtime/): there, present is right.
    assert.equal(seen, webGlobals.has(name) ? "value:function" : "value:undefined", `typeof ${name}`);
  }
  assert.equal(report.globalViaFunction.sameAsGlobalThis, true, "Function('return this')() is the isolate's own global");
  assert.equal(report.globalViaFunction.process, "undefined");
  assert.equal(report.globalViaFunction.require, "undefined");
  assert.equal(report.globalViaFunction.buffer, "undefined");
  const foreign = report.globalViaFunction.names.filter((n) => !STANDARD_GLOBALS.has(n));
  assert.deepEqual(foreign, [], "globals beyond ECMAScript and the runtime");
});

test("constructor chains lead back into the isolate, never to the host", async () => {
  const { constructorChain } = await probe();
  assert.deepEqual(constructorChain, {
    process: "threw:ReferenceError", // ({}).constructor.constructor("return process")()
    require: "threw:ReferenceError",
    thisProcess: "undefined", // a sloppy function's `this` is the isolate's global
    ctxFunction: "value:undefined", // ctx.secrets.get.constructor("return typeof process")()
    consoleFunction: "value:undefined",
    ctxConstructor: "threw:ReferenceError", // ctx.constructor.constructor("return process")()
    reqConstructor: "threw:ReferenceError",
    methodThis: "threw:ReferenceError", // this.constructor.constructor("return process")() in a method
    asyncFunction: "value:undefined",
  });
});

test("stack traces, Error.prepareStackTrace and ctx errors show neither host frames nor host paths", async () => {
  const report = await probe();
  assert.deepEqual(report.stackHostPaths, []);
  assert.equal(report.ctxErrors.length, 5, `every bad ctx call threw: ${JSON.stringify(report.ctxErrors)}`);
  // The runtime locks Error.prepareStackTrace: a plugin's assignment is ignored, so no CallSite
  // (with its getThis/getFunction) ever reaches plugin code and stacks stay strings.
  assert.deepEqual(report.callSites, [], "Error.prepareStackTrace installed by a plugin is never called");
  assert.equal(report.importMeta, "value:{}", "import.meta carries no host URL");
});

test("a dynamic import() built at run time loads nothing", async () => {
  const { dynamicImport } = await probe();
  for (const [spec, outcome] of Object.entries(dynamicImport)) {
    assert.match(outcome, /^threw:/, `import(${JSON.stringify(spec)}) gave ${outcome}`);
  }
});

test("ctx hands out no platform credential", async () => {
  const { secrets, config } = await probe();
  for (const [name, value] of Object.entries(secrets)) assert.equal(value, null, `ctx.secrets.get(${name})`);
  assert.deepEqual(config, {});
});

test("sandbox processes hold no credentials and no network connection", async () => {
  await callOk(stage); // the sandbox processes are up and have served a call
  const pids = sandboxChildren();
  assert.equal(pids.length, stage.app.config.sandbox.processes, "one child per sandbox process");
  const secrets = [...Object.values(AMBIENT), stage.app.config.jwtSecret, stage.app.config.secretsKey.toString("hex")];
  const inet = inetSocketInodes();
  // The check can see sockets: this process holds the app's listening HTTP socket.
  assert.ok(socketInodes(process.pid).some((i) => inet.has(i)), "the API process's own TCP socket is visible");
  for (const pid of pids) {
    const environ = readFileSync(`/proc/${pid}/environ`, "utf8");
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    for (const secret of secrets) {
      assert.ok(!environ.includes(secret), `sandbox ${pid} has a credential in its environment`);
      assert.ok(!cmdline.includes(secret), `sandbox ${pid} has a credential on its command line`);
    }
    const names = environ.split("\0").filter(Boolean).map((kv) => kv.slice(0, kv.indexOf("=")));
    for (const name of Object.keys(AMBIENT)) assert.ok(!names.includes(name), `sandbox ${pid} inherited ${name}`);
    const held = socketInodes(pid).filter((i) => inet.has(i));
    assert.deepEqual(held, [], `sandbox ${pid} holds TCP/UDP sockets`);
  }
});

test("after every probe the platform and other tenants carry on", async () => {
  await probe();
  const first = await expectStillServing(stage);
  const second = await callOk(stage);
  assert.equal(second.boot, first.boot, "the probing isolate stays warm");
  assert.equal(second.calls, first.calls + 1);
});

/** Inodes of the sockets a process has open. */
function socketInodes(pid: number): string[] {
  const inodes: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const inode = readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/)?.[1];
      if (inode) inodes.push(inode);
    } catch {
      // The descriptor closed while we looked.
    }
  }
  return inodes;
}

/** Inodes of every TCP and UDP socket on the machine (this network namespace). */
function inetSocketInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const table of ["tcp", "tcp6", "udp", "udp6"]) {
    let text: string;
    try {
      text = readFileSync(`/proc/net/${table}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9) inodes.add(cols[9]);
    }
  }
  return inodes;
}
