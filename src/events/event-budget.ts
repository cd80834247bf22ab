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

// Roots whose refusal was already written to a plugin log (per process; bounded).
const MAX_REPORTED_ROOTS = 10_000;

/**
 * What a tenant's plugins may emit. A hook that emits its own event type fans out
 * geometrically (10 emits a call, 8 deep, is 10^8 events); the depth and per-call caps do not
 * bound that, this does: every event carries its root, and the root row counts the events
 * emitted under it with one conditional UPDATE (atomic across processes). The tenant's emit
 * rate is counted in RateLimits (Redis in scaled mode), so no process multiplies it.
 */
export class EventBudget {
  private readonly reported = new Set<string>();

  constructor(
    private readonly deps: { sql: Pick<SqlExec, "query">; limits: Pick<RateLimits, "take">; onRefused?: (reason: EmitRefusal) => void },
    private readonly opts: EventBudgetOptions,
  ) {}

  /**
   * Takes one emit for `tenantId` under `rootId` (null: the emit starts a chain of its own).
   * Throws the error the plugin sees when over; `report` gets a line for the plugin's log, once
   * per root.
   */
  async take(tenantId: string, rootId: string | null, report: (message: string) => void): Promise<void> {
    const wait = await this.deps.limits.take("emit", tenantId, { points: this.opts.emitRate, durationSeconds: this.opts.emitPeriodSeconds });
    if (wait > 0) {
      this.deps.onRefused?.("rate");
      this.reportOnce(`rate:${rootId ?? tenantId}`, report, `emit refused: this tenant's plugins emit more than ${this.opts.emitRate} events per ${this.opts.emitPeriodSeconds} s (TENANT_EMIT_RATE)`);
      throw new CapabilityError(`ctx.emit refused: the tenant's plugins may emit at most ${this.opts.emitRate} events per ${this.opts.emitPeriodSeconds} s`, "emit_rate_limited", "EmitRateLimited");
    }
    if (rootId === null) return;
    const rows = await this.deps.sql.query(
      "UPDATE events SET descendants = descendants + 1 WHERE id = $1::uuid AND descendants < $2 RETURNING descendants",
      [rootId, this.opts.treeMax],
    );
    if (rows.length > 0) return;
    this.deps.onRefused?.("tree");
    this.reportOnce(`tree:${rootId}`, report, `emit refused: the chain started by event ${rootId} reached ${this.opts.treeMax} events (EVENT_TREE_MAX)`);
    throw new CapabilityError(`ctx.emit refused: the chain of events started by ${rootId} already has ${this.opts.treeMax} events`, "event_tree_limit", "EventTreeLimit");
  }

  private reportOnce(key: string, report: (message: string) => void, message: string): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    if (this.reported.size > MAX_REPORTED_ROOTS) this.reported.delete(this.reported.values().next().value as string);
    report(message);
  }
}
