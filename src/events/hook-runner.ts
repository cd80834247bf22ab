import type { Executor } from "../execution/executor.ts";
import { workKey } from "../execution/executor.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../logger.ts";
import type { InstallRepository } from "../plugins/install-repository.ts";
import type { Invoker } from "../plugins/invoker.ts";
import { eventView } from "./event-service.ts";

const MAX_BACKOFF_MS = 60 * 60 * 1000;
// Failures that another attempt cannot fix: a cut emit loop would only be cut again.
const NOT_RETRIED = new Set(["EmitLimit"]);

/**
 * Runs one pending hook run: the install's hook for the event, under the plugin's limits.
 * Success or the last failed attempt ends the run; an earlier failure schedules the next
 * attempt with exponential backoff (`runtime.retry`). Safe to call twice for one run: a run
 * that is no longer pending is left alone (at-least-once delivery, idempotent bookkeeping).
 */
export class HookRunner {
  constructor(
    private readonly deps: { prisma: PrismaClient; installs: InstallRepository; invoker: Invoker; executor: Executor; logger: Logger },
  ) {}

  async run(id: string): Promise<void> {
    const { prisma } = this.deps;
    const run = await prisma.hookRun.findUnique({
      where: { id },
      include: { event: { include: { tenant: { select: { slug: true } } } } },
    });
    if (!run || run.status !== "pending") return;
    const tenant = { id: run.tenantId, slug: run.event.tenant.slug };
    const install = await this.deps.installs.find(tenant, run.installId);
    const skip = !install
      ? "the plugin was uninstalled"
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
      await prisma.hookRun.update({
        where: { id },
        data: { attempts, error, durationMs: Date.now() - started, nextAttemptAt: new Date(Date.now() + delayMs) },
      });
      const item = { kind: "hook" as const, id };
      await this.deps.executor.enqueue(item, { delayMs, dedupeKey: workKey(item, attempts) }).catch((e: unknown) => {
        this.deps.logger.warn({ err: e, hookRun: id }, "could not schedule the retry; the outbox sweep will");
      });
    }
  }

  private async finish(id: string, r: { status: string; attempts: number; error: string | null; durationMs: number | null }): Promise<void> {
    await this.deps.prisma.hookRun.updateMany({
      where: { id, status: "pending" },
      data: { status: r.status, attempts: r.attempts, error: r.error, durationMs: r.durationMs, finishedAt: new Date() },
    });
  }
}

/** `backoff_seconds` doubled per attempt, ±20 % jitter so retries of one burst spread out. */
export function backoffMs(backoffSeconds: number, attempt: number): number {
  const base = backoffSeconds * 1000 * 2 ** (attempt - 1);
  const jitter = 0.8 + Math.random() * 0.4;
  return Math.min(MAX_BACKOFF_MS, Math.round(base * jitter));
}
