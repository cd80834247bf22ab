import { fork, type ChildProcess } from "node:child_process";
import { AppError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { CallInfo, CallOutcome, CallTarget, LogLine, PluginCode, SandboxMessage } from "./protocol.ts";

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
  onRestart?: () => void;
}

interface Pending {
  req: SandboxRequest;
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
 * A call that timed out inside the process may have left native work running (a runaway
 * allocation outlives its disposed isolate and later aborts the process). So the process that
 * reported the timeout is retired: new calls go to a fresh one, and the old one is killed once
 * the calls it already had are answered.
 */
export class SandboxProcess {
  private child?: ChildProcess;
  private ready?: Promise<void>;
  private readonly pending = new Map<number, Pending>();
  private readonly retiring = new Set<ChildProcess>();
  /** Plugin versions whose code each process already has. */
  private readonly sentCode = new WeakMap<ChildProcess, Set<string>>();
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

  async call(req: SandboxRequest): Promise<SandboxResult> {
    await this.start();
    const id = ++this.seq;
    return new Promise<SandboxResult>((resolve, reject) => {
      // Loading a cold isolate and running the call each get the timeout; then a grace.
      const limit = req.timeoutMs * 2 + this.opts.graceMs;
      const watchdog = setTimeout(() => this.overrun(id), limit);
      this.pending.set(id, { req, resolve, reject, watchdog, overdue: false });
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
      await this.start();
      p.child = this.child;
    }
    const child = p.child;
    if (!child) return; // it died meanwhile: onExit has settled the call or the watchdog will
    let sent = this.sentCode.get(child);
    if (!sent) this.sentCode.set(child, (sent = new Set()));
    const code = withCode || !sent.has(req.versionId) ? await req.code() : undefined;
    if (code) sent.add(req.versionId);
    if (!this.pending.has(id) || !child.connected) return;
    child.send({
      t: "call",
      id,
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
  }

  private spawn(): Promise<void> {
    const child = fork(ENTRY, [], {
      execArgv: ["--no-node-snapshot", ...(ENTRY.pathname.endsWith(".ts") ? ["--import", "tsx"] : [])],
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
      const onReady = (msg: SandboxMessage) => {
        if (msg.t !== "ready") return;
        child.off("message", onReady);
        resolve();
      };
      child.on("message", onReady);
      child.once("error", reject);
    });
  }

  private onMessage(child: ChildProcess, msg: SandboxMessage): void {
    switch (msg.t) {
      case "result": {
        const p = this.pending.get(msg.id);
        if (!p) return;
        if (msg.outcome.status === "need_code") {
          void this.send(msg.id, p.req, true).catch((err) => this.settle(msg.id, undefined, err));
          return;
        }
        this.settle(msg.id, { outcome: msg.outcome, logs: msg.logs, durationMs: msg.durationMs });
        if (msg.outcome.status === "timeout" && child === this.child) this.retire(child);
        else if (this.retiring.has(child)) this.killIfDrained(child);
        return;
      }
      case "cap":
        void this.answerCap(child, msg.capId, msg.callId, msg.method, msg.argsJson);
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

  private async answerCap(child: ChildProcess, capId: number, callId: number, method: string, argsJson: string): Promise<void> {
    const p = this.pending.get(callId);
    let json: string;
    try {
      if (!p) throw Object.assign(new Error("the call this ctx request belongs to has ended"), { name: "CallEnded" });
      const args = JSON.parse(argsJson);
      if (!Array.isArray(args)) throw new TypeError("ctx arguments must be a list");
      const value = await p.req.capability(method, args);
      json = JSON.stringify({ ok: true, value: value === undefined ? null : value });
    } catch (err) {
      const e = err as { name?: string; message?: string; code?: string };
      json = JSON.stringify({ ok: false, error: { name: e?.name ?? "Error", message: e?.message ?? String(err), code: e?.code } });
    }
    if (child.connected) child.send({ t: "cap-reply", capId, json });
  }

  private overrun(id: number): void {
    const p = this.pending.get(id);
    if (!p) return;
    p.overdue = true;
    this.opts.logger.warn({ sandbox: this.index, kind: p.req.kind, name: p.req.name }, "sandbox call overran its deadline; killing the process");
    (p.child ?? this.child)?.kill("SIGKILL");
  }

  /** New calls go to a fresh process from now on; this one goes once its calls are answered. */
  private retire(child: ChildProcess): void {
    this.opts.logger.info({ sandbox: this.index, pid: child.pid }, "sandbox process retired after a timeout");
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
