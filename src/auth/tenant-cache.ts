import type { AuthTenant } from "./request-auth.ts";

export type Tenant = AuthTenant;

export interface TenantCache {
  find(slug: string): Promise<Tenant | null>;
  /** Drops one slug (after a tenant is created, renamed or deleted), or everything. */
  invalidate(slug?: string): void;
}

export interface TenantCacheOptions {
  /** How long "no such tenant" is remembered: short, so a new tenant is usable at once. */
  negativeTtlMs?: number;
  /** Bound on entries, so requests with made-up slugs cannot grow memory without limit. */
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  value: Promise<Tenant | null>;
  expiresAt: number;
}

/**
 * A small TTL cache in front of the tenant lookup so the hot route path does not query the
 * database on every request. Concurrent misses for one slug share one load; failed loads are
 * not cached.
 */
export function createTenantCache(
  load: (slug: string) => Promise<Tenant | null>,
  ttlMs = 5000,
  opts: TenantCacheOptions = {},
): TenantCache {
  const negativeTtlMs = opts.negativeTtlMs ?? Math.min(500, ttlMs);
  const maxEntries = opts.maxEntries ?? 10_000;
  const now = opts.now ?? Date.now;
  const entries = new Map<string, Entry>();

  function find(slug: string): Promise<Tenant | null> {
    const hit = entries.get(slug);
    if (hit && hit.expiresAt > now()) return hit.value;
    if (hit) entries.delete(slug);

    // Until the load settles the entry never expires, so every concurrent caller shares it.
    const entry: Entry = { value: Promise.resolve(null), expiresAt: Number.POSITIVE_INFINITY };
    entry.value = Promise.resolve()
      .then(() => load(slug))
      .then(
        (tenant) => {
          // An invalidate() during the load removed this entry; do not resurrect stale data.
          if (entries.get(slug) === entry) entry.expiresAt = now() + (tenant ? ttlMs : negativeTtlMs);
          return tenant;
        },
        (err: unknown) => {
          if (entries.get(slug) === entry) entries.delete(slug);
          throw err;
        },
      );
    entries.set(slug, entry);
    evictOverflow();
    return entry.value;
  }

  // Maps iterate in insertion order, so the first keys are the oldest entries.
  function evictOverflow(): void {
    for (const key of entries.keys()) {
      if (entries.size <= maxEntries) return;
      entries.delete(key);
    }
  }

  function invalidate(slug?: string): void {
    if (slug === undefined) entries.clear();
    else entries.delete(slug);
  }

  return { find, invalidate };
}
