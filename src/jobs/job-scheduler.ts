import type { JobTick } from "../execution/executor.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { ActiveInstall } from "../plugins/active-install.ts";

/** One wanted schedule: an enabled install's declared job. */
export interface Schedule {
  id: string;
  pattern: string;
  timezone: string;
  tick: JobTick;
}

/** Keeps cron schedules equal to what enabled installs declare (node-cron or BullMQ). */
export interface JobScheduler {
  /** Makes this install's schedules match its current version and status. */
  sync(install: ActiveInstall): Promise<void>;
  remove(installId: string): Promise<void>;
  /** At boot: every enabled install's jobs, and nothing else. Idempotent. */
  syncAll(): Promise<void>;
  close(): Promise<void>;
}

/** BullMQ refuses ':' in scheduler ids, as in job ids. */
export function scheduleId(installId: string, jobName: string): string {
  return `job-${installId}-${jobName}`;
}

export function schedulesOf(install: ActiveInstall): Schedule[] {
  if (install.status !== "enabled") return [];
  return install.version.manifest.jobs
    .filter((j) => install.version.registered.jobs.includes(j.name))
    .map((j) => ({
      id: scheduleId(install.id, j.name),
      pattern: j.schedule,
      timezone: j.timezone ?? "UTC",
      tick: { installId: install.id, tenantId: install.tenantId, tenantSlug: install.tenantSlug, jobName: j.name },
    }));
}

/** Every enabled install that declares jobs, across tenants (for syncAll at boot). */
export function installsWithJobs(prisma: PrismaClient) {
  return prisma.$queryRaw<{ id: string; tenant_id: string; tenant_slug: string }[]>`
    SELECT i.id, i.tenant_id, t.slug AS tenant_slug
    FROM installs i
    JOIN plugin_versions v ON v.id = i.current_version_id
    JOIN tenants t ON t.id = i.tenant_id
    WHERE i.status = 'enabled' AND jsonb_array_length(COALESCE(v.manifest->'jobs', '[]'::jsonb)) > 0`;
}
