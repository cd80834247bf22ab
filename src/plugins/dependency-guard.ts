import semver from "semver";
import { inTurn } from "../db/in-turn.ts";
import { AppError } from "../errors.ts";
import type { Prisma, PrismaClient } from "../generated/prisma/client.ts";
import type { Manifest } from "../packaging/manifest-schema.ts";
import type { Problem } from "../packaging/problem.ts";
import type { ActiveInstall, InstallStatus } from "./active-install.ts";

// Seed 004: a plugin may require other plugins of its tenant at a semver range. The invariant kept
// here: an enabled install has every plugin it requires installed, enabled and in range. Changes
// that would break it are refused (409) unless the admin asks for the cascade, which disables the
// dependents in the same transaction as the change; each committed disable is reported so the
// router can audit it.
//
// Every change that can break the invariant (enable, disable, uninstall, rollback, upload) reads
// the tenant's installs, checks and writes in one transaction under the tenant's dependency lock:
// checked apart from the write, two changes that are each fine alone (an enable of a dependent
// and a disable of what it requires) could both pass, whichever processes served them.

/** A transaction holding the tenant's dependency lock. */
export type DependencyTx = Prisma.TransactionClient;

// Waiting for the lock counts against this; the work under it is a few reads and writes.
const TX_OPTIONS = { maxWait: 30_000, timeout: 30_000 };

/**
 * Runs `fn` in a transaction holding the tenant's dependency lock (an advisory lock released at
 * commit or rollback). No plugin code may run inside: on PGlite the transaction holds the only
 * connection, so a ctx call waiting for it would wait for ever. Changes of one tenant in this
 * process queue before they open a transaction, so a burst of them holds one pooled connection.
 */
export function withDependencyLock<T>(prisma: PrismaClient, tenantId: string, fn: (tx: DependencyTx) => Promise<T>): Promise<T> {
  const key = `deps:${tenantId}`;
  return inTurn(key, () =>
    prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${key}))`;
      return fn(tx);
    }, TX_OPTIONS),
  );
}

/** What the admin is doing to the required plugin. */
export type DependencyChange =
  | { kind: "disable" }
  | { kind: "uninstall" }
  // A required secret of an enabled install is deleted: it stops running (needs_configuration).
  | { kind: "unconfigure"; secret: string }
  // needsConfiguration: the version moved to requires values the install lacks, so it stops
  // running (needs_configuration) whatever its version: every enabled dependent is broken.
  | { kind: "rollback"; to: string; needsConfiguration?: boolean }
  | { kind: "upgrade"; to: string; needsConfiguration?: boolean };

/** An enabled install that a change leaves without what it requires. */
export interface Dependent {
  install: ActiveInstall;
  /** The plugin whose change breaks it: the changed one, or (transitively) another dependent. */
  requires: string;
  range: string;
}

/** A dependent the cascade disabled, as the audit log records it. */
export interface CascadeDisabled {
  install: ActiveInstall;
  /** The plugin the admin changed. */
  cause: string;
  requires: string;
  range: string;
  reason: string;
}

export interface CascadeOptions {
  /** Disable the dependents (and theirs) with the change instead of refusing. */
  cascade?: boolean;
  /** Told of each dependent the cascade disabled, once the change committed (the router audits it). */
  onDisabled?: (disabled: CascadeDisabled) => Promise<void>;
}

/** A requirement that is not met: the plugin is missing, not enabled, or at a version outside the range. */
export interface Unmet {
  slug: string;
  range: string;
  installed: string | null;
  status: InstallStatus | null;
  message: string;
}

/** The range `install` requires of `slug`, if any (own keys only: a slug may be "constructor"). */
export function requiredRange(install: ActiveInstall, slug: string): string | undefined {
  const deps = install.version.manifest.dependencies ?? {};
  return Object.hasOwn(deps, slug) ? deps[slug] : undefined;
}

/**
 * The enabled installs a change to `target` breaks: those whose range the change leaves (all of
 * them for a disable or an uninstall), then every enabled install requiring one of those, since
 * the cascade disables it. Ordered dependents-first, the order a cascade disables them in.
 */
export function dependentsBrokenBy(installs: readonly ActiveInstall[], target: string, change: DependencyChange): Dependent[] {
  const enabled = installs.filter((i) => i.status === "enabled" && i.slug !== target);
  const keeps = (range: string) =>
    (change.kind === "rollback" || change.kind === "upgrade") && !change.needsConfiguration && semver.satisfies(change.to, range);
  const found = new Map<string, Dependent>();
  const queue: string[] = [target];
  for (let k = 0; k < queue.length; k++) {
    const slug = queue[k];
    for (const install of enabled) {
      const range = requiredRange(install, slug);
      if (range === undefined || found.has(install.slug) || (slug === target && keeps(range))) continue;
      found.set(install.slug, { install, requires: slug, range });
      queue.push(install.slug);
    }
  }
  // Post-order over "requires": a plugin is disabled after everything in the set that requires it.
  const ordered: Dependent[] = [];
  const placed = new Set<string>();
  const place = (d: Dependent): void => {
    if (placed.has(d.install.slug)) return;
    placed.add(d.install.slug);
    for (const other of found.values()) if (requiredRange(other.install, d.install.slug) !== undefined) place(other);
    ordered.push(d);
  };
  for (const d of found.values()) place(d);
  return ordered;
}

/** The 409 for a change that would break `broken`, naming each dependent and the range it requires. */
export function dependencyConflict(target: string, change: DependencyChange, broken: readonly Dependent[]): AppError {
  const list = broken.map((d) => `${d.install.slug} (requires ${d.requires} ${d.range})`).join(", ");
  return new AppError(
    "dependency_conflict",
    `${target} cannot be ${changeWords(change)}: enabled plugins depend on it: ${list}. Disable them first, or repeat with ?cascade=true to disable them too`,
    {
      plugin: target,
      action: change.kind,
      ...("to" in change ? { to: change.to } : {}),
      dependents: broken.map((d) => ({ slug: d.install.slug, version: d.install.version.version, requires: d.requires, range: d.range })),
    },
  );
}

/**
 * The dependents to disable with a change: those it breaks, or a 409 unless `cascade`. Call it
 * on installs read under the dependency lock, in the transaction that then writes the change.
 */
export function checkDependents(installs: readonly ActiveInstall[], target: string, change: DependencyChange, cascade: boolean | undefined): Dependent[] {
  const broken = dependentsBrokenBy(installs, target, change);
  if (broken.length && !cascade) throw dependencyConflict(target, change, broken);
  return broken;
}

/** Writes installs disabled inside the caller's transaction; their queued hook runs end with them. */
export async function writeDisables(tx: DependencyTx, tenantId: string, installIds: readonly string[]): Promise<void> {
  if (!installIds.length) return;
  await tx.install.updateMany({ where: { tenantId, id: { in: [...installIds] } }, data: { status: "disabled", error: null } });
  await skipPendingRuns(tx, installIds, "the plugin was disabled");
}

/**
 * Ends the installs' queued hook runs as skipped with `reason`, now, rather than each waking up
 * to find out (a storm of them would otherwise keep the tenant's workers busy after the plugin is off).
 */
export async function skipPendingRuns(tx: DependencyTx, installIds: readonly string[], reason: string): Promise<void> {
  if (!installIds.length) return;
  await tx.hookRun.updateMany({
    where: { installId: { in: [...installIds] }, status: "pending" },
    data: { status: "skipped", error: reason, finishedAt: new Date() },
  });
}

/**
 * After the transaction that disabled `broken` with the change committed: `finish` does what
 * follows each disable (onDisable, schedules, event), dependents first, and `onDisabled` hears of
 * each. Nothing is reported for a cascade that rolled back with its change.
 */
export async function finishCascade(
  target: string,
  change: DependencyChange,
  broken: readonly Dependent[],
  opts: Pick<CascadeOptions, "onDisabled"> & { finish: (before: ActiveInstall) => Promise<ActiveInstall> },
): Promise<CascadeDisabled[]> {
  const done: CascadeDisabled[] = [];
  for (const d of broken) {
    const install = await opts.finish(d.install);
    const reason =
      d.requires === target
        ? `requires ${target} ${d.range}; ${target} is being ${changeWords(change)}`
        : `requires ${d.requires} ${d.range}, which the cascade from ${target} (being ${changeWords(change)}) disables`;
    const disabled = { install, cause: target, requires: d.requires, range: d.range, reason };
    done.push(disabled);
    await opts.onDisabled?.(disabled);
  }
  return done;
}

/**
 * What `manifest` requires that the tenant's installs do not give. `requireEnabled`: the install
 * will run, so each required plugin must be enabled too (not only installed in range).
 */
export function unmetDependencies(manifest: Manifest, installs: readonly ActiveInstall[], opts: { requireEnabled: boolean }): Unmet[] {
  const out: Unmet[] = [];
  for (const [slug, range] of Object.entries(manifest.dependencies ?? {})) {
    const dep = installs.find((i) => i.slug === slug);
    const base = { slug, range, installed: dep?.version.version ?? null, status: dep?.status ?? null };
    if (!dep) out.push({ ...base, message: `requires plugin "${slug}" (${range}), which is not installed` });
    else if (!semver.satisfies(dep.version.version, range)) out.push({ ...base, message: `requires "${slug}" ${range}, but ${dep.version.version} is installed` });
    else if (opts.requireEnabled && dep.status !== "enabled") out.push({ ...base, message: `requires "${slug}" ${range}, which is installed but ${dep.status}` });
  }
  return out;
}

/** The 409 for enabling (or rolling back, enabled) a plugin whose requirements are not met. */
export function requireDependencies(slug: string, what: string, manifest: Manifest, installs: readonly ActiveInstall[]): void {
  const unmet = unmetDependencies(manifest, installs, { requireEnabled: true });
  if (!unmet.length) return;
  throw new AppError("dependencies_unmet", `${slug} cannot be ${what}: ${unmet.map((u) => u.message).join("; ")}`, { plugin: slug, unmet });
}

/**
 * Upload problems of `manifest`'s dependencies (422 `invalid_plugin`, with the package's other
 * problems): unmet requirements, and a requirement that would close a cycle, which no order of
 * enables could satisfy.
 */
export function dependencyProblems(manifest: Manifest, installs: readonly ActiveInstall[], opts: { requireEnabled: boolean }): Problem[] {
  const problems: Problem[] = unmetDependencies(manifest, installs, opts).map((u) => ({ path: `dependencies.${u.slug}`, message: u.message }));
  for (const slug of Object.keys(manifest.dependencies ?? {})) {
    const cycle = pathTo(installs, slug, manifest.slug, new Set());
    if (cycle) problems.push({ path: `dependencies.${slug}`, message: `would close a cycle: ${[manifest.slug, ...cycle].join(" → ")}` });
  }
  return problems;
}

// A chain of requirements from `from` to `to` through the installed plugins, if there is one.
function pathTo(installs: readonly ActiveInstall[], from: string, to: string, seen: Set<string>): string[] | undefined {
  if (from === to) return [to];
  if (seen.has(from)) return undefined;
  seen.add(from);
  const install = installs.find((i) => i.slug === from);
  for (const next of Object.keys(install?.version.manifest.dependencies ?? {})) {
    const rest = pathTo(installs, next, to, seen);
    if (rest) return [from, ...rest];
  }
  return undefined;
}

function changeWords(change: DependencyChange): string {
  if (change.kind === "disable") return "disabled";
  if (change.kind === "uninstall") return "uninstalled";
  if (change.kind === "unconfigure") return `left without its required secret ${change.secret}`;
  const moved = change.kind === "rollback" ? `rolled back to ${change.to}` : `upgraded to ${change.to}`;
  return change.needsConfiguration ? `${moved}, which needs configuration before it runs` : moved;
}
