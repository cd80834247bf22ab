import semver from "semver";
import type { Config, PlatformLimits } from "../config.ts";
import { AppError } from "../errors.ts";
import { CollectionIndexError, createCollectionIndexes, dropIndexesByName, dropUndeclaredIndexes, prismaDdl } from "../capabilities/db-collections.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Manifest } from "../packaging/manifest-schema.ts";
import { compareRegistrations, validatePackage } from "../packaging/validate-package.ts";
import type { EventService } from "../events/event-service.ts";
import type { Logger } from "../logger.ts";
import type { SandboxPool } from "../sandbox/sandbox-pool.ts";
import type { ActiveInstall } from "./active-install.ts";
import { checkDependents, dependencyProblems, finishCascade, skipPendingRuns, withDependencyLock, writeDisables, type CascadeOptions } from "./dependency-guard.ts";
import type { InstallRepository } from "./install-repository.ts";
import type { JobScheduler } from "../jobs/job-scheduler.ts";
import type { Invoker } from "./invoker.ts";
import { runLifecycle } from "./lifecycle.ts";
import { isMissingAny, missingValues, needsConfigurationReason } from "./missing-values.ts";
import { inspectPackage } from "./plugin-inspector.ts";

export interface UploadResult {
  install: ActiveInstall;
  created: boolean;
  previousVersion?: string;
}

export interface UploadDeps {
  prisma: PrismaClient;
  sandbox: SandboxPool;
  installs: InstallRepository;
  upload: Config["upload"];
  limits: PlatformLimits;
  invoker: Invoker;
  events: EventService;
  logger: Logger;
  schedules: JobScheduler;
  /** What follows the disable of a dependent the upgrade's transaction wrote (InstallService.disableInstall). */
  disableDependent: (tenant: Tenant, install: ActiveInstall) => Promise<ActiveInstall>;
}

/** `cascade`: an upgrade out of an enabled dependent's range disables it (and its dependents) instead of a 409. */
export type UploadOptions = CascadeOptions;

type Tenant = { id: string; slug: string };

/**
 * Upload = validate (archive, manifest, imports, webhooks) → load in a sandbox and compare
 * what the code registers with the manifest → install a new slug, or upgrade to a higher
 * version keeping secrets, config and data. Nothing is written unless every check passed; the
 * dependency checks are made again under the tenant's dependency lock, in the transaction that
 * writes the install (and, for an upgrade with `cascade`, disables the dependents it breaks).
 */
export async function uploadPlugin(deps: UploadDeps, tenant: Tenant, bundle: Buffer, opts: UploadOptions = {}): Promise<UploadResult> {
  const pkg = validatePackage(bundle, { upload: deps.upload, limits: deps.limits });
  const { manifest } = pkg;
  const registered = await inspectPackage(deps.sandbox, manifest, pkg.files, pkg.sha256, pkg.webhooks);
  const tenantInstalls = await deps.installs.list(tenant);
  // Seed 004: what the plugin requires must be installed in range, and enabled unless an upgrade
  // keeps this install disabled (a new install, or an upgrade of an enabled or failed one, runs).
  const keepsDisabled = tenantInstalls.find((i) => i.slug === manifest.slug)?.status === "disabled";
  const problems = [
    ...compareRegistrations(manifest, registered, pkg.webhooks),
    ...dependencyProblems(manifest, tenantInstalls, { requireEnabled: !keepsDisabled }),
  ];
  if (problems.length) throw new AppError("invalid_plugin", "The plugin package is invalid", problems);

  const existing = await deps.prisma.install.findUnique({ where: { tenantId_slug: { tenantId: tenant.id, slug: manifest.slug } } });
  const versionData = {
    tenantId: tenant.id,
    slug: manifest.slug,
    version: manifest.version,
    manifest: manifest as object,
    registered: registered as object,
    webhooks: pkg.webhooks as unknown as object,
    bundle: new Uint8Array(bundle),
    sha256: pkg.sha256,
  };

  if (!existing) {
    // A new install has no config and no secrets yet: any required value without a default
    // leaves it installed (onInstall runs) but not running until an admin sets them.
    const status = isMissingAny(missingValues(manifest, {}, [])) ? "needs_configuration" : "enabled";
    const install = await withCollectionIndexes(deps, tenant, manifest, () =>
      withDependencyLock(deps.prisma, tenant.id, async (tx) => {
        const all = await deps.installs.list(tenant, tx);
        if (all.some((i) => i.slug === manifest.slug)) throw installRace();
        requireMet(manifest, all, true);
        await tx.pluginVersion.deleteMany({ where: { tenantId: tenant.id, slug: manifest.slug } });
        const version = await tx.pluginVersion.create({ data: versionData, select: { id: true } });
        return tx.install.create({
          data: { tenantId: tenant.id, slug: manifest.slug, status, currentVersionId: version.id },
        });
      }).catch(conflictOnRace),
    );
    deps.installs.invalidate(tenant.id);
    const installed = await afterChange(deps, tenant, install.id, "onInstall", undefined, "plugin.installed");
    return { install: installed, created: true };
  }

  const current = await deps.prisma.pluginVersion.findUniqueOrThrow({ where: { id: existing.currentVersionId }, select: { version: true } });
  if (!semver.gt(manifest.version, current.version)) {
    throw new AppError(
      "version_conflict",
      `Version ${manifest.version} is not newer than the installed ${current.version}; bump "version" in plugin.json`,
      { installed: current.version, uploaded: manifest.version },
    );
  }
  await knownVersion(deps.prisma, tenant, manifest, pkg.sha256);
  // An upgrade out of the range an enabled dependent requires breaks it: 409 before anything is
  // written, or with `cascade` those dependents are disabled in the upgrade's own transaction.
  const upgradeOf = (needsConfiguration: boolean) => ({ kind: "upgrade" as const, to: manifest.version, ...(needsConfiguration ? { needsConfiguration } : {}) });
  const before = tenantInstalls.find((i) => i.id === existing.id);
  const missingBefore = missingValues(manifest, (existing.config ?? {}) as Record<string, unknown>, await secretNamesOf(deps.prisma, existing.id));
  let upgrade = upgradeOf(before?.status !== "disabled" && isMissingAny(missingBefore));
  checkDependents(tenantInstalls, manifest.slug, upgrade, opts.cascade);
  const broken = await withCollectionIndexes(deps, tenant, manifest, () =>
    withDependencyLock(deps.prisma, tenant.id, async (tx) => {
      const all = await deps.installs.list(tenant, tx);
      const now = all.find((i) => i.id === existing.id);
      if (!now) throw upgradeRace();
      requireMet(manifest, all, now.status !== "disabled");
      // Seed 001's order: configuration comes before enablement, so a version that requires a
      // value this install lacks moves it to needs_configuration; an admin's disable stays.
      const missing = missingValues(manifest, now.config, await secretNamesOf(tx, now.id));
      const needsConfiguration = now.status !== "disabled" && isMissingAny(missing);
      upgrade = upgradeOf(needsConfiguration);
      const broken = checkDependents(all, manifest.slug, upgrade, opts.cascade);
      await writeDisables(tx, tenant.id, broken.map((d) => d.install.id));
      if (needsConfiguration) await skipPendingRuns(tx, [now.id], needsConfigurationReason(missing));
      const versionId = (await knownVersion(tx, tenant, manifest, pkg.sha256)) ?? (await tx.pluginVersion.create({ data: versionData, select: { id: true } })).id;
      // Compare-and-set on the version this upload checked against: of two concurrent upgrades,
      // the one that lost the race gets a 409 and writes nothing, its cascade included.
      const { count } = await tx.install.updateMany({
        where: { id: existing.id, currentVersionId: existing.currentVersionId },
        data: {
          currentVersionId: versionId,
          previousVersionId: existing.currentVersionId,
          status: now.status === "disabled" ? "disabled" : needsConfiguration ? "needs_configuration" : "enabled",
          error: null,
        },
      });
      if (count === 0) throw upgradeRace();
      return broken;
    }),
  );
  deps.installs.invalidate(tenant.id);
  deps.sandbox.evict(existing.id);
  await finishCascade(manifest.slug, upgrade, broken, { onDisabled: opts.onDisabled, finish: (install) => deps.disableDependent(tenant, install) });
  const upgraded = await afterChange(deps, tenant, existing.id, "onUpgrade", { from: current.version }, "plugin.upgraded");
  return { install: upgraded, created: false, previousVersion: current.version };
}

/**
 * Seed 003: the indexes `collections` declares are built before the install rows are written,
 * so stored documents (kept from an earlier version or install) that break a new unique index
 * make the upload a 422 that changes nothing, and onInstall/onUpgrade already runs with them.
 * Indexes the new manifest no longer declares are dropped once it is the current one.
 */
async function withCollectionIndexes<T>(deps: UploadDeps, tenant: Tenant, manifest: Manifest, write: () => Promise<T>): Promise<T> {
  const ddl = prismaDdl(deps.prisma);
  let created: string[];
  try {
    created = await createCollectionIndexes(ddl, tenant.id, manifest.slug, manifest.collections);
  } catch (err) {
    if (err instanceof CollectionIndexError) throw new AppError("invalid_plugin", "The plugin package is invalid", [{ path: err.path, message: err.message }]);
    throw err;
  }
  let result: T;
  try {
    result = await write();
  } catch (err) {
    // Nothing was installed: the indexes this upload added go too.
    await dropIndexesByName(ddl, created).catch(() => undefined);
    throw err;
  }
  await dropUndeclaredIndexes(ddl, tenant.id, manifest.slug, manifest.collections);
  return result;
}

// The new code's onInstall/onUpgrade runs first; if it fails the install is marked failed with
// the error (the admin sees it, fixes and re-uploads, or rolls back). Then the platform event.
async function afterChange(
  deps: UploadDeps,
  tenant: Tenant,
  installId: string,
  lifecycle: "onInstall" | "onUpgrade",
  arg: { from: string } | undefined,
  eventType: string,
): Promise<ActiveInstall> {
  let install = (await deps.installs.find(tenant, installId))!;
  const failure = await runLifecycle(deps.invoker, deps.logger, install, lifecycle, arg);
  if (failure) {
    await deps.prisma.install.update({ where: { id: installId }, data: { status: "failed", error: failure } });
    deps.installs.invalidate(tenant.id);
    install = (await deps.installs.find(tenant, installId))!;
  }
  await deps.schedules.sync(install);
  await deps.events.publish(tenant, {
    type: eventType,
    data: { plugin: { id: install.id, slug: install.slug, version: install.version.version, status: install.status }, ...arg },
    source: "platform",
  });
  return install;
}

async function secretNamesOf(db: Pick<PrismaClient, "secret">, installId: string): Promise<string[]> {
  const rows = await db.secret.findMany({ where: { installId }, select: { name: true } });
  return rows.map((r) => r.name);
}

// The dependency checks again, on the installs read under the lock (422, like the first time).
function requireMet(manifest: Manifest, installs: readonly ActiveInstall[], requireEnabled: boolean): void {
  const problems = dependencyProblems(manifest, installs, { requireEnabled });
  if (problems.length) throw new AppError("invalid_plugin", "The plugin package is invalid", problems);
}

// The stored row of this very version from an earlier upload; a 409 if its content differs.
async function knownVersion(tx: Pick<PrismaClient, "pluginVersion">, tenant: Tenant, manifest: Manifest, sha256: string): Promise<string | undefined> {
  const known = await tx.pluginVersion.findUnique({
    where: { tenantId_slug_version: { tenantId: tenant.id, slug: manifest.slug, version: manifest.version } },
    select: { id: true, sha256: true },
  });
  if (known && known.sha256 !== sha256) {
    throw new AppError("version_content_conflict", `Version ${manifest.version} was uploaded before with other content; bump "version"`, { version: manifest.version });
  }
  return known?.id;
}

function installRace(): AppError {
  return new AppError("version_conflict", "Another upload of this plugin finished first; upload again to upgrade");
}

function upgradeRace(): AppError {
  return new AppError("version_conflict", "Another change to this plugin finished first; check GET /api/plugins and upload again");
}

// Two uploads of a new slug at once (one from a process that takes no dependency lock): the
// loser sees the unique index, which is a conflict.
function conflictOnRace(err: unknown): never {
  if ((err as { code?: string }).code === "P2002") throw installRace();
  throw err;
}
