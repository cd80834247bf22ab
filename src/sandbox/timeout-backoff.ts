/** When an install whose calls keep timing out may run again. */
export interface TimeoutBackoffOptions {
  /** Consecutive timeouts before the install is paused. */
  strikes: number;
  /** The first pause; each further timeout doubles it… */
  pauseMs: number;
  /** …up to this. */
  maxPauseMs: number;
}

// Installs tracked at once; the oldest entries go first past it (a forgotten install merely
// starts its count again).
const MAX_TRACKED = 50_000;

/**
 * Consecutive timeouts per install. A runaway plugin costs a thread for its whole timeout on
 * every call; after `strikes` in a row its calls are refused at once for a pause that doubles
 * with each further timeout, so it stops costing everyone else CPU. One call that completes in
 * time clears the record.
 */
export class TimeoutBackoff {
  private readonly state = new Map<string, { strikes: number; until: number }>();

  constructor(
    private readonly opts: TimeoutBackoffOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until the install may run again; 0 when it may run now. */
  pausedFor(key: string): number {
    const s = this.state.get(key);
    return s ? Math.max(0, s.until - this.now()) : 0;
  }

  record(key: string, timedOut: boolean): void {
    if (!timedOut) {
      this.state.delete(key);
      return;
    }
    const s = this.state.get(key) ?? { strikes: 0, until: 0 };
    s.strikes++;
    const over = s.strikes - this.opts.strikes;
    if (over >= 0) s.until = this.now() + Math.min(this.opts.maxPauseMs, this.opts.pauseMs * 2 ** Math.min(over, 30));
    this.state.delete(key);
    this.state.set(key, s);
    if (this.state.size > MAX_TRACKED) this.state.delete(this.state.keys().next().value as string);
  }
}
