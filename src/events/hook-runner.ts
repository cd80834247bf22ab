import { Batcher } from "../execution/batcher.ts";
import type { Executor } from "../execution/executor.ts";
import { workKey } from "../execution/executor.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../logger.ts";
import type { InstallRepository } from "../plugins/install-repository.ts";
import { needsConfigurationReason } from "../plugins/missing-values.ts";
import type { Invoker } from "../plugins/invoker.ts";
import { eventView } from "./event-service.ts";

const MAX_BACKOFF_MS = 60 * 60 * 1000;
// Failures that another attempt cannot fix: a cut emit loop would only be cut again.
const NOT_RETRIED = new Set(["EmitLimit", "EventTreeLimit"]);

/**
 * Runs one pending hook run: the install's hook for the event, under the plugin's limits.
 * Success or the last failed attempt ends the run; an earlier failure schedules the next
 * attempt with exponential backoff (`runtime.retry`). Safe to call twice for one run: a run
 * that is no longer pending is left alone (at-least-once delivery, idempotent bookkeeping).
 */
export class HookRunner {
  // Runs arriving together are read with one query and finished with one statement: per-row
  // statements cap throughput at a few hundred runs a second on the embedded database.
  private readonly loader: Batcher<string, LoadedRun | undefined>;
  private readonly finisher: Batcher<Finish, undefined>;

  constructor(
    private readonly deps: { prisma: PrismaClient; installs: InstallRepository; invoker: Invoker; executor: Executor; logger: Logger },
  ) {
    this.loader = new Batcher(async (ids) => {
      const rows = await loadRuns(deps.prisma, ids);
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => byId.get(id));
    }, { maxSize: 200, delayMs: 2 });
    this.finisher = new Batcher(async (rows) => {
      await deps.prisma.$executeRawUnsafe(
        `UPDATE hook_runs h SET status = x.status, attempts = x.attempts, error = x.error,
                duration_ms = x.duration_ms, finished_at = now()
         FROM json_to_recordset($1::json) AS x(id uuid, status text, attempts int, error text, duration_ms int)
         WHERE h.id = x.id AND h.status = 'pending'`,
        JSON.stringify(rows.map((r) => ({ id: r.id, status: r.status, attempts: r.attempts, error: r.error?.replaceAll("\0", "\uFFFD") ?? null, duration_ms: r.durationMs }))),
      );
      return rows.map(() => undefined);
    }, { maxSize: 200, delayMs: 2 });
  }

  async run(id: string): Promise<void> {
    const { prisma } = this.deps;
    const run = await this.loader.add(id);
    if (!run || run.status !== "pending") return;
    const tenant = { id: run.tenantId, slug: run.event.tenant.slug };
    const install = await this.deps.installs.find(tenant, run.installId);
    const skip = !install
      ? "the plugin was uninstalled"
      : install.status === "needs_configuration"
        ? needsConfigurationReason(install.missing)
        : install.status !== "enabled"
          ? `the plugin is ${install.status}`
          : !install.version.registered.hooks.includes(run.eventType)
            ? `version ${install.version.version} has no hook for ${run.eventType}`
            : null;
    if (skip || !install) {
      await this.finish(id, { status: "skipped", attempts: run.attempts, error: skip, durationMs: null });
      return;
    }
    const attempts = run.attempts + 1;
    const started = Date.now();
    try {
      await this.deps.invoker.invoke(install, {
        kind: "hook",
        name: run.eventType,
        args: [eventView(run.event, tenant.slug)],
        emitDepth: run.event.depth + 1,
        emitRoot: run.event.rootId ?? run.event.id,
      });
      await this.finish(id, { status: "succeeded", attempts, error: null, durationMs: Date.now() - started });
    } catch (err) {
      const record = (err as { record?: { name: string; message: string } }).record;
      const error = record ? `${record.name}: ${record.message}` : err instanceof Error ? err.message : String(err);
      if (attempts >= run.maxAttempts || (record && NOT_RETRIED.has(record.name))) {
        await this.finish(id, { status: "failed", attempts, error, durationMs: Date.now() - started });
        return;
      }
      const delayMs = backoffMs(install.version.manifest.runtime.retry.backoff_seconds, attempts);
      // Only while still pending: disabling the plugin meanwhile ended the run (skipped).
      const { count } = await prisma.hookRun.updateMany({
        where: { id, status: "pending" },
        data: { attempts, error, durationMs: Date.now() - started, nextAttemptAt: new Date(Date.now() + delayMs) },
      });
      if (count === 0) return;
      const item = { kind: "hook" as const, id };
      await this.deps.executor.enqueue(item, { delayMs, dedupeKey: workKey(item, attempts) }).catch((e: unknown) => {
        this.deps.logger.warn({ err: e, hookRun: id }, "could not schedule the retry; the outbox sweep will");
      });
    }
  }

  /** Ends a run (only if still pending, so a duplicate delivery cannot overwrite an outcome). */
  private async finish(id: string, r: Omit<Finish, "id">): Promise<void> {
    await this.finisher.add({ id, ...r });
  }
}

function loadRuns(prisma: PrismaClient, ids: string[]) {
  return prisma.hookRun.findMany({
    where: { id: { in: ids } },
    include: { event: { include: { tenant: { select: { slug: true } } } } },
  });
}
type LoadedRun = Awaited<ReturnType<typeof loadRuns>>[number];

interface Finish {
  id: string;
  status: string;
  attempts: number;
  error: string | null;
  durationMs: number | null;
}

/** `backoff_seconds` doubled per attempt, ±20 % jitter so retries of one burst spread out. */
export function backoffMs(backoffSeconds: number, attempt: number): number {
  const base = backoffSeconds * 1000 * 2 ** (attempt - 1);
  const jitter = 0.8 + Math.random() * 0.4;
  return Math.min(MAX_BACKOFF_MS, Math.round(base * jitter));
}
