import { createHash } from "node:crypto";
import type { Logger } from "../logger.ts";
import { SandboxProcess, type SandboxRequest, type SandboxResult } from "./sandbox-process.ts";

export interface SandboxPoolOptions {
  processes: number;
  idleMs: number;
  maxIsolates: number;
  graceMs: number;
  logger: Logger;
}

/**
 * The supervised sandbox processes of one host process. Calls for one install always go to
 * the same process, so its isolate stays warm; installs spread over the processes by hash.
 */
export class SandboxPool {
  private readonly procs: SandboxProcess[];

  constructor(opts: SandboxPoolOptions) {
    const perProcess = Math.max(1, Math.ceil(opts.maxIsolates / opts.processes));
    this.procs = Array.from(
      { length: opts.processes },
      (_, i) => new SandboxProcess(i, { ...opts, maxIsolates: perProcess }),
    );
  }

  async start(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.start()));
  }

  call(req: SandboxRequest): Promise<SandboxResult> {
    return this.procs[this.slot(req.key)].call(req);
  }

  /** Drops warm isolates of an install everywhere (upgrade, rollback, disable, uninstall). */
  evict(keyPrefix: string): void {
    for (const p of this.procs) p.evict(keyPrefix);
  }

  stats(): { processes: number; restarts: number; retired: number; isolates: number; evicted: number } {
    return {
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
