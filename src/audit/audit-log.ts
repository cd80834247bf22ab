import type { Prisma, PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../logger.ts";

export type AuditTargetType = "plugin" | "secret" | "job" | "delivery" | "tenant";

/** One admin action that succeeded. `details` never holds a secret's value (names only). */
export interface AuditRecord {
  tenantId: string;
  /** The token's sub. */
  actor: string;
  actorRole: string;
  /** plugin.installed, plugin.upgraded, secret.set, config.changed, job.run_now, … */
  action: string;
  targetType: AuditTargetType;
  targetId: string;
  pluginSlug?: string | null;
  details?: Record<string, unknown>;
  ip?: string | null;
}

/** Where a page starts: entries strictly older than `at` (and, at the same time, ordered before `id`). */
export interface AuditCursor {
  at: Date;
  id?: string;
}

export interface AuditQuery {
  limit: number;
  before?: AuditCursor;
  action?: string;
  plugin?: string;
}

export interface AuditEntryView {
  id: string;
  actor: string;
  actor_role: string;
  action: string;
  target_type: string;
  target_id: string;
  plugin: string | null;
  details: unknown;
  ip: string | null;
  created_at: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// Why a cursor and not just the time: entries written in the same millisecond would be skipped
// at a page boundary by `created_at < before`; (created_at, id) is a total order, so none are.
// `~` is unreserved in URLs, so the cursor needs no escaping in a query string.
export function encodeCursor(row: { createdAt: Date; id: string }): string {
  return `${row.createdAt.toISOString()}~${row.id}`;
}

/** A `next_before` cursor, or a plain ISO time (entries before it); undefined when neither. */
export function decodeCursor(value: string): AuditCursor | undefined {
  const [time, id, ...rest] = value.split("~");
  if (rest.length || (id !== undefined && !UUID.test(id))) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}T/.test(time)) return undefined;
  const at = new Date(time);
  if (Number.isNaN(at.getTime())) return undefined;
  return id === undefined ? { at } : { at, id: id.toLowerCase() };
}

/** The tenant's audit log: who uploaded, enabled, rolled back, set a secret, ran a job, … */
export class AuditLog {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly logger: Logger,
  ) {}

  /**
   * Writes one entry. Never rejects: the action it describes already happened, so a failed
   * write is logged (with everything but the details) rather than turned into a failed request.
   */
  async record(entry: AuditRecord): Promise<void> {
    try {
      await this.prisma.auditEntry.create({
        data: {
          tenantId: entry.tenantId,
          actor: entry.actor,
          actorRole: entry.actorRole,
          action: entry.action,
          targetType: entry.targetType,
          targetId: entry.targetId,
          pluginSlug: entry.pluginSlug ?? null,
          details: (entry.details ?? {}) as Prisma.InputJsonObject,
          ip: entry.ip ?? null,
        },
      });
    } catch (err) {
      const { details: _details, ...what } = entry;
      this.logger.error({ err, audit: what }, "audit entry could not be written");
    }
  }

  /** Newest first; `nextBefore` is the cursor of the next page, null on the last one. */
  async list(tenantId: string, q: AuditQuery): Promise<{ entries: AuditEntryView[]; nextBefore: string | null }> {
    const before = q.before;
    const where: Prisma.AuditEntryWhereInput = {
      tenantId,
      ...(q.action ? { action: q.action } : {}),
      ...(q.plugin ? { pluginSlug: q.plugin } : {}),
      ...(before
        ? { OR: [{ createdAt: { lt: before.at } }, ...(before.id ? [{ createdAt: before.at, id: { lt: before.id } }] : [])] }
        : {}),
    };
    const rows = await this.prisma.auditEntry.findMany({ where, orderBy: [{ createdAt: "desc" }, { id: "desc" }], take: q.limit });
    return {
      entries: rows.map(auditEntryView),
      nextBefore: rows.length === q.limit ? encodeCursor(rows[rows.length - 1]) : null,
    };
  }
}

type AuditRow = Prisma.AuditEntryGetPayload<object>;

function auditEntryView(r: AuditRow): AuditEntryView {
  return {
    id: r.id,
    actor: r.actor,
    actor_role: r.actorRole,
    action: r.action,
    target_type: r.targetType,
    target_id: r.targetId,
    plugin: r.pluginSlug,
    details: r.details,
    ip: r.ip,
    created_at: r.createdAt.toISOString(),
  };
}
