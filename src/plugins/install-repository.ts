import type { PrismaClient } from "../generated/prisma/client.ts";
import { toActiveInstall, type ActiveInstall } from "./active-install.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Reads installs with their current version. Lookups by slug are cached for a short TTL so
 * the `/ext` hot path does not query the database per request; writers invalidate at once,
 * and the TTL bounds how stale another process can be.
 */
export class InstallRepository {
  private readonly cache = new Map<string, { at: number; value: ActiveInstall | null }>();
  private readonly listeners: ((tenantId: string, remote: boolean) => void)[] = [];

  constructor(
    private readonly prisma: PrismaClient,
    private readonly ttlMs = 1000,
  ) {}

  /** By install id or plugin slug, within one tenant only. */
  /** `fresh` skips the cache: for writers that must act on the latest committed state. */
  async find(tenant: { id: string; slug: string }, idOrSlug: string, opts: { fresh?: boolean } = {}): Promise<ActiveInstall | null> {
    const key = `${tenant.id}:${idOrSlug}`;
    const hit = this.cache.get(key);
    if (hit && !opts.fresh && Date.now() - hit.at < this.ttlMs) return hit.value;
    const where = UUID.test(idOrSlug) ? { id: idOrSlug, tenantId: tenant.id } : { tenantId: tenant.id, slug: idOrSlug };
    const row = await this.prisma.install.findFirst({ where });
    const value = row ? await this.withVersion(row, tenant.slug) : null;
    this.cache.set(key, { at: Date.now(), value });
    return value;
  }

  async list(tenant: { id: string; slug: string }): Promise<ActiveInstall[]> {
    const rows = await this.prisma.install.findMany({ where: { tenantId: tenant.id }, orderBy: { createdAt: "asc" } });
    const versions = await this.prisma.pluginVersion.findMany({
      where: { id: { in: rows.map((r) => r.currentVersionId) } },
      select: VERSION_FIELDS,
    });
    const byId = new Map(versions.map((v) => [v.id, v]));
    return rows.map((r) => toActiveInstall(r, byId.get(r.currentVersionId)!, tenant.slug));
  }

  /**
   * Drops the tenant's cached installs. `remote`: another process made the change (and told this
   * one through the change bus), so it is not announced again.
   */
  invalidate(tenantId: string, opts: { remote?: boolean } = {}): void {
    for (const key of this.cache.keys()) if (key.startsWith(`${tenantId}:`)) this.cache.delete(key);
    for (const listener of this.listeners) listener(tenantId, opts.remote === true);
  }

  /** Other caches derived from installs (event subscribers) and the change bus hear of it. */
  onInvalidate(listener: (tenantId: string, remote: boolean) => void): void {
    this.listeners.push(listener);
  }

  private async withVersion(row: Parameters<typeof toActiveInstall>[0] & { currentVersionId: string }, tenantSlug: string) {
    const version = await this.prisma.pluginVersion.findUniqueOrThrow({ where: { id: row.currentVersionId }, select: VERSION_FIELDS });
    return toActiveInstall(row, version, tenantSlug);
  }
}

// Never the bundle: it is only read when a sandbox process needs the code.
const VERSION_FIELDS = { id: true, version: true, sha256: true, manifest: true, registered: true, webhooks: true } as const;
