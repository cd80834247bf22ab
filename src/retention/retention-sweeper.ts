import type { SqlExec } from "../db/database.ts";
import type { Logger } from "../logger.ts";
import { RETENTION_KINDS, RETENTION_STEPS, TRY_LOCK_SQL, UNLOCK_SQL, type RetentionClock, type RetentionKind } from "./retention-sql.ts";

/** Days each kind is kept; 0 keeps it forever. */
export type RetentionDays = Record<RetentionClock, number>;

export interface RetentionOptions {
  /** How often to sweep (ms); 0: never on a timer (sweep() still works). */
  sweepMs: number;
  /** Most rows one statement deletes. */
  batchSize: number;
  days: RetentionDays;
  /** Delay of the first sweep after start(); default min(30 s, sweepMs). */
  firstDelayMs?: number;
}

export interface RetentionDeps {
  sql: SqlExec;
  logger: Logger;
  /** Rows deleted, by kind (the Prometheus counter). */
  pruned?: { inc(labels: { kind: RetentionKind }, value: number): void };
  now?: () => Date;
}

export interface SweepResult {
  /** Why nothing was done: another sweep holds the lock, one is running here, or stop() was called. */
  skipped?: "locked" | "running" | "stopped";
  pruned: Record<RetentionKind, number>;
  /** Statements run per kind: a kind needs at least one more than its rows divided by the batch size. */
  batches: Record<RetentionKind, number>;
}

const FIRST_DELAY_MS = 30_000;

/**
 * Deletes what the host would otherwise keep forever — invocations and their log lines, events
 * and their hook runs, finished job runs and webhook deliveries with their attempts, audit rows,
 * usage counters — once older than their `RETENTION_*_DAYS`. Never anything still pending,
 * queued or running.
 *
 * One sweep at a time across all processes: a sweep runs under a session advisory lock, and a
 * process that finds it taken skips that round. Each statement deletes at most `batchSize` rows
 * (its own short transaction; children such as log lines go before their parents, so no cascade
 * adds to that), repeated until a batch comes back short, so no lock is held long. An event that
 * roots a chain stays while the chain is live: emits under it count on its row.
 */
export class RetentionSweeper {
  private timer?: NodeJS.Timeout;
  private current?: Promise<SweepResult>;
  private stopped = false;

  constructor(
    private readonly deps: RetentionDeps,
    private readonly opts: RetentionOptions,
  ) {}

  /** Sweeps shortly after, then every `sweepMs` (timers unref'd: they never keep a process up). */
  start(): void {
    this.stopped = false;
    if (this.opts.sweepMs <= 0) return;
    this.schedule(this.opts.firstDelayMs ?? Math.min(FIRST_DELAY_MS, this.opts.sweepMs));
  }

  /** No more sweeps; resolves once a running one has finished its current batch. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.current?.catch(() => undefined);
  }

  /** One sweep now. Rejects when a statement fails (the lock is released either way). */
  sweep(): Promise<SweepResult> {
    if (this.stopped) return Promise.resolve(emptyResult("stopped"));
    if (this.current) return Promise.resolve(emptyResult("running"));
    const run = this.run().finally(() => {
      if (this.current === run) this.current = undefined;
    });
    this.current = run;
    return run;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => void this.scheduled(), ms);
    this.timer.unref();
  }

  private async scheduled(): Promise<void> {
    try {
      await this.sweep();
    } catch (err) {
      if (!this.stopped) this.deps.logger.warn({ err }, "retention sweep failed; will try again next round");
    } finally {
      if (!this.stopped) this.schedule(this.opts.sweepMs);
    }
  }

  private async run(): Promise<SweepResult> {
    const { sql } = this.deps;
    // On Postgres the lock belongs to one connection, held for the whole sweep; the batches run
    // on it too. A failure drops that connection, which releases the lock.
    const sweep = async (conn: SqlExec): Promise<SweepResult> => {
      const [lock] = await conn.query<{ ok: boolean }>(TRY_LOCK_SQL);
      if (!lock?.ok) {
        this.deps.logger.debug("another process is sweeping retention; skipping this round");
        return emptyResult("locked");
      }
      try {
        return await this.prune(conn);
      } finally {
        await conn.query(UNLOCK_SQL);
      }
    };
    const started = performance.now();
    const result = await (sql.session ? sql.session(sweep) : sweep(sql));
    const total = Object.values(result.pruned).reduce((a, b) => a + b, 0);
    if (total > 0) this.deps.logger.info({ pruned: result.pruned, ms: Math.round(performance.now() - started) }, "retention sweep pruned old rows");
    return result;
  }

  private async prune(conn: SqlExec): Promise<SweepResult> {
    const result = emptyResult();
    const now = (this.deps.now ?? (() => new Date()))().getTime();
    const limit = Math.max(1, Math.floor(this.opts.batchSize));
    for (const step of RETENTION_STEPS) {
      const days = this.opts.days[step.clock];
      if (!(days > 0)) continue;
      const params = [new Date(now - days * 86_400_000).toISOString(), limit];
      /** One statement, counted; true when it came back full (there may be more). */
      const batch = async (sql: string, kinds: readonly [RetentionKind, ...RetentionKind[]]): Promise<boolean> => {
        const [row] = await conn.query<Partial<Record<RetentionKind, number>>>(sql, params);
        for (const kind of kinds) {
          const n = Number(row?.[kind] ?? 0);
          result.batches[kind] += 1;
          result.pruned[kind] += n;
          if (n > 0) this.deps.pruned?.inc({ kind }, n);
        }
        return Number(row?.[kinds[0]] ?? 0) >= limit;
      };
      const { children } = step;
      for (;;) {
        while (children) {
          if (this.stopped) return result;
          if (!(await batch(children.sql, [children.kind]))) break;
        }
        if (this.stopped) return result;
        if (!(await batch(step.sql, step.kinds))) break;
      }
    }
    return result;
  }
}

function emptyResult(skipped?: SweepResult["skipped"]): SweepResult {
  const zeros = () => Object.fromEntries(RETENTION_KINDS.map((k) => [k, 0])) as Record<RetentionKind, number>;
  return { ...(skipped ? { skipped } : {}), pruned: zeros(), batches: zeros() };
}
