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
    await this.apply(install, await this.existing());
  }

  // Applies the install's latest committed state (re-read, never a caller's snapshot), so a
  // boot-time syncAll racing an admin's change cannot put back what the change removed.
  private async apply(snapshot: ActiveInstall, existing: string[]): Promise<string[]> {
    const install = await this.deps.installs.find({ id: snapshot.tenantId, slug: snapshot.tenantSlug }, snapshot.id, { fresh: true });
    const wanted = install ? schedulesOf(install) : [];
    const ids = new Set(wanted.map((s) => s.id));
    for (const id of existing) {
      if (id.startsWith(`job-${snapshot.id}-`) && !ids.has(id)) await this.queue.removeJobScheduler(id);
    }
    for (const s of wanted) {
      await this.queue.upsertJobScheduler(s.id, { pattern: s.pattern, tz: s.timezone }, {
        name: "job-tick",
        data: { kind: "job-tick", id: s.id, tick: s.tick },
        opts: { removeOnComplete: true, removeOnFail: true },
      });
    }
    return [...ids];
  }

  async remove(installId: string): Promise<void> {
    for (const id of await this.existing()) if (id.startsWith(`job-${installId}-`)) await this.queue.removeJobScheduler(id);
  }

  async syncAll(): Promise<void> {
    // Listed before the database is read: a scheduler created by an install that commits while
    // this runs is not in this list, so it cannot be mistaken for a stale one below.
    const existing = await this.existing();
    const keep = new Set<string>();
    for (const row of await installsWithJobs(this.deps.prisma)) {
      const install = await this.deps.installs.find({ id: row.tenant_id, slug: row.tenant_slug }, row.id, { fresh: true });
      if (!install) continue;
      for (const id of await this.apply(install, existing)) keep.add(id);
    }
    for (const id of existing) {
      if (keep.has(id)) continue;
      // Not wanted by any install read above; its own install decides (it may have changed since).
      const owner = await this.deps.prisma.install
        .findUnique({ where: { id: id.slice(4, 40) }, select: { id: true, tenantId: true, tenant: { select: { slug: true } } } })
        .catch(() => null);
      if (!owner) await this.queue.removeJobScheduler(id);
      else await this.apply({ id: owner.id, tenantId: owner.tenantId, tenantSlug: owner.tenant.slug } as ActiveInstall, [id]);
    }
  }

  async close(): Promise<void> {}

  private async existing(): Promise<string[]> {
    const all = await this.queue.getJobSchedulers(0, -1);
    return all.map((s) => s.key ?? s.id ?? "").filter((id): id is string => !!id && id.startsWith("job-"));
  }
}
