import { performance } from "node:perf_hooks";
import { Pool } from "undici";

export interface LoadTargetOptions {
  /** Origin of the server, e.g. http://127.0.0.1:4100 */
  origin: string;
  path: string;
  headers: Record<string, string>;
  /** Closed-loop workers, one per connection (pipelining 1): at most this many requests in flight. */
  concurrency: number;
}

export interface SliceResult {
  /** Latency (send → last body byte) of every 2xx answer that started and ended in the slice. */
  latencies: number[];
  /** Non-2xx answers and transport errors. */
  errors: number;
  firstError?: string;
  seconds: number;
}

export interface LoadResult {
  concurrency: number;
  seconds: number;
  requests: number;
  errors: number;
  rps: number;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
}

/**
 * Closed-loop load on one server: `concurrency` workers each send one GET, wait for the whole
 * body, send the next. The undici Pool (and its keep-alive connections) lives across slices,
 * so slices against two servers can be interleaved without reconnecting.
 */
export class LoadTarget {
  private readonly pool: Pool;

  constructor(private readonly opts: LoadTargetOptions) {
    this.pool = new Pool(opts.origin, { connections: opts.concurrency, pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
  }

  get concurrency(): number {
    return this.opts.concurrency;
  }

  /** Runs the load for `ms`; the caller decides whether the slice counts (warm-up or measure). */
  async run(ms: number): Promise<SliceResult> {
    const latencies: number[] = [];
    let errors = 0;
    let firstError: string | undefined;
    const start = performance.now();
    const stopAt = start + ms;
    const worker = async () => {
      for (;;) {
        const t0 = performance.now();
        if (t0 >= stopAt) return;
        let ok = false;
        try {
          const res = await this.pool.request({ method: "GET", path: this.opts.path, headers: this.opts.headers });
          await res.body.text();
          ok = res.statusCode >= 200 && res.statusCode < 300;
          if (!ok) firstError ??= `HTTP ${res.statusCode}`;
        } catch (err) {
          firstError ??= String(err);
        }
        if (ok) latencies.push(performance.now() - t0);
        else errors++;
      }
    };
    await Promise.all(Array.from({ length: this.opts.concurrency }, worker));
    // The last requests end a little after stopAt; rate over the real span of the slice.
    return { latencies, errors, firstError, seconds: (performance.now() - start) / 1000 };
  }

  /**
   * Open-loop load: requests are sent at a fixed rate whatever the answers do, and latency
   * runs from each request's scheduled time, so a stalled server is charged for the requests
   * it held up (no coordinated omission). Requests beyond the pool's connections queue in undici.
   */
  async runRate(ms: number, perSecond: number): Promise<SliceResult> {
    const latencies: number[] = [];
    let errors = 0;
    let firstError: string | undefined;
    const inFlight = new Set<Promise<void>>();
    const start = performance.now();
    const total = Math.floor((ms / 1000) * perSecond);
    const one = async (scheduled: number) => {
      try {
        const res = await this.pool.request({ method: "GET", path: this.opts.path, headers: this.opts.headers });
        await res.body.text();
        if (res.statusCode >= 200 && res.statusCode < 300) {
          latencies.push(performance.now() - scheduled);
          return;
        }
        firstError ??= `HTTP ${res.statusCode}`;
      } catch (err) {
        firstError ??= String(err);
      }
      errors++;
    };
    for (let sent = 0; sent < total; ) {
      const now = performance.now();
      // Send every request whose time has come (timers fire late under load; catch up).
      while (sent < total && start + (sent * 1000) / perSecond <= now) {
        const p = one(start + (sent * 1000) / perSecond).finally(() => inFlight.delete(p));
        inFlight.add(p);
        sent++;
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(inFlight);
    return { latencies, errors, firstError, seconds: ms / 1000 };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** Merges measured slices into one throughput and latency figure. */
export function summarize(concurrency: number, slices: SliceResult[]): LoadResult {
  const all = slices.flatMap((s) => s.latencies);
  const errors = slices.reduce((n, s) => n + s.errors, 0);
  const seconds = slices.reduce((n, s) => n + s.seconds, 0);
  if (all.length === 0) throw new Error(`every request failed: ${slices.find((s) => s.firstError)?.firstError ?? "no answer"}`);
  const sorted = Float64Array.from(all).sort();
  return {
    concurrency,
    seconds,
    requests: sorted.length,
    errors,
    rps: sorted.length / seconds,
    latencyMs: {
      mean: all.reduce((a, b) => a + b, 0) / all.length,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: sorted[sorted.length - 1],
    },
  };
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}
