import { createTask, type ScheduledTask } from "node-cron";
import type { JobTick } from "../execution/executor.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../logger.ts";
import type { ActiveInstall } from "../plugins/active-install.ts";
import type { InstallRepository } from "../plugins/install-repository.ts";
import { installsWithJobs, schedulesOf, type JobScheduler, type Schedule } from "./job-scheduler.ts";

/** Embedded mode: node-cron tasks in this (the only) process. */
export class CronScheduler implements JobScheduler {
  private readonly tasks = new Map<string, { task: ScheduledTask; schedule: Schedule }>();

  constructor(
    private readonly deps: { prisma: PrismaClient; installs: InstallRepository; logger: Logger },
    private readonly onTick: (tick: JobTick) => Promise<void>,
  ) {}

  async sync(install: ActiveInstall): Promise<void> {
    const wanted = new Map(schedulesOf(install).map((s) => [s.id, s]));
    for (const [id, { task, schedule }] of this.tasks) {
      if (schedule.tick.installId !== install.id) continue;
      const w = wanted.get(id);
      if (!w || w.pattern !== schedule.pattern || w.timezone !== schedule.timezone) {
        await task.destroy();
        this.tasks.delete(id);
      }
    }
    for (const [id, schedule] of wanted) {
      if (this.tasks.has(id)) continue;
      const task = createTask(
        schedule.pattern,
        async (ctx) => {
          await this.onTick({ ...schedule.tick, scheduledFor: ctx.date.toISOString() }).catch((err: unknown) =>
            this.deps.logger.warn({ err, schedule: id }, "cron tick failed"),
          );
        },
        { timezone: schedule.timezone, name: id, suppressMissedWarning: true },
      );
      await task.start();
      task.unref();
      this.tasks.set(id, { task, schedule });
    }
  }

  async remove(installId: string): Promise<void> {
    for (const [id, { task, schedule }] of this.tasks) {
      if (schedule.tick.installId === installId) {
        await task.destroy();
        this.tasks.delete(id);
      }
    }
  }

  async syncAll(): Promise<void> {
    for (const row of await installsWithJobs(this.deps.prisma)) {
      const install = await this.deps.installs.find({ id: row.tenant_id, slug: row.tenant_slug }, row.id);
      if (install) await this.sync(install);
    }
  }

  async close(): Promise<void> {
    for (const { task } of this.tasks.values()) await task.destroy();
    this.tasks.clear();
  }
}
