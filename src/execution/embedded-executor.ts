import type { Logger } from "../logger.ts";
import type { EnqueueOptions, Executor, WorkHandler, WorkItem } from "./executor.ts";

/**
 * In-process engine for the embedded mode: a FIFO with bounded concurrency and timers for
 * delayed items. Nothing survives a restart here; the outbox sweep re-enqueues from the database.
 */
export class EmbeddedExecutor implements Executor {
  readonly engine = "embedded" as const;
  private readonly queue: { item: WorkItem; key?: string }[] = [];
  private readonly keys = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private handler?: WorkHandler;
  private running = 0;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly logger: Logger,
    private readonly concurrency = 32,
  ) {}

  async enqueue(item: WorkItem, opts: EnqueueOptions = {}): Promise<void> {
    if (this.closed) return;
    if (opts.dedupeKey) {
      if (this.keys.has(opts.dedupeKey)) return;
      this.keys.add(opts.dedupeKey);
    }
    const push = () => {
      this.queue.push({ item, key: opts.dedupeKey });
      this.pump();
    };
    if (opts.delayMs && opts.delayMs > 0) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        push();
      }, opts.delayMs);
      this.timers.add(timer);
    } else {
      push();
    }
  }

  async startWorker(handler: WorkHandler): Promise<void> {
    this.handler = handler;
    this.pump();
  }

  async depth(): Promise<number> {
    return this.queue.length + this.running + this.timers.size;
  }

  /** Resolves when nothing is queued or running (timers for later attempts may remain). */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.queue.length = 0;
    await this.idle();
  }

  private pump(): void {
    while (this.handler && this.running < this.concurrency && this.queue.length) {
      const { item, key } = this.queue.shift()!;
      if (key) this.keys.delete(key);
      this.running++;
      this.handler(item)
        .catch((err) => this.logger.error({ err, item }, "background work failed"))
        .finally(() => {
          this.running--;
          this.pump();
          if (this.queue.length === 0 && this.running === 0) {
            const waiters = this.idleWaiters;
            this.idleWaiters = [];
            for (const w of waiters) w();
          }
        });
    }
  }
}
