import { fork, type ChildProcess } from "node:child_process";
import { AppError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { callToken } from "./call-token.ts";
import { loadBudgetMs, MAX_CAP_ARGS_CHARS, type CallInfo, type CallOutcome, type CallTarget, type CapMessage, type LogLine, type PluginCode, type SandboxMessage } from "./protocol.ts";

/** Answers one ctx call made by plugin code (`ctx.secrets.get`, `ctx.db.query`, …). */
export type CapabilityHandler = (method: string, args: unknown[]) => Promise<unknown>;

export interface SandboxRequest extends CallTarget {
  args: unknown[];
  info: CallInfo;
  code: () => PluginCode | Promise<PluginCode>;
  capability: CapabilityHandler;
}

export interface SandboxResult {
  outcome: CallOutcome;
  logs: LogLine[];
  durationMs: number;
}

export interface SandboxProcessOptions {
  idleMs: number;
  maxIsolates: number;
  graceMs: number;
  logger: Logger;
  /** What one call may log: lines, and characters of message + fields. */
  log?: { maxLines: number; maxChars: number };
  onRestart?: () => void;
  /** The process's entry module (tests start broken ones). */
  entry?: URL;
}

interface Pending {
  req: SandboxRequest;
  /** The call's unguessable identity; a ctx request must name it (see protocol.ts). */
  token: string;
  /** The process the call was sent to (a retired one keeps serving what it had). */
  child?: ChildProcess;
  resolve: (r: SandboxResult) => void;
  reject: (e: unknown) => void;
  watchdog: NodeJS.Timeout;
  overdue: boolean;
}

const ENTRY = new URL(`./child/sandbox-main${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url);

/**
 * One supervised sandbox process. A host-side watchdog kills it when a call overruns its
 * deadline plus a grace (a catastrophic OOM hangs the process beyond any in-isolate timeout);
 * it then restarts itself. Calls in flight on a killed process fail with 503, the overdue one
 * with 504; nothing else is lost.
 *
 * A call that times out costs only its isolate, which the sandbox process disposes, so one
 * tenant's runaway code does not restart a process other tenants' isolates live in. Only when
 * the disposed isolate's thread did not stop (`stuck`: native work that may still abort the
 * process) is the process retired: new calls go to a fresh one, and the old one is killed once
 * the calls it already had are answered.
 */
export class SandboxProcess {
  private child?: ChildProcess;
  private ready?: Promise<void>;
  private readonly pending = new Map<number, Pending>();
  private readonly retiring = new Set<ChildProcess>();
  /**
   * Plugin versions whose code each process has or is being sent (the promise settles once the
   * call carrying it is on the wire; IPC keeps order, so later calls can go without it).
   */
  private readonly sentCode = new WeakMap<ChildProcess, Map<string, Promise<boolean>>>();
  private seq = 0;
  private closing = false;
  private recentRestarts: number[] = [];
  /** Processes replaced because they crashed or were killed. */
  restarts = 0;
  /** Processes replaced (gracefully) after reporting a timeout. */
  retired = 0;
  isolates = 0;
  evicted = 0;

  constructor(
    readonly index: number,
    private readonly opts: SandboxProcessOptions,
  ) {}

  start(): Promise<void> {
    this.ready ??= this.spawn();
    return this.ready;
  }

  call(req: SandboxRequest): Promise<SandboxResult> {
    const id = ++this.seq;
    return new Promise<SandboxResult>((resolve, reject) => {
      // Loading a cold isolate gets its load budget (the sandbox process enforces it and the
      // call's timeout itself), then a grace. Armed first, so a process that never gets ready
      // cannot hang a call.
      const limit = loadBudgetMs(req.timeoutMs) + req.timeoutMs + this.opts.graceMs;
      const watchdog = setTimeout(() => this.overrun(id), limit);
      const token = callToken();
      this.pending.set(id, { req, token, resolve, reject, watchdog, overdue: false });
      void this.send(id, req, false).catch((err) => this.settle(id, undefined, err));
    });
  }

  evict(keyPrefix: string): void {
    if (this.child?.connected) this.child.send({ t: "evict", keyPrefix });
  }

  async close(): Promise<void> {
    this.closing = true;
    const children = [this.child, ...this.retiring].filter((c): c is ChildProcess => !!c && c.exitCode === null && c.signalCode === null);
    await Promise.all(
      children.map((child) => {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGKILL");
        return exited;
      }),
    );
  }

  private async send(id: number, req: SandboxRequest, withCode: boolean): Promise<void> {
    const p = this.pending.get(id);
    if (!p) return;
    if (!p.child) {
      try {
        await this.start();
      } catch (err) {
        throw err instanceof AppError ? err : new AppError("sandbox_unavailable", undefined, undefined, { cause: err });
      }
      p.child = this.child;
    }
    const child = p.child;
    if (!child) return; // it died meanwhile: onExit has settled the call or the watchdog will
    let sent = this.sentCode.get(child);
    if (!sent) this.sentCode.set(child, (sent = new Map()));
    // Concurrent first calls of a version: one reads the code and sends it, the others wait for
    // that and go without (asked again through need_code if it was lost).
    const sending = withCode ? undefined : sent.get(req.versionId);
    let code: PluginCode | undefined;
    let done: ((ok: boolean) => void) | undefined;
    if (!sending || !(await sending)) {
      sent.set(req.versionId, new Promise<boolean>((r) => (done = r)));
      try {
        code = await req.code();
      } catch (err) {
        sent.delete(req.versionId);
        done!(false);
        throw err;
      }
    }
    if (!this.pending.has(id) || !child.connected) {
      if (done) {
        sent.delete(req.versionId);
        done(false);
      }
      return;
    }
    try {
      child.send({
        t: "call",
        id,
        token: p.token,
        key: req.key,
        versionId: req.versionId,
        memoryMb: req.memoryMb,
        timeoutMs: req.timeoutMs,
        kind: req.kind,
        name: req.name,
        argsJson: JSON.stringify(req.args),
        infoJson: JSON.stringify(req.info),
        code,
        ephemeral: req.ephemeral,
      });
    } catch (err) {
      // Calls waiting for this one to carry the code must not wait on it forever.
      if (done) {
        sent.delete(req.versionId);
        done(false);
      }
      throw err;
    }
    done?.(true);
  }

  private spawn(): Promise<void> {
    const entry = this.opts.entry ?? ENTRY;
    const child = fork(entry, [], {
      execArgv: ["--no-node-snapshot", ...(entry.pathname.endsWith(".ts") ? ["--import", "tsx"] : [])],
      // Every message is plain JSON-able data (plugin values are already JSON strings);
      // the JSON channel costs the host less CPU per call than the structured-clone one.
      serialization: "json",
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      // No credentials in a sandbox process: only what it needs to run.
      env: {
        PATH: process.env.PATH ?? "",
        NODE_ENV: process.env.NODE_ENV ?? "production",
        SBH_SANDBOX_IDLE_MS: String(this.opts.idleMs),
        SBH_SANDBOX_MAX_ISOLATES: String(this.opts.maxIsolates),
        ...(this.opts.log ? { SBH_LOG_MAX_LINES: String(this.opts.log.maxLines), SBH_LOG_MAX_CHARS: String(this.opts.log.maxChars) } : {}),
      },
    });
    this.child = child;
    const log = this.opts.logger.child({ sandbox: this.index, pid: child.pid });
    const forward = (level: "warn" | "info") => (chunk: Buffer) => log[level]({ output: chunk.toString().slice(0, 2000) }, "sandbox output");
    child.stdout?.on("data", forward("info"));
    child.stderr?.on("data", forward("warn"));
    child.on("message", (msg: SandboxMessage) => this.onMessage(child, msg));
    child.on("exit", (code, signal) => this.onExit(child, code, signal));
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        child.off("message", onReady);
        child.off("exit", onEarlyExit);
        child.off("error", onError);
      };
      const onReady = (msg: SandboxMessage) => {
        if (msg.t !== "ready") return;
        done();
        resolve();
      };
      // A process that dies (or cannot start) before it is ready fails the start, and so the
      // calls waiting for it; onExit restarts it for the calls after them.
      const onEarlyExit = (code: number | null, signal: NodeJS.Signals | null) => {
        done();
        reject(new AppError("sandbox_unavailable", `The plugin sandbox exited while starting (${signal ?? `code ${code}`}); retry`));
      };
      const onError = (err: Error) => {
        done();
        if (this.child === child) this.ready = undefined;
        reject(new AppError("sandbox_unavailable", undefined, undefined, { cause: err }));
      };
      child.on("message", onReady);
      child.once("exit", onEarlyExit);
      child.once("error", onError);
    });
  }

  private onMessage(child: ChildProcess, msg: SandboxMessage): void {
    switch (msg.t) {
      case "result": {
        const p = this.pending.get(msg.id);
        // Only the process a call was sent to may answer it.
        if (!p || p.child !== child) return;
        if (msg.outcome.status === "need_code") {
          void this.send(msg.id, p.req, true).catch((err) => this.settle(msg.id, undefined, err));
          return;
        }
        this.settle(msg.id, { outcome: msg.outcome, logs: msg.logs, durationMs: msg.durationMs });
        if (msg.outcome.status === "timeout" && msg.outcome.stuck && child === this.child) this.retire(child);
        else if (this.retiring.has(child)) this.killIfDrained(child);
        return;
      }
      case "cap":
        void this.answerCap(child, msg);
        return;
      case "fatal":
        this.opts.logger.error({ sandbox: this.index, reason: msg.message }, "sandbox process lost control of an isolate; killing it");
        child.kill("SIGKILL");
        return;
      case "stats":
        this.isolates = msg.isolates;
        this.evicted = msg.evicted;
        return;
    }
  }

  private async answerCap(child: ChildProcess, msg: CapMessage): Promise<void> {
    const p = this.pending.get(msg.callId);
    let json: string;
    try {
      // The call must be running on the process asking, under the token it was given. A
      // sandbox process (and anything that escaped into one) can only speak for its own calls.
      if (!p || p.child !== child || typeof msg.token !== "string" || msg.token !== p.token) {
        throw Object.assign(new Error("the call this ctx request belongs to has ended"), { name: "CallEnded" });
      }
      if (typeof msg.method !== "string" || typeof msg.argsJson !== "string") throw new TypeError("malformed ctx call");
      if (msg.argsJson.length > MAX_CAP_ARGS_CHARS) throw new RangeError(`ctx arguments larger than ${MAX_CAP_ARGS_CHARS} characters are refused`);
      const args = JSON.parse(msg.argsJson);
      if (!Array.isArray(args)) throw new TypeError("ctx arguments must be a list");
      const value = await p.req.capability(msg.method, args);
      json = JSON.stringify({ ok: true, value: value === undefined ? null : value });
    } catch (err) {
      const e = err as { name?: string; message?: string; code?: string };
      json = JSON.stringify({ ok: false, error: { name: e?.name ?? "Error", message: e?.message ?? String(err), code: e?.code } });
    }
    if (child.connected) child.send({ t: "cap-reply", capId: msg.capId, json });
  }

  private overrun(id: number): void {
    const p = this.pending.get(id);
    if (!p) return;
    if (!p.child) {
      // Never sent: the process did not get ready in time. It is not coming back on its own.
      this.settle(id, undefined, new AppError("sandbox_unavailable"));
      this.child?.kill("SIGKILL");
      return;
    }
    p.overdue = true;
    this.opts.logger.warn({ sandbox: this.index, kind: p.req.kind, name: p.req.name }, "sandbox call overran its deadline; killing the process");
    (p.child ?? this.child)?.kill("SIGKILL");
  }

  /** New calls go to a fresh process from now on; this one goes once its calls are answered. */
  private retire(child: ChildProcess): void {
    this.opts.logger.warn({ sandbox: this.index, pid: child.pid }, "sandbox process retired: a timed-out isolate did not stop");
    this.retiring.add(child);
    this.child = undefined;
    this.ready = undefined;
    this.retired++;
    void this.start().catch((err) => this.opts.logger.error({ err }, "sandbox start failed"));
    this.killIfDrained(child);
  }

  private killIfDrained(child: ChildProcess): void {
    for (const p of this.pending.values()) if (p.child === child) return;
    child.kill("SIGKILL");
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    for (const [id, p] of this.pending) {
      if ((p.child ?? this.child) !== child) continue;
      this.settle(id, undefined, p.overdue ? new AppError("plugin_timeout") : new AppError("sandbox_unavailable"));
    }
    if (this.retiring.delete(child) || child !== this.child) return;
    this.ready = undefined;
    this.child = undefined;
    if (this.closing) return;
    this.restarts++;
    this.opts.onRestart?.();
    this.opts.logger.warn({ sandbox: this.index, code, signal }, "sandbox process exited; restarting");
    // A crash loop backs off instead of spinning.
    const now = Date.now();
    this.recentRestarts = [...this.recentRestarts.filter((t) => now - t < 10_000), now];
    const delay = this.recentRestarts.length > 5 ? 1000 : 0;
    setTimeout(() => {
      if (!this.closing) void this.start().catch((err) => this.opts.logger.error({ err }, "sandbox restart failed"));
    }, delay).unref();
  }

  private settle(id: number, result?: SandboxResult, err?: unknown): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.watchdog);
    if (result) p.resolve(result);
    else p.reject(err);
  }
}
