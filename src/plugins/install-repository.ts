import type { PlatformLimits } from "../config.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import { requiredSecrets, SLUG, type Manifest } from "../packaging/manifest-schema.ts";
import { toActiveInstall, type ActiveInstall } from "./active-install.ts";

/** What `list` reads through: the client, or a transaction (a dependency check reads in its own). */
export type InstallReader = Pick<PrismaClient, "install" | "pluginVersion" | "secret">;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** How much the install cache may hold. */
export interface InstallCacheLimits {
  /** Installs found, least recently used dropped first. */
  maxEntries?: number;
  /** "No such install" answers, kept apart so that made-up slugs never push real installs out. */
  maxMisses?: number;
  /** The platform maxima installs' resources are resolved against as they are read. */
  platform?: PlatformLimits;
}

/**
 * Reads installs with their current version. Lookups are cached for a short TTL so the `/ext`
 * hot path does not query the database per request; writers invalidate at once, and the TTL
 * bounds how stale another process can be. The cache is bounded: anonymous callers choose the
 * slugs it is asked for, so neither installs nor misses may grow it without limit.
 */
export class InstallRepository {
  // Maps iterate in insertion order: the first key is the least recently used (found) or oldest (missing).
  private readonly found = new Map<string, { expiresAt: number; value: ActiveInstall }>();
  private readonly missing = new Map<string, number>();
  // Reads in flight: concurrent finds of one key share one read instead of each querying.
  private readonly loading = new Map<string, Promise<ActiveInstall | null>>();
  private readonly listeners: ((tenantId: string, remote: boolean) => void)[] = [];
  private readonly maxEntries: number;
  private readonly maxMisses: number;
  private readonly platform?: PlatformLimits;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly ttlMs = 1000,
    limits: InstallCacheLimits = {},
  ) {
    this.maxEntries = limits.maxEntries ?? 10_000;
    this.maxMisses = limits.maxMisses ?? 1000;
    this.platform = limits.platform;
  }

  /** Entries cached now (installs and misses); at most maxEntries + maxMisses. */
  get size(): number {
    return this.found.size + this.missing.size;
  }

  /**
   * By install id or plugin slug, within one tenant only. `fresh` skips the cache: for writers
   * that must act on the latest committed state.
   */
  async find(tenant: { id: string; slug: string }, idOrSlug: string, opts: { fresh?: boolean } = {}): Promise<ActiveInstall | null> {
    // why: no install can have such a name, so it costs neither a query nor a cache entry.
    if (!UUID.test(idOrSlug) && !SLUG.test(idOrSlug)) return null;
    const key = `${tenant.id}:${idOrSlug}`;
    if (!opts.fresh) {
      const loading = this.loading.get(key);
      if (loading) return loading;
      const cached = this.cached(key);
      if (cached !== undefined) return cached;
    }
    const read = this.read(tenant, idOrSlug);
    this.loading.set(key, read);
    try {
      const value = await read;
      // An invalidate() during the read dropped it from `loading`: do not keep what may be stale.
      if (this.loading.get(key) === read) this.remember(key, value);
      return value;
    } finally {
      if (this.loading.get(key) === read) this.loading.delete(key);
    }
  }

  /** The tenant's installs, never from the cache; `db`: the transaction to read them in. */
  async list(tenant: { id: string; slug: string }, db: InstallReader = this.prisma): Promise<ActiveInstall[]> {
    const rows = await db.install.findMany({ where: { tenantId: tenant.id }, orderBy: { createdAt: "asc" } });
    const versions = await db.pluginVersion.findMany({
      where: { id: { in: rows.map((r) => r.currentVersionId) } },
      select: VERSION_FIELDS,
    });
    const byId = new Map(versions.map((v) => [v.id, v]));
    const secrets = await secretNames(db, versions.some(declaresRequiredSecrets) ? rows.map((r) => r.id) : []);
    // Outside a transaction the two reads may straddle an uninstall, which deletes the install
    // with its versions: a row whose version is gone is an install that is gone.
    return rows.flatMap((r) => {
      const version = byId.get(r.currentVersionId);
      return version ? [toActiveInstall(r, version, tenant.slug, this.platform, secrets.get(r.id))] : [];
    });
  }

  /**
   * Drops the tenant's cached installs. `remote`: another process made the change (and told this
   * one through the change bus), so it is not announced again.
   */
  invalidate(tenantId: string, opts: { remote?: boolean } = {}): void {
    const prefix = `${tenantId}:`;
    for (const map of [this.found, this.missing, this.loading]) {
      for (const key of map.keys()) if (key.startsWith(prefix)) map.delete(key);
    }
    for (const listener of this.listeners) listener(tenantId, opts.remote === true);
  }

  /** Other caches derived from installs (event subscribers) and the change bus hear of it. */
  onInvalidate(listener: (tenantId: string, remote: boolean) => void): void {
    this.listeners.push(listener);
  }

  // The cached answer (null: cached miss), or undefined when there is none or it expired.
  private cached(key: string): ActiveInstall | null | undefined {
    const now = Date.now();
    const hit = this.found.get(key);
    if (hit) {
      this.found.delete(key);
      if (hit.expiresAt <= now) return undefined;
      this.found.set(key, hit); // now the most recently used
      return hit.value;
    }
    const missUntil = this.missing.get(key);
    if (missUntil === undefined) return undefined;
    if (missUntil > now) return null;
    this.missing.delete(key);
    return undefined;
  }

  private remember(key: string, value: ActiveInstall | null): void {
    const expiresAt = Date.now() + this.ttlMs;
    this.found.delete(key);
    this.missing.delete(key);
    if (value) {
      this.found.set(key, { expiresAt, value });
      while (this.found.size > this.maxEntries) this.found.delete(this.found.keys().next().value!);
    } else {
      this.missing.set(key, expiresAt);
      while (this.missing.size > this.maxMisses) this.missing.delete(this.missing.keys().next().value!);
    }
  }

  private async read(tenant: { id: string; slug: string }, idOrSlug: string): Promise<ActiveInstall | null> {
    const where = UUID.test(idOrSlug) ? { id: idOrSlug, tenantId: tenant.id } : { tenantId: tenant.id, slug: idOrSlug };
    const row = await this.prisma.install.findFirst({ where });
    return row ? this.withVersion(row, tenant.slug) : null;
  }

  private async withVersion(row: Parameters<typeof toActiveInstall>[0] & { currentVersionId: string }, tenantSlug: string) {
    const version = await this.prisma.pluginVersion.findUniqueOrThrow({ where: { id: row.currentVersionId }, select: VERSION_FIELDS });
    const secrets = await secretNames(this.prisma, declaresRequiredSecrets(version) ? [row.id] : []);
    return toActiveInstall(row, version, tenantSlug, this.platform, secrets.get(row.id));
  }
}

// Only a version with required secrets needs their names read (never their values), so the /ext
// hot path of every other plugin costs no extra query.
function declaresRequiredSecrets(version: { manifest: unknown }): boolean {
  return requiredSecrets(version.manifest as Manifest).length > 0;
}

async function secretNames(db: Pick<PrismaClient, "secret">, installIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (!installIds.length) return out;
  const rows = await db.secret.findMany({ where: { installId: { in: installIds } }, select: { installId: true, name: true } });
  for (const r of rows) out.set(r.installId, [...(out.get(r.installId) ?? []), r.name]);
  return out;
}

// Never the bundle: it is only read when a sandbox process needs the code.
const VERSION_FIELDS = { id: true, version: true, sha256: true, manifest: true, registered: true, webhooks: true } as const;
