import { createHash } from "node:crypto";
import { AppError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { SandboxProcess, type SandboxRequest, type SandboxResult } from "./sandbox-process.ts";
import { TimeoutBackoff, type TimeoutBackoffOptions } from "./timeout-backoff.ts";

export interface SandboxPoolOptions {
  processes: number;
  idleMs: number;
  maxIsolates: number;
  graceMs: number;
  logger: Logger;
  /** Calls of one install in flight at once; more are refused (plugin_busy). */
  maxCallsPerInstall?: number;
  /** Pausing installs whose calls keep timing out. */
  timeouts?: TimeoutBackoffOptions;
  /** What one call may log. */
  log?: { maxLines: number; maxChars: number };
}

const DEFAULT_BACKOFF: TimeoutBackoffOptions = { strikes: 3, pauseMs: 1000, maxPauseMs: 60_000 };

/**
 * The supervised sandbox processes of one host process. Calls for one install always go to
 * the same process, so its isolate stays warm; installs spread over the processes by hash.
 *
 * Fairness is enforced here, on the host: an install has at most `maxCallsPerInstall` calls in
 * flight (its isolate runs one at a time anyway; the rest would only queue), and an install
 * whose calls keep timing out is paused (TimeoutBackoff) instead of holding a thread each time.
 */
export class SandboxPool {
  private readonly procs: SandboxProcess[];
  private readonly inFlight = new Map<string, number>();
  private readonly backoff: TimeoutBackoff;
  private readonly maxCallsPerInstall: number;
  /** Calls refused because their install was paused or had too many in flight. */
  refused = { paused: 0, busy: 0 };

  constructor(opts: SandboxPoolOptions) {
    this.backoff = new TimeoutBackoff(opts.timeouts ?? DEFAULT_BACKOFF);
    this.maxCallsPerInstall = opts.maxCallsPerInstall ?? 64;
    const perProcess = Math.max(1, Math.ceil(opts.maxIsolates / opts.processes));
    this.procs = Array.from(
      { length: opts.processes },
      (_, i) => new SandboxProcess(i, { ...opts, maxIsolates: perProcess }),
    );
  }

  async start(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.start()));
  }

  async call(req: SandboxRequest): Promise<SandboxResult> {
    const key = req.key;
    const paused = this.backoff.pausedFor(key);
    if (paused > 0) {
      this.refused.paused++;
      const seconds = Math.ceil(paused / 1000);
      throw new AppError("plugin_paused", `The plugin's calls keep timing out; it is paused for ${seconds} s`, null, {
        headers: { "Retry-After": String(seconds) },
      });
    }
    const running = this.inFlight.get(key) ?? 0;
    if (running >= this.maxCallsPerInstall) {
      this.refused.busy++;
      throw new AppError("plugin_busy", `The plugin already has ${running} calls in progress`, null, { headers: { "Retry-After": "1" } });
    }
    this.inFlight.set(key, running + 1);
    try {
      const result = await this.procs[this.slot(key)].call(req);
      // An `interrupted` call (its isolate was disposed under it by another call's timeout) says
      // nothing about this install's code: it neither counts nor clears a strike.
      if (result.outcome.status !== "interrupted") this.backoff.record(key, result.outcome.status === "timeout");
      return result;
    } catch (err) {
      // The watchdog's verdict: the call overran even the sandbox process's own deadline.
      if (err instanceof AppError && err.code === "plugin_timeout") this.backoff.record(key, true);
      throw err;
    } finally {
      const left = (this.inFlight.get(key) ?? 1) - 1;
      if (left > 0) this.inFlight.set(key, left);
      else this.inFlight.delete(key);
    }
  }

  /** Drops warm isolates of an install everywhere (upgrade, rollback, disable, uninstall). */
  evict(keyPrefix: string): void {
    for (const p of this.procs) p.evict(keyPrefix);
  }

  stats(): { processes: number; restarts: number; retired: number; isolates: number; evicted: number; paused: number; busy: number } {
    return {
      paused: this.refused.paused,
      busy: this.refused.busy,
      processes: this.procs.length,
      restarts: this.procs.reduce((n, p) => n + p.restarts, 0),
      retired: this.procs.reduce((n, p) => n + p.retired, 0),
      isolates: this.procs.reduce((n, p) => n + p.isolates, 0),
      evicted: this.procs.reduce((n, p) => n + p.evicted, 0),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.close()));
  }

  private slot(key: string): number {
    return createHash("sha1").update(key).digest().readUInt32BE(0) % this.procs.length;
  }
}
