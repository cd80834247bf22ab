import type { Executor } from "../execution/executor.ts";
import { workKey } from "../execution/executor.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../logger.ts";

const BATCH = 500;

/**
 * Finds pending hook runs whose attempt is overdue — their queue entry was lost to a crash, a
 * killed worker or a Redis restart — and enqueues them again. At start it takes every due run
 * (nothing of this process can be running yet); afterwards only those overdue by `staleMs`.
 * The dedupe key is the one the run was first queued with, so a still-queued entry is not doubled.
 */
export class OutboxSweeper {
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<number>;

  constructor(
    private readonly deps: { prisma: PrismaClient; executor: Executor; logger: Logger },
    private readonly opts: { sweepMs: number; staleMs: number },
  ) {}

  async start(): Promise<void> {
    await this.sweep(0);
    this.timer = setInterval(() => void this.sweep(this.opts.staleMs), this.opts.sweepMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Enqueues pending runs due more than `staleMs` ago; returns how many. */
  sweep(staleMs: number): Promise<number> {
    this.sweeping ??= this.doSweep(staleMs).finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async doSweep(staleMs: number): Promise<number> {
    let total = 0;
    try {
      const due = await this.deps.prisma.hookRun.findMany({
        where: { status: "pending", nextAttemptAt: { lte: new Date(Date.now() - staleMs) } },
        select: { id: true, attempts: true },
        orderBy: { nextAttemptAt: "asc" },
        take: BATCH,
      });
      for (const run of due) {
        const item = { kind: "hook" as const, id: run.id };
        await this.deps.executor.enqueue(item, { dedupeKey: workKey(item, run.attempts) });
        total++;
      }
      const queuedJobs = await this.deps.prisma.jobRun.findMany({
        where: { status: "queued", createdAt: { lte: new Date(Date.now() - staleMs) } },
        select: { id: true },
        orderBy: { createdAt: "asc" },
        take: BATCH,
      });
      for (const run of queuedJobs) {
        const item = { kind: "job" as const, id: run.id };
        await this.deps.executor.enqueue(item, { dedupeKey: workKey(item, 0) });
        total++;
      }
      if (total) this.deps.logger.info({ count: total }, "outbox sweep re-enqueued pending hook and job runs");
    } catch (err) {
      this.deps.logger.warn({ err }, "outbox sweep failed; will try again");
    }
    return total;
  }
}
