import { nextRun } from "../jobs/next-run.ts";
import { requiredSecrets } from "../packaging/manifest-schema.ts";
import type { ActiveInstall } from "./active-install.ts";

/** The JSON shape of an install in the admin API. */
export function pluginView(install: ActiveInstall) {
  const m = install.version.manifest;
  return {
    id: install.id,
    slug: install.slug,
    name: m.name,
    version: install.version.version,
    description: m.description ?? null,
    author: m.author ?? null,
    status: install.status,
    error: install.error,
    permissions: m.permissions,
    events: m.events,
    routes: install.version.registered.routes.map((r) => ({ path: `/ext/${install.slug}${r.path}`, methods: r.methods, auth: r.auth })),
    jobs: m.jobs.map((j) => ({
      name: j.name,
      schedule: j.schedule,
      timezone: j.timezone ?? "UTC",
      next_run: install.status === "enabled" ? (nextRun(j.schedule, j.timezone ?? "UTC")?.toISOString() ?? null) : null,
    })),
    secrets: m.secrets,
    required_secrets: requiredSecrets(m),
    // Names only, for status needs_configuration (and for a disabled install an enable would refuse).
    missing: install.missing,
    configuration: m.configuration,
    config: install.config,
    resources: m.resources,
    health: install.health
      ? { status: install.health.status, checked_at: install.health.checkedAt?.toISOString() ?? null, detail: install.health.detail }
      : null,
    has_previous_version: install.previousVersionId !== null,
    sha256: install.version.sha256,
    created_at: install.createdAt.toISOString(),
    updated_at: install.updatedAt.toISOString(),
  };
}
