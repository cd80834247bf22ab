import { AppError } from "../errors.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { InstallRepository } from "../plugins/install-repository.ts";
import { needsConfigurationReason } from "../plugins/missing-values.ts";
import { PluginFailure, type Invoker } from "../plugins/invoker.ts";
import type { LogLine } from "../sandbox/protocol.ts";

/**
 * Runs one queued job run: `job(name, async (ctx, run) => …)` under `job_timeout_ms`, then
 * records succeeded (with the return value), failed (with the error), or timed_out, and the
 * run's log lines. A run that is no longer queued is left alone (at-least-once delivery).
 */
export class JobRunner {
  constructor(private readonly deps: { prisma: PrismaClient; installs: InstallRepository; invoker: Invoker }) {}

  async run(id: string): Promise<void> {
    const { prisma } = this.deps;
    const run = await prisma.jobRun.findUnique({ where: { id }, include: { install: { select: { tenant: { select: { id: true, slug: true } } } } } });
    if (!run || run.status !== "queued") return;
    const install = await this.deps.installs.find(run.install.tenant, run.installId);
    const skip = !install
      ? "the plugin was uninstalled"
      : install.status === "needs_configuration"
        ? needsConfigurationReason(install.missing)
        : install.status !== "enabled"
          ? `the plugin is ${install.status}`
          : !install.version.registered.jobs.includes(run.jobName)
            ? `version ${install.version.version} has no job ${run.jobName}`
            : null;
    if (skip || !install) {
      await prisma.jobRun.updateMany({ where: { id, status: "queued" }, data: { status: "skipped", error: skip, finishedAt: new Date() } });
      return;
    }
    const startedAt = new Date();
    const claimed = await prisma.jobRun.updateMany({ where: { id, status: "queued" }, data: { status: "running", startedAt } });
    if (claimed.count === 0) return; // another worker took it
    let logs: LogLine[] = [];
    let outcome: { status: string; result?: unknown; error?: string };
    try {
      const result = await this.deps.invoker.invoke(install, {
        kind: "job",
        name: run.jobName,
        args: [{ id: run.id, trigger: run.trigger, scheduled_for: run.scheduledFor?.toISOString() ?? null }],
        timeoutMs: install.version.manifest.resources.job_timeout_ms,
        onLogs: (lines) => (logs = lines),
      });
      outcome = { status: "succeeded", result: result.value };
    } catch (err) {
      if (err instanceof PluginFailure) outcome = { status: "failed", error: `${err.record.name}: ${err.record.message}` };
      else if (err instanceof AppError && err.code === "plugin_timeout") outcome = { status: "timed_out", error: err.message };
      else outcome = { status: "failed", error: err instanceof Error ? err.message : String(err) };
    }
    await prisma.jobRun.update({
      where: { id },
      data: {
        status: outcome.status,
        result: outcome.result === undefined || outcome.result === null ? undefined : (outcome.result as object),
        error: outcome.error ?? null,
        finishedAt: new Date(),
        durationMs: Date.now() - startedAt.getTime(),
        logs: logs.slice(0, 500) as object[],
      },
    });
  }
}
