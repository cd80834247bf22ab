import { randomUUID } from "node:crypto";
import { AppError } from "../errors.ts";
import type { Executor } from "../execution/executor.ts";
import { workKey } from "../execution/executor.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../logger.ts";
import type { ActiveInstall } from "../plugins/active-install.ts";
import { needsConfigurationError } from "../plugins/missing-values.ts";

export type JobTrigger = "cron" | "manual";

export interface JobRunRow {
  id: string;
  jobName: string;
  trigger: string;
  status: string;
  scheduledFor: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  durationMs: number | null;
  result: unknown;
  error: string | null;
  logs: unknown;
  createdAt: Date;
}

/**
 * Starts job runs: a run row first (the record), then the executor. At most one run of a job
 * of an install is queued or running at a time; a tick that finds one is recorded as skipped.
 * The check holds across processes: it runs under a transaction-scoped advisory lock.
 */
export class JobService {
  constructor(
    private readonly deps: { prisma: PrismaClient; executor: Executor; logger: Logger; graceMs: number },
  ) {}

  async trigger(install: ActiveInstall, jobName: string, trigger: JobTrigger, scheduledFor?: Date): Promise<{ run: JobRunRow; started: boolean }> {
    const job = install.version.manifest.jobs.find((j) => j.name === jobName);
    if (!job || !install.version.registered.jobs.includes(jobName)) {
      throw new AppError("job_not_found", `Plugin "${install.slug}" has no job "${jobName}"`);
    }
    if (install.status === "needs_configuration") throw needsConfigurationError(install.slug, install.missing);
    if (install.status !== "enabled") throw new AppError("plugin_disabled", `Plugin "${install.slug}" is ${install.status}`);
    const staleBefore = new Date(Date.now() - (install.version.manifest.resources.job_timeout_ms * 2 + this.deps.graceMs + 30_000));
    const { run, started } = await this.deps.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`job:${install.id}:${jobName}`}))`;
      // One run per scheduled tick, whatever delivers the tick twice (BullMQ is at-least-once; a
      // scheduler re-upserted after Redis lost its data can produce the same due time again).
      if (scheduledFor) {
        const same = await tx.jobRun.findFirst({ where: { installId: install.id, jobName, scheduledFor } });
        if (same) return { run: same, started: false };
      }
      // A run "running" far past its timeout belongs to a process that died: close it first.
      await tx.jobRun.updateMany({
        where: { installId: install.id, jobName, status: "running", startedAt: { lt: staleBefore } },
        data: { status: "failed", error: "the process running this job stopped before it finished", finishedAt: new Date() },
      });
      const busy = await tx.jobRun.findFirst({ where: { installId: install.id, jobName, status: { in: ["queued", "running"] } }, select: { id: true } });
      const now = new Date();
      const data = {
        id: randomUUID(),
        createdAt: now,
        tenantId: install.tenantId,
        installId: install.id,
        jobName,
        trigger,
        scheduledFor: scheduledFor ?? null,
        status: busy ? "skipped" : "queued",
        error: busy ? `skipped: run ${busy.id} of this job is still running` : null,
        finishedAt: busy ? now : null,
      };
      return { run: await tx.jobRun.create({ data }), started: !busy };
    });
    if (started) await this.enqueue(run.id);
    return { run, started };
  }

  enqueue(runId: string): Promise<void> {
    const item = { kind: "job" as const, id: runId };
    return this.deps.executor.enqueue(item, { dedupeKey: workKey(item, 0) }).catch((err: unknown) => {
      this.deps.logger.warn({ err, jobRun: runId }, "enqueue failed; the outbox sweep will retry");
    });
  }
}

export function jobRunView(r: JobRunRow) {
  return {
    id: r.id,
    job: r.jobName,
    trigger: r.trigger,
    status: r.status,
    scheduled_for: r.scheduledFor?.toISOString() ?? null,
    started_at: r.startedAt?.toISOString() ?? null,
    finished_at: r.finishedAt?.toISOString() ?? null,
    duration_ms: r.durationMs,
    result: r.result ?? null,
    error: r.error,
    logs: r.logs,
    created_at: r.createdAt.toISOString(),
  };
}
