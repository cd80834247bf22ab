import type { Queue } from "bullmq";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../logger.ts";
import type { ActiveInstall } from "../plugins/active-install.ts";
import type { InstallRepository } from "../plugins/install-repository.ts";
import { installsWithJobs, schedulesOf, type JobScheduler } from "./job-scheduler.ts";

/**
 * Scaled mode: one BullMQ job scheduler per (install, job). Redis fires each tick once, to one
 * worker, however many API and worker processes run; upserting is idempotent, so every process
 * upserts them all at boot (after a Redis restart lost them, the next boot puts them back).
 */
export class BullmqScheduler implements JobScheduler {
  constructor(
    private readonly deps: { prisma: PrismaClient; installs: InstallRepository; logger: Logger },
    private readonly queue: Queue,
  ) {}

  async sync(install: ActiveInstall): Promise<void> {
    const wanted = schedulesOf(install);
    const ids = new Set(wanted.map((s) => s.id));
    for (const existing of await this.existing()) {
      if (existing.startsWith(`job-${install.id}-`) && !ids.has(existing)) await this.queue.removeJobScheduler(existing);
    }
    for (const s of wanted) {
      await this.queue.upsertJobScheduler(s.id, { pattern: s.pattern, tz: s.timezone }, {
        name: "job-tick",
        data: { kind: "job-tick", id: s.id, tick: s.tick },
        opts: { removeOnComplete: true, removeOnFail: true },
      });
    }
  }

  async remove(installId: string): Promise<void> {
    for (const id of await this.existing()) if (id.startsWith(`job-${installId}-`)) await this.queue.removeJobScheduler(id);
  }

  async syncAll(): Promise<void> {
    const keep = new Set<string>();
    for (const row of await installsWithJobs(this.deps.prisma)) {
      const install = await this.deps.installs.find({ id: row.tenant_id, slug: row.tenant_slug }, row.id);
      if (!install) continue;
      for (const s of schedulesOf(install)) keep.add(s.id);
      await this.sync(install);
    }
    for (const id of await this.existing()) if (!keep.has(id)) await this.queue.removeJobScheduler(id);
  }

  async close(): Promise<void> {}

  private async existing(): Promise<string[]> {
    const all = await this.queue.getJobSchedulers(0, -1);
    return all.map((s) => s.key ?? s.id ?? "").filter((id): id is string => !!id && id.startsWith("job-"));
  }
}
