import type { PlatformLimits } from "../config.ts";
import { resolveResources, type Manifest } from "../packaging/manifest-schema.ts";
import type { Registered } from "../packaging/registered.ts";
import type { WebhookDefinition } from "../packaging/webhook-schema.ts";
import { missingValues, type MissingValues } from "./missing-values.ts";
import { RouteMatcher } from "./route-matcher.ts";

/**
 * `needs_configuration`: installed, but a required config value or secret is unset, so nothing of
 * it runs; setting the last one enables it (InstallService.configurationChanged).
 */
export type InstallStatus = "enabled" | "disabled" | "failed" | "needs_configuration";

/** The last health check's outcome (runtime.health_check), as stored on the install row. */
export interface InstallHealth {
  status: "ok" | "degraded" | "error" | "unknown";
  checkedAt: Date | null;
  detail: unknown;
}

/** An install as the hot paths need it: one read, then served from the install cache. */
export interface ActiveInstall {
  id: string;
  tenantId: string;
  tenantSlug: string;
  slug: string;
  status: InstallStatus;
  error: string | null;
  config: Record<string, unknown>;
  previousVersionId: string | null;
  createdAt: Date;
  updatedAt: Date;
  /** Null until the first health check. */
  health: InstallHealth | null;
  /** Required config values and secrets it does not have (whatever its status). */
  missing: MissingValues;
  version: {
    id: string;
    version: string;
    sha256: string;
    manifest: Manifest;
    registered: Registered;
    webhooks: WebhookDefinition[];
  };
  routes: RouteMatcher;
}

interface InstallRow {
  id: string;
  tenantId: string;
  slug: string;
  status: string;
  error: string | null;
  config: unknown;
  previousVersionId: string | null;
  createdAt: Date;
  updatedAt: Date;
  healthStatus?: string | null;
  healthCheckedAt?: Date | null;
  healthDetail?: unknown;
}

interface VersionRow {
  id: string;
  version: string;
  sha256: string;
  manifest: unknown;
  registered: unknown;
  webhooks?: unknown;
}

/**
 * An install as the platform runs it. With `limits`, its resources are resolved against today's
 * platform maxima (a version stored before declared_resources was kept has only the values
 * resolved at its upload: those are lowered to today's maxima, never raised). `secretNames`: the
 * names of the secrets set for it, which `missing` is worked out from.
 */
export function toActiveInstall(row: InstallRow, version: VersionRow, tenantSlug: string, limits?: PlatformLimits, secretNames: Iterable<string> = []): ActiveInstall {
  const registered = version.registered as Registered;
  const stored = version.manifest as Manifest;
  const manifest = limits ? { ...stored, resources: resolveResources(stored.declared_resources ?? stored.resources ?? {}, limits) } : stored;
  const config = (row.config ?? {}) as Record<string, unknown>;
  return {
    id: row.id,
    tenantId: row.tenantId,
    tenantSlug,
    slug: row.slug,
    status: row.status as InstallStatus,
    error: row.error,
    config,
    previousVersionId: row.previousVersionId,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    health: row.healthStatus
      ? { status: row.healthStatus as InstallHealth["status"], checkedAt: row.healthCheckedAt ?? null, detail: row.healthDetail ?? null }
      : null,
    missing: missingValues(manifest, config, secretNames),
    version: {
      id: version.id,
      version: version.version,
      sha256: version.sha256,
      manifest,
      registered,
      webhooks: (version.webhooks ?? []) as WebhookDefinition[],
    },
    routes: new RouteMatcher(registered.routes),
  };
}

/** Config values the plugin sees: what the tenant set, else the manifest's defaults. */
export function effectiveConfig(install: ActiveInstall): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(install.version.manifest.configuration)) {
    if (field.default !== undefined) out[key] = field.default;
  }
  return { ...out, ...install.config };
}
