/**
 * Sliding-window-log limiter per key (one install's routes). In-process: each API process
 * enforces the limit on the calls it serves.
 */
export class RateLimiter {
  private readonly windows = new Map<string, number[]>();

  /** Returns 0 when the call may go ahead, else the seconds to wait before retrying. */
  take(key: string, calls: number, periodSeconds: number, now = Date.now()): number {
    const periodMs = periodSeconds * 1000;
    let log = this.windows.get(key);
    if (!log) {
      log = [];
      this.windows.set(key, log);
    }
    let drop = 0;
    while (drop < log.length && now - log[drop] >= periodMs) drop++;
    if (drop) log.splice(0, drop);
    if (log.length >= calls) return Math.max(1, Math.ceil((log[0] + periodMs - now) / 1000));
    log.push(now);
    return 0;
  }

  forget(keyPrefix: string): void {
    for (const key of this.windows.keys()) if (key.startsWith(keyPrefix)) this.windows.delete(key);
  }
}
