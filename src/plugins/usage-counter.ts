import type { SqlExec } from "../db/database.ts";
import type { Logger } from "../logger.ts";

/**
 * Per install and day counters: ctx calls by method and outcome, LLM tokens. Counted in memory
 * and added to `usage_counters` with one statement a second, so counting costs a map update.
 */
export class UsageCounter {
  private pending = new Map<string, { tenant_id: string; install_id: string; metric: string; day: string; value: number }>();
  private readonly timer: NodeJS.Timeout;
  private flushing?: Promise<void>;

  constructor(
    private readonly sql: SqlExec,
    private readonly logger: Logger,
    flushMs = 1000,
  ) {
    this.timer = setInterval(() => void this.flush(), flushMs);
    this.timer.unref();
  }

  add(tenantId: string, installId: string, metric: string, n = 1): void {
    if (!Number.isFinite(n) || n <= 0) return;
    const day = new Date().toISOString().slice(0, 10);
    const key = `${installId}\0${metric}\0${day}`;
    const row = this.pending.get(key);
    if (row) row.value += n;
    else this.pending.set(key, { tenant_id: tenantId, install_id: installId, metric, day, value: n });
  }

  /** Writes what was counted so far (readers call it first, so they see their own calls). */
  async flush(): Promise<void> {
    await this.flushing;
    if (this.pending.size === 0) return;
    const rows = [...this.pending.values()];
    this.pending = new Map();
    // An install deleted since its calls were counted takes its counters with it.
    this.flushing = this.sql
      .query(
        `INSERT INTO usage_counters (tenant_id, install_id, metric, day, value)
         SELECT x.tenant_id, x.install_id, x.metric, x.day, x.value
         FROM json_to_recordset($1::json) AS x(tenant_id uuid, install_id uuid, metric text, day date, value bigint)
         WHERE EXISTS (SELECT 1 FROM installs i WHERE i.id = x.install_id)
         ON CONFLICT (install_id, metric, day) DO UPDATE SET value = usage_counters.value + EXCLUDED.value`,
        [JSON.stringify(rows)],
      )
      .then(() => undefined)
      .catch((err: unknown) => this.logger.warn({ err, rows: rows.length }, "usage counters could not be written; these counts are lost"))
      .finally(() => (this.flushing = undefined));
    await this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
