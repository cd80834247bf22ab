import { createCollectionIndexes, dropAllCollectionIndexes, dropUndeclaredIndexes, prismaDdl } from "../capabilities/db-collections.ts";
import { AppError } from "../errors.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { EventService } from "../events/event-service.ts";
import type { Logger } from "../logger.ts";
import { requiredSecrets, type Manifest } from "../packaging/manifest-schema.ts";
import type { SandboxPool } from "../sandbox/sandbox-pool.ts";
import type { ActiveInstall } from "./active-install.ts";
import { validateConfig } from "./config-validator.ts";
import {
  checkDependents,
  finishCascade,
  requireDependencies,
  skipPendingRuns,
  unmetDependencies,
  withDependencyLock,
  writeDisables,
  type CascadeOptions,
  type DependencyChange,
  type DependencyTx,
  type Dependent,
} from "./dependency-guard.ts";
import type { InstallRepository } from "./install-repository.ts";
import type { JobScheduler } from "../jobs/job-scheduler.ts";
import type { Invoker } from "./invoker.ts";
import { runLifecycle } from "./lifecycle.ts";
import { isMissingAny, missingValues, needsConfigurationError, needsConfigurationReason } from "./missing-values.ts";

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
   * is enabled in range and every required config value and secret is set (else 409, the install
   * left as it was). Enabled plugins requiring this one make a disable a 409, or with `cascade`
   * are disabled with it; onDisable runs once the disable committed.
   */
  async setStatus(tenant: Tenant, idOrSlug: string, status: "enabled" | "disabled", opts: CascadeOptions = {}): Promise<ActiveInstall> {
    const { id } = await this.get(tenant, idOrSlug);
    if (status === "disabled") {
      const change = { kind: "disable" } as const;
      const { before, broken } = await this.locked(tenant, async (tx, all) => {
        const before = this.current(tenant, all, id);
        const broken = checkDependents(all, before.slug, change, opts.cascade);
        await writeDisables(tx, tenant.id, [...broken.map((d) => d.install.id), before.id]);
        return { before, broken };
      });
      await this.finishCascade(tenant, before.slug, change, broken, opts);
      return this.disableInstall(tenant, before);
    }
    const before = await this.locked(tenant, async (tx, all) => {
      const before = this.current(tenant, all, id);
      if (isMissingAny(before.missing)) throw needsConfigurationError(before.slug, before.missing);
      requireDependencies(before.slug, "enabled", before.version.manifest, all);
      await tx.install.update({ where: { id: before.id }, data: { status, error: null } });
      return before;
    });
    return this.afterEnable(tenant, before);
  }

  /**
   * After a config or secret write: a needs_configuration install that now has every required
   * value enables itself, onEnable and all, as an admin's enable would. If what it requires is
   * not enabled by then, it becomes disabled with the reason (it cannot run, and nothing is
   * missing any more); the admin enables it once they are. Other installs are left as they are.
   */
  async configurationChanged(tenant: Tenant, id: string): Promise<{ install: ActiveInstall; enabled: boolean }> {
    const outcome = await this.locked(tenant, async (tx, all) => {
      const now = this.current(tenant, all, id);
      if (now.status !== "needs_configuration" || isMissingAny(now.missing)) return null;
      const unmet = unmetDependencies(now.version.manifest, all, { requireEnabled: true });
      const data = unmet.length
        ? { status: "disabled", error: `every required value is set, but ${unmet.map((u) => u.message).join("; ")}; enable it once they are` }
        : { status: "enabled", error: null };
      await tx.install.update({ where: { id }, data });
      return { before: now, enabled: !unmet.length };
    });
    if (!outcome) return { install: await this.get(tenant, id), enabled: false };
    if (!outcome.enabled) return { install: await this.disableInstall(tenant, outcome.before), enabled: false };
    return { install: await this.afterEnable(tenant, outcome.before), enabled: true };
  }

  /**
   * Deletes a secret. A required one of an enabled install stops it: needs_configuration, its
   * queued hook runs skipped, its schedules removed (no onDisable: the admin did not disable it).
   * Enabled plugins requiring it make that a 409, or with `cascade` are disabled with it; the
   * secret stays when the change is refused.
   */
  async deleteSecret(tenant: Tenant, idOrSlug: string, name: string, opts: CascadeOptions = {}): Promise<{ install: ActiveInstall; stopped: boolean }> {
    const { id } = await this.get(tenant, idOrSlug);
    const change = { kind: "unconfigure", secret: name } as const;
    const { before, broken, stopped } = await this.locked(tenant, async (tx, all) => {
      const before = this.current(tenant, all, id);
      const { count } = await tx.secret.deleteMany({ where: { installId: id, name } });
      if (count === 0) throw new AppError("secret_not_found", `No secret ${name} is set`);
      if (before.status !== "enabled" || !requiredSecrets(before.version.manifest).includes(name)) return { before, broken: [], stopped: false };
      const broken = checkDependents(all, before.slug, change, opts.cascade);
      await writeDisables(tx, tenant.id, broken.map((d) => d.install.id));
      await tx.install.update({ where: { id }, data: { status: "needs_configuration", error: null } });
      await skipPendingRuns(tx, [id], needsConfigurationReason({ config: before.missing.config, secrets: [...before.missing.secrets, name] }));
      return { before, broken, stopped: true };
    });
    this.forget(tenant, before);
    await this.finishCascade(tenant, before.slug, change, broken, opts);
    const install = await this.get(tenant, id);
    if (stopped) await this.deps.schedules.sync(install);
    return { install, stopped };
  }

  // What follows an enable once it committed: onEnable (failure → failed), schedules, the event.
  private async afterEnable(tenant: Tenant, before: ActiveInstall): Promise<ActiveInstall> {
    this.forget(tenant, before);
    let install = await this.get(tenant, before.id);
    const failure = await runLifecycle(this.deps.invoker, this.deps.logger, install, "onEnable");
    if (failure) install = await this.change(tenant, install.id, () => ({ status: "failed", error: failure }));
    await this.deps.schedules.sync(install);
    await this.raise(tenant, "plugin.enabled", install);
    return install;
  }

  /**
   * What follows a disable once the transaction that wrote it committed: onDisable when `before`
   * was enabled, the schedules, the event. Plugin code runs only here, after the write, so it
   * never runs for a disable that was then refused or rolled back, nor inside the lock.
   */
  async disableInstall(tenant: Tenant, before: ActiveInstall): Promise<ActiveInstall> {
    if (before.status === "enabled") await runLifecycle(this.deps.invoker, this.deps.logger, before, "onDisable");
    this.forget(tenant, before);
    // Gone already only when an uninstall followed at once; what was disabled is still the answer.
    const install = (await this.deps.installs.find(tenant, before.id)) ?? { ...before, status: "disabled" as const, error: null };
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
    const previousVersionId = before.previousVersionId;
    if (!previousVersionId) throw new AppError("no_previous_version");
    const target = await this.deps.prisma.pluginVersion.findUnique({ where: { id: previousVersionId }, select: { version: true, manifest: true } });
    if (!target) throw rollbackConflict();
    const targetManifest = target.manifest as unknown as Manifest;
    let change: DependencyChange = { kind: "rollback", to: target.version };
    const broken = await this.locked(tenant, async (tx, all) => {
      const current = this.current(tenant, all, before.id);
      // As for an upgrade: the version moved to may need values this install lacks (or no longer
      // need those a needs_configuration install was waiting for).
      const secrets = await tx.secret.findMany({ where: { installId: current.id }, select: { name: true } });
      const missing = missingValues(targetManifest, current.config, secrets.map((x) => x.name));
      const runs = current.status === "enabled" || current.status === "needs_configuration";
      const status = !runs ? current.status : isMissingAny(missing) ? "needs_configuration" : "enabled";
      change = { kind: "rollback", to: target.version, ...(current.status === "enabled" && status !== "enabled" ? { needsConfiguration: true } : {}) };
      if (status === "enabled") requireDependencies(before.slug, `rolled back to ${target.version}`, targetManifest, all);
      const broken = checkDependents(all, before.slug, change, opts.cascade);
      await writeDisables(tx, tenant.id, broken.map((d) => d.install.id));
      if (status === "needs_configuration") await skipPendingRuns(tx, [current.id], needsConfigurationReason(missing));
      // Compare-and-set on the versions this request saw: a concurrent upgrade or rollback (or one
      // this process has not heard of yet) makes this one a 409, and the cascade rolls back with it.
      const { count } = await tx.install.updateMany({
        where: { id: before.id, currentVersionId: before.version.id, previousVersionId },
        data: { currentVersionId: previousVersionId, previousVersionId: before.version.id, status },
      });
      if (count === 0) throw rollbackConflict();
      return broken;
    });
    this.deps.sandbox.evict(before.id);
    await this.finishCascade(tenant, before.slug, change, broken, opts);
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
    const change = { kind: "uninstall" } as const;
    // Checked before onUninstall too, so that a refused uninstall runs no plugin code. The check
    // under the lock is the one that counts: a dependent enabled meanwhile still refuses it there.
    checkDependents(await this.deps.installs.list(tenant), install.slug, change, opts.cascade);
    // A failing onUninstall is logged to the plugin's log; the uninstall goes on.
    if (install.status === "enabled") await runLifecycle(this.deps.invoker, this.deps.logger, install, "onUninstall");
    await this.deps.flushLogs();
    const broken = await this.locked(tenant, async (tx, all) => {
      this.current(tenant, all, install.id);
      const broken = checkDependents(all, install.slug, change, opts.cascade);
      await writeDisables(tx, tenant.id, broken.map((d) => d.install.id));
      await tx.install.delete({ where: { id: install.id } });
      await tx.pluginVersion.deleteMany({ where: { tenantId: tenant.id, slug: install.slug } });
      return broken;
    });
    this.forget(tenant, install);
    await this.finishCascade(tenant, install.slug, change, broken, opts);
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

  // The tenant's installs as of the lock, then `fn`'s check and writes, in one transaction.
  private async locked<T>(tenant: Tenant, fn: (tx: DependencyTx, all: ActiveInstall[]) => Promise<T>): Promise<T> {
    try {
      return await withDependencyLock(this.deps.prisma, tenant.id, async (tx) => fn(tx, await this.deps.installs.list(tenant, tx)));
    } finally {
      // Committed or refused, what this process cached may be older than what the lock showed.
      this.deps.installs.invalidate(tenant.id);
    }
  }

  // The install as read under the lock: an uninstall may have come first.
  private current(tenant: Tenant, all: readonly ActiveInstall[], id: string): ActiveInstall {
    const install = all.find((i) => i.id === id);
    if (!install) throw new AppError("plugin_not_found", `No plugin "${id}" is installed for tenant ${tenant.slug}`);
    return install;
  }

  private finishCascade(tenant: Tenant, target: string, change: DependencyChange, broken: readonly Dependent[], opts: CascadeOptions) {
    return finishCascade(target, change, broken, { onDisabled: opts.onDisabled, finish: (install) => this.disableInstall(tenant, install) });
  }

  private forget(tenant: Tenant, install: ActiveInstall): void {
    this.deps.installs.invalidate(tenant.id);
    this.deps.sandbox.evict(install.id);
  }
}

function rollbackConflict(): AppError {
  return new AppError("version_conflict", "The plugin changed while rolling back; check GET /api/plugins and try again");
}
