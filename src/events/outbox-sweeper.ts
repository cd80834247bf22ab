import type { Executor, WorkKind } from "../execution/executor.ts";
import { workKey } from "../execution/executor.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../logger.ts";

const BATCH = 500;

/**
 * Finds pending hook runs, queued job runs and pending webhook deliveries whose attempt is overdue — their queue entry was lost to a crash, a
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
    const { prisma } = this.deps;
    const before = new Date(Date.now() - staleMs);
    // Each source: what is overdue, as (id, attempt the queue entry was made for).
    const sources: { kind: WorkKind; due: () => Promise<{ id: string; attempts?: number }[]> }[] = [
      {
        kind: "hook",
        due: () => prisma.hookRun.findMany({ where: { status: "pending", nextAttemptAt: { lte: before } }, select: { id: true, attempts: true }, orderBy: { nextAttemptAt: "asc" }, take: BATCH }),
      },
      {
        kind: "job",
        due: () => prisma.jobRun.findMany({ where: { status: "queued", createdAt: { lte: before } }, select: { id: true }, orderBy: { createdAt: "asc" }, take: BATCH }),
      },
      {
        // A delivery held by a worker (locked_until in the future) is being sent; leave it.
        kind: "delivery",
        due: () =>
          prisma.webhookDelivery.findMany({
            where: { status: "pending", nextAttemptAt: { lte: before }, OR: [{ lockedUntil: null }, { lockedUntil: { lt: new Date() } }] },
            select: { id: true, attempts: true },
            orderBy: { nextAttemptAt: "asc" },
            take: BATCH,
          }),
      },
    ];
    let total = 0;
    try {
      for (const source of sources) {
        for (const row of await source.due()) {
          const item = { kind: source.kind, id: row.id };
          await this.deps.executor.enqueue(item, { dedupeKey: workKey(item, row.attempts ?? 0) });
          total++;
        }
      }
      if (total) this.deps.logger.info({ count: total }, "outbox sweep re-enqueued pending hook runs, job runs and deliveries");
    } catch (err) {
      this.deps.logger.warn({ err }, "outbox sweep failed; will try again");
    }
    return total;
  }
}
