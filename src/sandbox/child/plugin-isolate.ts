import ivm from "isolated-vm";
import { createHash } from "node:crypto";
import path from "node:path";
import type { CallOutcome, LogLine, PluginCode } from "../protocol.ts";
import type { CompileCache } from "./compile-cache.ts";
import { RUNTIME_SOURCE, SDK_SOURCE, WEB_SOURCE } from "./isolate-sources.ts";
import { CallTimers, isolatePrimitive } from "./web-primitives.ts";

/**
 * Relays ctx calls out of the isolate; resolves with the host's JSON reply. `token` is whatever
 * the isolate claims: the pool binds each isolate's relay to the calls that isolate is running.
 */
export type CapRelay = (token: unknown, method: unknown, argsJson: unknown) => Promise<string>;
export type LogSink = (token: unknown, line: LogLine, chars: number) => void;

const SDK_SPECIFIER = "@sbh/sdk";
const MAX_LOG_MESSAGE = 8 * 1024;
// Structured fields beyond this are not parsed or kept: the line says how big they were.
const MAX_LOG_FIELDS = 16 * 1024;
const LEVELS = new Set(["debug", "info", "warn", "error"]);
// How long a disposed isolate's thread may take to stop. V8 interrupts script at its next stack
// check; a few builtins (Array.prototype.fill over a huge array) have none and run on regardless.
const STOP_GRACE_MS = 250;

/**
 * One isolate running one plugin version for one install. Booted (the runtime, before any
 * plugin code) from the compile cache, then loaded with the plugin; kept warm by the pool,
 * disposed when idle, evicted or out of memory.
 */
export class PluginIsolate {
  readonly isolate: ivm.Isolate;
  private context?: ivm.Context;
  /** The SDK module, compiled at boot (the same for every plugin), linked by loadPlugin. */
  private sdk?: ivm.Module;
  private dispatch?: ivm.Reference<Function>;
  private pluginLoaded = false;
  private readonly timers = new CallTimers((token, ids, remainingMs) => this.fireTimers(token, ids, remainingMs));
  lastUsed = Date.now();
  inFlight = 0;

  constructor(
    memoryMb: number,
    onCatastrophe: (message: string) => void,
  ) {
    this.isolate = new ivm.Isolate({ memoryLimit: memoryMb, onCatastrophicError: onCatastrophe });
  }

  /** Whether the runtime is up and no plugin is loaded yet (a spare the pool may hand out). */
  get blank(): boolean {
    return this.dispatch !== undefined && !this.pluginLoaded && !this.disposed;
  }

  get disposed(): boolean {
    return this.isolate.isDisposed;
  }

  /**
   * Creates the context and runs the runtime in it: everything a call needs that does not depend
   * on the plugin. No plugin code has run in a booted isolate, so one may wait, as a spare, for
   * whichever install's cold start comes next.
   */
  async boot(cache: CompileCache, relay: CapRelay, sink: LogSink, timeoutMs: number, runtimeSource = RUNTIME_SOURCE): Promise<void> {
    const context = await this.isolate.createContext();
    const logTo = (token: unknown, level: string, message: string, fields: string | null) => {
      const text = String(message).slice(0, MAX_LOG_MESSAGE);
      const tooBig = typeof fields === "string" && fields.length > MAX_LOG_FIELDS;
      sink(
        token,
        {
          level: (LEVELS.has(level) ? level : "info") as LogLine["level"],
          message: text,
          fields: typeof fields !== "string" ? null : tooBig ? { truncated: true, chars: fields.length } : safeParse(fields),
          at: new Date().toISOString(),
        },
        text.length + (typeof fields === "string" && !tooBig ? fields.length : 0),
      );
    };
    // The runtime is compiled (from the cache) as a function of the three host callbacks, which
    // enter the isolate as References and stay inside the runtime's closure. The Web globals run
    // first in that closure; "use strict" leads so that they, too, are strict code.
    const runtimeId = runtimeSource === RUNTIME_SOURCE ? "runtime" : `runtime:${createHash("sha1").update(runtimeSource).digest("hex")}`;
    const runtime = await this.compileScript(cache, runtimeId, `(function ($0, $1, $2) {\n"use strict";\n${WEB_SOURCE}\n${runtimeSource}\n})`);
    const boot = (await runtime.run(context, { reference: true, timeout: timeoutMs })) as ivm.Reference<Function>;
    this.dispatch = (await boot.apply(undefined, [relay, logTo, isolatePrimitive(this.timers)], {
      arguments: { reference: true },
      result: { reference: true },
      timeout: timeoutMs,
    })) as ivm.Reference<Function>;
    boot.release();
    this.sdk = await this.compileModule(cache, "", SDK_SPECIFIER, SDK_SOURCE);
    this.context = context;
  }

  /** Links and evaluates the plugin's entry module (and its transforms) in a booted isolate; once. */
  async loadPlugin(code: PluginCode, cache: CompileCache, timeoutMs: number): Promise<void> {
    const { context, sdk } = this;
    if (!context || !sdk || this.pluginLoaded) throw new Error("loadPlugin needs a booted isolate with no plugin loaded");
    this.pluginLoaded = true;
    const modules = new Map<string, ivm.Module>();
    const load = async (file: string): Promise<ivm.Module> => {
      const found = modules.get(file);
      if (found) return found;
      const source = code.files[file];
      if (source === undefined) throw new Error(`cannot import ${file}: no such file in the package`);
      const mod = await this.compileModule(cache, code.versionId, file, source);
      modules.set(file, mod);
      return mod;
    };
    const entry = await load(code.entry);
    const fileOf = new Map<ivm.Module, string>([[entry, code.entry]]);
    const resolve = async (specifier: string, referrer: ivm.Module) => {
      if (specifier === SDK_SPECIFIER) return sdk;
      const from = fileOf.get(referrer) ?? code.entry;
      if (!specifier.startsWith("./") && !specifier.startsWith("../")) {
        throw new Error(`import "${specifier}" is not allowed: only "${SDK_SPECIFIER}" and relative files`);
      }
      const file = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
      const mod = await load(file);
      fileOf.set(mod, file);
      return mod;
    };
    await entry.instantiate(context, resolve);
    await entry.evaluate({ timeout: timeoutMs });
    for (const file of code.transforms ?? []) {
      // A glue module at the package root imports the transform file and hands its exports to the runtime.
      const glue = await this.isolate.compileModule(
        `import * as m from ${JSON.stringify(`./${file}`)};\nglobalThis.__sbh_transforms(${JSON.stringify(file)}, m);`,
        { filename: `sbh:transform/${file}` },
      );
      fileOf.set(glue, "__transform_glue__.js");
      await glue.instantiate(context, resolve);
      await glue.evaluate({ timeout: timeoutMs });
    }
  }

  /** Runs one handler. The isolate's own timeout covers synchronous runs; a host deadline covers awaits. */
  async call(token: string, kind: string, name: string, argsJson: string, infoJson: string, timeoutMs: number): Promise<CallOutcome> {
    if (!this.dispatch) throw new Error("isolate not loaded");
    this.lastUsed = Date.now();
    this.inFlight++;
    this.timers.begin(token, timeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<CallOutcome>((resolve) => {
      timer = setTimeout(() => resolve({ status: "timeout" }), timeoutMs);
    });
    const run = this.dispatch
      .apply(undefined, [token, kind, name, argsJson, infoJson], {
        arguments: { copy: true },
        result: { promise: true, copy: true },
        timeout: timeoutMs,
      })
      .then((json): CallOutcome => ({ status: "ok", json: String(json) }))
      .catch((err: unknown) => this.classify(err));
    try {
      const outcome = await Promise.race([run, deadline]);
      if (outcome.status !== "timeout") return outcome;
      // A call that overran may have left the isolate stuck (a loop after an await, a runaway
      // allocation): the next call starts on a fresh one. Disposing interrupts the isolate's
      // thread; if it does not stop, this process is no longer safe to keep (the host retires it).
      this.dispose();
      const stopped = await Promise.race([run.then(() => true), delay(STOP_GRACE_MS)]);
      return stopped ? outcome : { status: "timeout", stuck: true };
    } finally {
      clearTimeout(timer);
      // The call's timers end with it, before another call can run (web/timers.js).
      this.timers.end(token);
      this.inFlight--;
      this.lastUsed = Date.now();
    }
  }

  /** Maps an isolated-vm failure (not a plugin throw, which dispatch catches) to an outcome. */
  classify(err: unknown): CallOutcome {
    const message = err instanceof Error ? err.message : String(err);
    if (/memory limit/i.test(message)) return { status: "out_of_memory" };
    if (/timed out/i.test(message)) return { status: "timeout" };
    if (this.isolate.isDisposed) return { status: "interrupted" };
    return { status: "failed", error: { name: err instanceof Error ? err.name : "Error", message } };
  }

  dispose(): void {
    this.timers.endAll();
    if (!this.isolate.isDisposed) this.isolate.dispose();
  }

  /** Runs due timers of a call in flight; their callbacks are bounded by the call's remaining time. */
  private fireTimers(token: string, ids: number[], remainingMs: number): void {
    if (!this.dispatch || this.isolate.isDisposed || remainingMs <= 0) return;
    this.dispatch
      .apply(undefined, [token, "timer", "", JSON.stringify(ids), ""], {
        arguments: { copy: true },
        result: { promise: true, copy: true },
        timeout: Math.max(1, Math.ceil(remainingMs)),
      })
      // A callback that overran is the call's to time out; a disposed isolate has nothing left to run.
      .catch(() => undefined);
  }

  private async compileScript(cache: CompileCache, id: string, source: string): Promise<ivm.Script> {
    const cached = cache.get(id);
    const script = await this.isolate.compileScript(source, {
      filename: `sbh:${id}`,
      ...(cached ? { cachedData: cached } : { produceCachedData: true }),
    });
    const produced = (script as unknown as { cachedData?: ivm.ExternalCopy<ArrayBuffer> }).cachedData;
    if (!cached && produced) cache.set(id, produced);
    return script;
  }

  private async compileModule(cache: CompileCache, versionId: string, file: string, source: string): Promise<ivm.Module> {
    // The SDK is the same for every plugin; cache it once rather than per version.
    const id = file === SDK_SPECIFIER ? "sdk" : `${versionId}:${file}`;
    const cached = cache.get(id);
    const mod = await this.isolate.compileModule(source, {
      filename: file === SDK_SPECIFIER ? "sbh:sdk" : `plugin:///${file}`,
      ...(cached ? { cachedData: cached } : { produceCachedData: true }),
    });
    const produced = (mod as unknown as { cachedData?: ivm.ExternalCopy<ArrayBuffer> }).cachedData;
    if (!cached && produced) cache.set(id, produced);
    return mod;
  }
}

function delay(ms: number): Promise<false> {
  return new Promise((resolve) => setTimeout(() => resolve(false), ms).unref());
}

function safeParse(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return null;
  }
}
