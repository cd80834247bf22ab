import { CapabilityError } from "../capabilities/capability-error.ts";
import type { SqlExec } from "../db/database.ts";
import type { RateLimits } from "../limits/rate-limits.ts";

export interface EventBudgetOptions {
  /** Events that may be emitted under one root event, at every depth together. */
  treeMax: number;
  /** Plugin emits per tenant per `emitPeriodSeconds`, all its installs together. */
  emitRate: number;
  emitPeriodSeconds: number;
}

export type EmitRefusal = "tree" | "rate";

// Refusals already written to a plugin log (per process; bounded). A chain's tree refusal is
// said once; a rate refusal once per chain (or tenant, for emits outside a chain) a minute, so a
// tenant that floods again later is told again.
const MAX_REPORTED = 10_000;
const RATE_REPORT_EVERY_MS = 60_000;

/**
 * What a tenant's plugins may emit. A hook that emits its own event type fans out
 * geometrically (10 emits a call, 8 deep, is 10^8 events); the depth and per-call caps do not
 * bound that, this does: every event carries its root, and the root row counts the events
 * emitted under it with one conditional UPDATE (atomic across processes). The tenant's emit
 * rate is counted in RateLimits (Redis in scaled mode), so no process multiplies it.
 */
export class EventBudget {
  /** Refusal key → when it was last reported. */
  private readonly reported = new Map<string, number>();

  constructor(
    private readonly deps: { sql: Pick<SqlExec, "query">; limits: Pick<RateLimits, "take" | "giveBack">; onRefused?: (reason: EmitRefusal) => void },
    private readonly opts: EventBudgetOptions,
  ) {}

  /**
   * Takes one emit for `tenantId` under `rootId` (null: the emit starts a chain of its own).
   * Throws the error the plugin sees when over; `report` gets a line for the plugin's log.
   */
  async take(tenantId: string, rootId: string | null, report: (message: string) => void): Promise<void> {
    const rate = { points: this.opts.emitRate, durationSeconds: this.opts.emitPeriodSeconds };
    const wait = await this.deps.limits.take("emit", tenantId, rate);
    if (wait > 0) {
      this.deps.onRefused?.("rate");
      this.report(`rate:${rootId ?? tenantId}`, RATE_REPORT_EVERY_MS, report, `emit refused: this tenant's plugins emit more than ${this.opts.emitRate} events per ${this.opts.emitPeriodSeconds} s (TENANT_EMIT_RATE)`);
      throw new CapabilityError(`ctx.emit refused: the tenant's plugins may emit at most ${this.opts.emitRate} events per ${this.opts.emitPeriodSeconds} s`, "emit_rate_limited", "EmitRateLimited");
    }
    if (rootId === null) return;
    const rows = await this.deps.sql.query(
      "UPDATE events SET descendants = descendants + 1 WHERE id = $1::uuid AND descendants < $2 RETURNING descendants",
      [rootId, this.opts.treeMax],
    );
    if (rows.length > 0) return;
    // A chain at its cap must not spend the tenant's emit rate, which its other plugins share.
    await this.deps.limits.giveBack("emit", tenantId, rate);
    this.deps.onRefused?.("tree");
    this.report(`tree:${rootId}`, Infinity, report, `emit refused: the chain started by event ${rootId} reached ${this.opts.treeMax} events (EVENT_TREE_MAX)`);
    throw new CapabilityError(`ctx.emit refused: the chain of events started by ${rootId} already has ${this.opts.treeMax} events`, "event_tree_limit", "EventTreeLimit");
  }

  /** Reports `message` unless `key` was reported less than `everyMs` ago. */
  private report(key: string, everyMs: number, report: (message: string) => void, message: string): void {
    const now = Date.now();
    const last = this.reported.get(key);
    if (last !== undefined && now - last < everyMs) return;
    this.reported.delete(key); // re-inserted last, so eviction takes the longest unreported first
    this.reported.set(key, now);
    if (this.reported.size > MAX_REPORTED) this.reported.delete(this.reported.keys().next().value as string);
    report(message);
  }
}
