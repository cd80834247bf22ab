import { performance } from "node:perf_hooks";
import { Pool } from "undici";

export interface LoadOptions {
  /** Origin of the server, e.g. http://127.0.0.1:4100 */
  origin: string;
  path: string;
  headers: Record<string, string>;
  /** Closed-loop workers, one per connection (pipelining 1): at most this many requests in flight. */
  concurrency: number;
  warmupMs: number;
  durationMs: number;
}

export interface LoadResult {
  concurrency: number;
  durationS: number;
  requests: number;
  /** Non-2xx answers and transport errors during the measured window. */
  errors: number;
  rps: number;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
}

/**
 * Closed-loop load: `concurrency` workers each send one request, wait for the whole body,
 * send the next. Warm-up requests are not counted; in the measured window every request
 * that completes is counted and its latency (send → last body byte) recorded.
 */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const pool = new Pool(opts.origin, {
    connections: opts.concurrency,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 60_000,
  });
  const latencies: number[] = [];
  let errors = 0;
  let firstError: unknown;
  const start = performance.now();
  const measureFrom = start + opts.warmupMs;
  const stopAt = measureFrom + opts.durationMs;

  const worker = async () => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= stopAt) return;
      let ok = false;
      try {
        const res = await pool.request({ method: "GET", path: opts.path, headers: opts.headers });
        await res.body.text();
        ok = res.statusCode >= 200 && res.statusCode < 300;
        if (!ok) firstError ??= new Error(`HTTP ${res.statusCode}`);
      } catch (err) {
        firstError ??= err;
      }
      const t1 = performance.now();
      if (t0 >= measureFrom && t1 <= stopAt) {
        if (ok) latencies.push(t1 - t0);
        else errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  await pool.close();

  if (errors > 0 && latencies.length === 0) throw new Error(`every request failed: ${String(firstError)}`);
  const sorted = Float64Array.from(latencies).sort();
  const sum = latencies.reduce((a, b) => a + b, 0);
  return {
    concurrency: opts.concurrency,
    durationS: opts.durationMs / 1000,
    requests: sorted.length,
    errors,
    rps: sorted.length / (opts.durationMs / 1000),
    latencyMs: {
      mean: sorted.length ? sum / sorted.length : NaN,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: sorted.length ? sorted[sorted.length - 1] : NaN,
    },
  };
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}
