import type { SqlExec } from "../db/database.ts";
import { AppError } from "../errors.ts";
import type { EventService } from "../events/event-service.ts";
import type { Logger } from "../logger.ts";
import type { InstallHealth } from "./active-install.ts";
import type { InstallRepository } from "./install-repository.ts";
import { PluginFailure, type Invoker } from "./invoker.ts";
import type { UsageCounter } from "./usage-counter.ts";

type HealthStatus = InstallHealth["status"];

/** Checks running at once in one process; what is due beyond that waits for a later tick. */
const MAX_IN_FLIGHT = 100;
/** A bigger `health()` answer is not kept whole: the row and the event only need the gist. */
const MAX_DETAIL_CHARS = 8 * 1024;

export interface HealthMonitorDeps {
  sql: SqlExec;
  installs: Pick<InstallRepository, "find" | "invalidate">;
  invoker: Pick<Invoker, "invoke">;
  events: Pick<EventService, "publish">;
  /** Every check is counted per install and day (`health.<status>`), stored as a row or not. */
  usage?: Pick<UsageCounter, "add">;
  logger: Logger;
}

interface Claimed {
  id: string;
  tenant_id: string;
  tenant_slug: string;
  timeout_seconds: number | string | null;
  /** The status before this check. */
  health_status: string | null;
}

/**
 * Runs each enabled install's `runtime.health_check`: its `health(ctx)` (or the runtime's built-in
 * ping) every `interval_seconds`, cut at `timeout_seconds`. The outcome is stored on the install
 * row; a change to a non-ok status raises `plugin.unhealthy` for the tenant, a return to ok
 * `plugin.healthy`.
 *
 * One timer per background process selects what is due in one statement, which also claims it
 * (health_checked_at = now()): any number of workers share the checks and each install is
 * checked by one of them per interval, with no coordination beyond the row.
 *
 * A check that succeeds, logs nothing and finds the status it found last time is counted, not
 * stored as an invocation row: otherwise every healthy install would write one per interval.
 */
export class HealthMonitor {
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private stopped = false;
  private readonly inFlight = new Set<string>();
  /** Result writes under way: close() waits for them, not for the plugin calls. */
  private readonly writes = new Set<Promise<void>>();

  constructor(
    private readonly deps: HealthMonitorDeps,
    private readonly opts: { tickMs: number },
  ) {}

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => void this.tick(), this.opts.tickMs);
    this.timer.unref();
    void this.tick();
  }

  /**
   * Stops ticking. Checks still running are abandoned (their claim simply expires), because the
   * sandbox shuts down next and would turn each into a spurious failure.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.allSettled([...this.writes]);
  }

  /** Claims what is due and starts those checks; resolves once claimed (not when they end). */
  async tick(): Promise<number> {
    if (this.ticking || this.stopped) return 0;
    const room = MAX_IN_FLIGHT - this.inFlight.size;
    if (room <= 0) return 0;
    this.ticking = true;
    try {
      const due = await this.deps.sql.query<Claimed>(CLAIM_SQL, [room, JSON.stringify([...this.inFlight])]);
      for (const row of due) {
        this.inFlight.add(row.id);
        void this.check(row).finally(() => this.inFlight.delete(row.id));
      }
      return due.length;
    } catch (err) {
      if (!this.stopped) this.deps.logger.warn({ err }, "health check tick failed; will try again");
      return 0;
    } finally {
      this.ticking = false;
    }
  }

  private async check(row: Claimed): Promise<void> {
    const tenant = { id: row.tenant_id, slug: row.tenant_slug };
    try {
      const install = await this.deps.installs.find(tenant, row.id);
      if (!install || install.status !== "enabled") return;
      const timeoutMs = Math.round(Number(row.timeout_seconds ?? install.version.manifest.runtime.health_check.timeout_seconds) * 1000);
      const outcome = await this.run(install, timeoutMs, row.health_status);
      if (this.stopped) return;
      this.deps.usage?.add(tenant.id, install.id, `health.${outcome.status}`);
      const write = this.record(tenant, install, outcome);
      this.writes.add(write);
      await write.finally(() => this.writes.delete(write));
    } catch (err) {
      if (!this.stopped) this.deps.logger.warn({ err, install: row.id }, "health check failed to run");
    }
  }

  /** The plugin's verdict: its own status when it says degraded/error; any failure is one too. */
  private async run(
    install: Parameters<Invoker["invoke"]>[0],
    timeoutMs: number,
    previous: string | null,
  ): Promise<{ status: HealthStatus; detail: unknown }> {
    try {
      const quiet = (answer: unknown) => verdict(answer) === previous;
      const { value } = await this.deps.invoker.invoke(install, { kind: "health", name: "", label: "check", args: [], timeoutMs, quiet });
      return { status: verdict(value), detail: value };
    } catch (err) {
      if (err instanceof PluginFailure) return { status: "error", detail: { error: `${err.record.name}: ${err.record.message}`, code: err.code } };
      // Timeouts and out-of-memory are the plugin's doing; a sandbox that went away is not, so
      // that check has no verdict.
      if (err instanceof AppError) {
        return { status: err.code === "sandbox_unavailable" ? "unknown" : "error", detail: { error: err.message, code: err.code } };
      }
      return { status: "unknown", detail: { error: err instanceof Error ? err.message : String(err) } };
    }
  }

  private async record(
    tenant: { id: string; slug: string },
    install: Parameters<Invoker["invoke"]>[0],
    outcome: { status: HealthStatus; detail: unknown },
  ): Promise<void> {
    const detail = storableDetail(outcome.detail);
    const rows = await this.deps.sql.query<{ previous: string | null }>(RECORD_SQL, [install.id, outcome.status, detail]);
    if (rows.length === 0) return; // uninstalled meanwhile
    const previous = rows[0]!.previous;
    if (previous === outcome.status) return;
    // The status shows at once in GET /api/plugins/:id (which reads through the install cache).
    this.deps.installs.invalidate(tenant.id);
    const raise = outcome.status !== "ok" ? "plugin.unhealthy" : previous !== null ? "plugin.healthy" : undefined;
    if (!raise) return; // the first check found it healthy: nothing changed for anyone
    await this.deps.events.publish(tenant, {
      type: raise,
      data: {
        plugin: { id: install.id, slug: install.slug, version: install.version.version },
        status: outcome.status,
        detail: JSON.parse(detail) as unknown,
        previous,
      },
      source: "platform",
    });
  }
}

/** What an answer of health() means: its own status when it says degraded or error, else ok. */
function verdict(value: unknown): HealthStatus {
  const said = value !== null && typeof value === "object" ? (value as { status?: unknown }).status : undefined;
  return said === "degraded" || said === "error" ? said : "ok";
}

/** JSON text for the jsonb column: bounded, and without U+0000 (which jsonb cannot hold). */
function storableDetail(detail: unknown): string {
  let json = JSON.stringify(detail ?? null) ?? "null";
  if (json.length > MAX_DETAIL_CHARS) {
    const status = detail !== null && typeof detail === "object" ? (detail as { status?: unknown }).status : undefined;
    json = JSON.stringify({ ...(typeof status === "string" ? { status: status.slice(0, 100) } : {}), truncated: `the answer was ${json.length} characters; only ${MAX_DETAIL_CHARS} are kept` });
  }
  return json.replace(/(?<!\\)((?:\\\\)*)\\u0000/g, "$1\\ufffd");
}

// $1 how many to claim, $2 JSON array of install ids this process is still checking. Due: enabled,
// the current version enables health_check, and not checked (or claimed) within its interval.
// FOR UPDATE SKIP LOCKED: workers claiming at the same moment take different rows, and a row
// another worker claimed after this statement's snapshot is re-read (no longer due) when locked.
const CLAIM_SQL = `
  UPDATE installs i SET health_checked_at = now()
  FROM plugin_versions v, tenants t
  WHERE i.id IN (
      SELECT d.id FROM installs d JOIN plugin_versions dv ON dv.id = d.current_version_id
      WHERE d.status = 'enabled'
        AND dv.manifest->'runtime'->'health_check'->>'enabled' = 'true'
        AND (d.health_checked_at IS NULL
             OR d.health_checked_at <= now() - make_interval(secs => COALESCE((dv.manifest->'runtime'->'health_check'->>'interval_seconds')::double precision, 30)))
        AND d.id NOT IN (SELECT x::uuid FROM jsonb_array_elements_text($2::jsonb) AS x)
      ORDER BY d.health_checked_at NULLS FIRST
      LIMIT $1
      FOR UPDATE OF d SKIP LOCKED)
    AND v.id = i.current_version_id AND t.id = i.tenant_id
  RETURNING i.id, i.tenant_id, t.slug AS tenant_slug, v.manifest->'runtime'->'health_check'->>'timeout_seconds' AS timeout_seconds,
            i.health_status`;

// $1 install id, $2 status, $3 detail (JSON text). Returns the status it replaced, read under the
// row lock, so two writers can never both see the same change.
const RECORD_SQL = `
  UPDATE installs i SET health_status = $2, health_detail = $3::jsonb, health_checked_at = now()
  FROM (SELECT id, health_status FROM installs WHERE id = $1::uuid FOR UPDATE) prev
  WHERE i.id = prev.id
  RETURNING prev.health_status AS previous`;
