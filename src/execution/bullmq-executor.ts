import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import type { Logger } from "../logger.ts";
import type { EnqueueOptions, Executor, WorkHandler, WorkItem } from "./executor.ts";

export interface BullmqOptions {
  redisUrl: string;
  /** Redis key prefix, so several deployments (or test runs) share one Redis. */
  prefix: string;
  concurrency?: number;
  logger: Logger;
}

const QUEUE = "work";

/**
 * BullMQ engine for the scaled mode. API processes only enqueue; `npm run worker` processes
 * consume. Retries are decided by the runners from the database rows, so BullMQ runs each
 * queued item once (attempts: 1) and forgets it when done.
 */
export class BullmqExecutor implements Executor {
  readonly engine = "bullmq" as const;
  private readonly connection: Redis;
  /** The work queue; the job scheduler keeps its cron schedulers on it. */
  readonly queue: Queue;
  private worker?: Worker;
  private workerConnection?: Redis;

  constructor(private readonly opts: BullmqOptions) {
    // Workers block on Redis; BullMQ requires maxRetriesPerRequest: null for that.
    this.connection = new Redis(opts.redisUrl, { maxRetriesPerRequest: null, lazyConnect: false });
    this.connection.on("error", (err) => opts.logger.warn({ err: err.message }, "redis connection error"));
    this.queue = new Queue(QUEUE, { connection: this.connection, prefix: opts.prefix });
  }

  async enqueue(item: WorkItem, opts: EnqueueOptions = {}): Promise<void> {
    await this.queue.add(item.kind, item, {
      jobId: opts.dedupeKey,
      delay: opts.delayMs && opts.delayMs > 0 ? Math.round(opts.delayMs) : undefined,
      attempts: 1,
      // Nothing is kept once a job ended: a kept job would make the outbox sweep's re-add under
      // the same id a silent no-op. Outcomes live in the database, not in Redis.
      removeOnComplete: true,
      removeOnFail: true,
    });
  }

  async startWorker(handler: WorkHandler): Promise<void> {
    this.workerConnection = new Redis(this.opts.redisUrl, { maxRetriesPerRequest: null });
    this.workerConnection.on("error", (err) => this.opts.logger.warn({ err: err.message }, "redis worker connection error"));
    this.worker = new Worker(QUEUE, (job) => handler(withDueTime(job.data as WorkItem, job.timestamp + (job.opts.delay ?? 0))), {
      connection: this.workerConnection,
      prefix: this.opts.prefix,
      concurrency: this.opts.concurrency ?? 32,
      // A killed worker's jobs come back after the lock lapses (the lock is renewed every
      // lockDuration/2 while a job runs, so long hooks are not affected).
      lockDuration: 10_000,
      stalledInterval: 3_000,
      maxStalledCount: 3,
    });
    this.worker.on("error", (err) => this.opts.logger.warn({ err: err.message }, "bullmq worker error"));
    await this.worker.waitUntilReady();
  }

  async depth(): Promise<number> {
    const counts = await this.queue.getJobCounts("waiting", "active", "delayed", "prioritized");
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
    this.workerConnection?.disconnect();
    this.connection.disconnect();
  }
}

// A scheduler's tick job is created ahead of time with a delay: timestamp + delay is when it was
// due, give or take a millisecond of bookkeeping; cron fires on whole seconds, so round to one.
function withDueTime(item: WorkItem, dueAt: number): WorkItem {
  const due = new Date(Math.round(dueAt / 1000) * 1000).toISOString();
  return item.tick ? { ...item, tick: { ...item.tick, scheduledFor: item.tick.scheduledFor ?? due } } : item;
}
