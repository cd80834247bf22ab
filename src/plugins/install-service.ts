import { createCollectionIndexes, dropAllCollectionIndexes, dropUndeclaredIndexes, prismaDdl } from "../capabilities/db-collections.ts";
import { AppError } from "../errors.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { EventService } from "../events/event-service.ts";
import type { Logger } from "../logger.ts";
import type { Manifest } from "../packaging/manifest-schema.ts";
import type { SandboxPool } from "../sandbox/sandbox-pool.ts";
import type { ActiveInstall, InstallStatus } from "./active-install.ts";
import { validateConfig } from "./config-validator.ts";
import { guardDependents, requireDependencies, type CascadeOptions } from "./dependency-guard.ts";
import type { InstallRepository } from "./install-repository.ts";
import type { JobScheduler } from "../jobs/job-scheduler.ts";
import type { Invoker } from "./invoker.ts";
import { runLifecycle } from "./lifecycle.ts";

type Tenant = { id: string; slug: string };

export interface InstallServiceDeps {
  prisma: PrismaClient;
  installs: InstallRepository;
  sandbox: SandboxPool;
  invoker: Invoker;
  events: EventService;
  logger: Logger;
  schedules: JobScheduler;
  /** Written before an uninstall deletes the install, so onUninstall's own log lines land. */
  flushLogs: () => Promise<void>;
}

/** Everything an admin does to an existing install besides uploading. */
export class InstallService {
  constructor(private readonly deps: InstallServiceDeps) {}

  async get(tenant: Tenant, idOrSlug: string): Promise<ActiveInstall> {
    const install = await this.deps.installs.find(tenant, idOrSlug);
    if (!install) throw new AppError("plugin_not_found", `No plugin "${idOrSlug}" is installed for tenant ${tenant.slug}`);
    return install;
  }

  /**
   * Enable runs onEnable on the enabled install (failure → failed), once every plugin it requires
   * is enabled in range (else 409). Disable runs onDisable first; enabled plugins requiring this
   * one make it a 409, or with `cascade` are disabled before it.
   */
  async setStatus(tenant: Tenant, idOrSlug: string, status: Exclude<InstallStatus, "failed">, opts: CascadeOptions = {}): Promise<ActiveInstall> {
    const before = await this.get(tenant, idOrSlug);
    const all = await this.deps.installs.list(tenant);
    if (status === "disabled") {
      await guardDependents(all, before.slug, { kind: "disable" }, this.cascade(tenant, opts));
      return this.disableInstall(tenant, before);
    }
    requireDependencies(before.slug, "enabled", before.version.manifest, all);
    let install = await this.change(tenant, before.id, () => ({ status, error: null }));
    const failure = await runLifecycle(this.deps.invoker, this.deps.logger, install, "onEnable");
    if (failure) install = await this.change(tenant, install.id, () => ({ status: "failed", error: failure }));
    await this.deps.schedules.sync(install);
    await this.raise(tenant, "plugin.enabled", install);
    return install;
  }

  /**
   * Disables without looking at dependents: for a cascade, which has already chosen (and ordered)
   * every install it disables. onDisable runs first when the install was enabled.
   */
  async disableInstall(tenant: Tenant, before: ActiveInstall): Promise<ActiveInstall> {
    if (before.status === "enabled") await runLifecycle(this.deps.invoker, this.deps.logger, before, "onDisable");
    const install = await this.change(tenant, before.id, () => ({ status: "disabled", error: null }));
    // Its queued hook runs end now, with the reason, rather than each waking up to find out (a
    // storm of them would otherwise keep the tenant's workers busy after the plugin is off).
    await this.deps.prisma.hookRun.updateMany({
      where: { installId: install.id, status: "pending" },
      data: { status: "skipped", error: "the plugin was disabled", finishedAt: new Date() },
    });
    await this.deps.schedules.sync(install);
    await this.raise(tenant, "plugin.disabled", install);
    return install;
  }

  setConfig(tenant: Tenant, idOrSlug: string, input: unknown): Promise<ActiveInstall> {
    return this.change(tenant, idOrSlug, (install) => ({ config: validateConfig(install.version.manifest, input) as object }));
  }

  /**
   * Back to the previous uploaded version; the one rolled back from becomes "previous". Refused
   * (409) when an enabled plugin's range does not accept that version (unless `cascade`), or
   * when this install is enabled and that version requires what the tenant does not have.
   */
  async rollback(tenant: Tenant, idOrSlug: string, opts: CascadeOptions = {}): Promise<{ install: ActiveInstall; from: string }> {
    const before = await this.get(tenant, idOrSlug);
    if (!before.previousVersionId) throw new AppError("no_previous_version");
    const target = await this.deps.prisma.pluginVersion.findUniqueOrThrow({ where: { id: before.previousVersionId }, select: { version: true, manifest: true } });
    const all = await this.deps.installs.list(tenant);
    if (before.status === "enabled") requireDependencies(before.slug, `rolled back to ${target.version}`, target.manifest as unknown as Manifest, all);
    await guardDependents(all, before.slug, { kind: "rollback", to: target.version }, this.cascade(tenant, opts));
    // Compare-and-set: a concurrent upgrade or rollback makes this one a 409, not a mix of both.
    const { count } = await this.deps.prisma.install.updateMany({
      where: { id: before.id, currentVersionId: before.version.id, previousVersionId: before.previousVersionId },
      data: { currentVersionId: before.previousVersionId, previousVersionId: before.version.id },
    });
    this.forget(tenant, before);
    if (count === 0) throw new AppError("version_conflict", "The plugin changed while rolling back; check GET /api/plugins and try again");
    const install = await this.get(tenant, before.id);
    await this.deps.schedules.sync(install);
    await this.syncIndexes(tenant, install);
    return { install, from: before.version.version };
  }

  /**
   * Removes the install with its versions, secrets, config and logs. The plugin's own data
   * (ctx.db collections) stays for a reinstall of the same slug unless `purge` is set.
   */
  async uninstall(tenant: Tenant, idOrSlug: string, opts: { purge?: boolean } & CascadeOptions = {}): Promise<ActiveInstall> {
    const install = await this.get(tenant, idOrSlug);
    await guardDependents(await this.deps.installs.list(tenant), install.slug, { kind: "uninstall" }, this.cascade(tenant, opts));
    // A failing onUninstall is logged to the plugin's log; the uninstall goes on.
    if (install.status === "enabled") await runLifecycle(this.deps.invoker, this.deps.logger, install, "onUninstall");
    await this.deps.flushLogs();
    await this.deps.prisma.$transaction([
      this.deps.prisma.install.delete({ where: { id: install.id } }),
      this.deps.prisma.pluginVersion.deleteMany({ where: { tenantId: tenant.id, slug: install.slug } }),
    ]);
    this.forget(tenant, install);
    await this.deps.schedules.remove(install.id);
    if (opts.purge) await this.purgeData(tenant, install);
    await this.raise(tenant, "plugin.uninstalled", install);
    return install;
  }

  // The plugin's documents and the indexes its manifest declared for them (found by their name
  // prefix, so those an older version declared go as well).
  private async purgeData(tenant: Tenant, install: ActiveInstall): Promise<void> {
    await this.deps.prisma.pluginDocument.deleteMany({ where: { tenantId: tenant.id, plugin: install.slug } });
    await dropAllCollectionIndexes(prismaDdl(this.deps.prisma), tenant.id, install.slug);
  }

  // The version now current declares its own collection indexes (seed 003). The rollback is
  // already done: an index that stored documents prevent is logged, not a failed rollback.
  private async syncIndexes(tenant: Tenant, install: ActiveInstall): Promise<void> {
    const ddl = prismaDdl(this.deps.prisma);
    try {
      await createCollectionIndexes(ddl, tenant.id, install.slug, install.version.manifest.collections);
      await dropUndeclaredIndexes(ddl, tenant.id, install.slug, install.version.manifest.collections);
    } catch (err) {
      this.deps.logger.warn({ err, plugin: install.slug }, "collection indexes could not follow the rollback");
    }
  }

  private async raise(tenant: Tenant, type: string, install: ActiveInstall): Promise<void> {
    await this.deps.events.publish(tenant, {
      type,
      data: { plugin: { id: install.id, slug: install.slug, version: install.version.version, status: install.status } },
      source: "platform",
    });
  }

  private async change(
    tenant: Tenant,
    idOrSlug: string,
    data: (install: ActiveInstall) => Record<string, unknown>,
  ): Promise<ActiveInstall> {
    const install = await this.get(tenant, idOrSlug);
    await this.deps.prisma.install.update({ where: { id: install.id }, data: data(install) });
    this.forget(tenant, install);
    return this.get(tenant, install.id);
  }

  private cascade(tenant: Tenant, opts: CascadeOptions) {
    return { ...opts, disable: (install: ActiveInstall) => this.disableInstall(tenant, install) };
  }

  private forget(tenant: Tenant, install: ActiveInstall): void {
    this.deps.installs.invalidate(tenant.id);
    this.deps.sandbox.evict(install.id);
  }
}
