import { randomUUID } from "node:crypto";
import { AppError } from "../errors.ts";
import type { Executor } from "../execution/executor.ts";
import { workKey } from "../execution/executor.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../logger.ts";

const MAX_DATA_BYTES = 256 * 1024;

export interface PublishInput {
  type: string;
  data: unknown;
  /** host | api | test | platform | plugin:<slug> */
  source: string;
  depth?: number;
}

/** What a hook receives as `event`, and what the events API shows. */
export interface EventView {
  id: string;
  type: string;
  tenant: string;
  data: unknown;
  occurred_at: string;
  source: string;
  depth: number;
}

export interface Published {
  event: EventView;
  hookRuns: { id: string; installId: string; slug: string }[];
}

type Tenant = { id: string; slug: string };

/**
 * Stores an event and one pending hook run per enabled install of the same tenant that
 * declared it, in one transaction, then hands the runs to the executor. If the hand-off is
 * lost the rows stay pending and the outbox sweep enqueues them again.
 */
export class EventService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly executor: Executor,
    private readonly logger: Logger,
  ) {}

  async publish(tenant: Tenant, input: PublishInput): Promise<Published> {
    const data = input.data === undefined ? {} : input.data;
    const size = Buffer.byteLength(JSON.stringify(data) ?? "null");
    if (size > MAX_DATA_BYTES) throw new AppError("invalid_request", `Event data is ${size} bytes; the limit is ${MAX_DATA_BYTES}`);
    const subscribers = await this.subscribers(tenant.id, input.type);
    const id = randomUUID();
    const occurredAt = new Date();
    const runs = subscribers.map((s) => ({
      id: randomUUID(),
      eventId: id,
      tenantId: tenant.id,
      installId: s.id,
      eventType: input.type,
      status: "pending",
      maxAttempts: s.max_attempts ?? 3,
      nextAttemptAt: occurredAt,
    }));
    await this.prisma.$transaction([
      this.prisma.event.create({
        data: { id, tenantId: tenant.id, type: input.type, data: data as object, source: input.source, depth: input.depth ?? 0, occurredAt },
      }),
      this.prisma.hookRun.createMany({ data: runs }),
    ]);
    for (const run of runs) {
      const item = { kind: "hook" as const, id: run.id };
      await this.executor.enqueue(item, { dedupeKey: workKey(item, 0) }).catch((err: unknown) => {
        this.logger.warn({ err, hookRun: run.id }, "enqueue failed; the outbox sweep will retry");
      });
    }
    return {
      event: { id, type: input.type, tenant: tenant.slug, data, occurred_at: occurredAt.toISOString(), source: input.source, depth: input.depth ?? 0 },
      hookRuns: runs.map((r, i) => ({ id: r.id, installId: r.installId, slug: subscribers[i].slug })),
    };
  }

  // Enabled installs of this tenant whose current version declares the event.
  private subscribers(tenantId: string, type: string) {
    return this.prisma.$queryRaw<{ id: string; slug: string; max_attempts: number | null }[]>`
      SELECT i.id, i.slug, (v.manifest->'runtime'->'retry'->>'max_attempts')::int AS max_attempts
      FROM installs i JOIN plugin_versions v ON v.id = i.current_version_id
      WHERE i.tenant_id = ${tenantId}::uuid AND i.status = 'enabled'
        AND v.manifest->'events' @> jsonb_build_array(${type}::text)
      ORDER BY i.created_at`;
  }
}

export function eventView(row: { id: string; type: string; data: unknown; occurredAt: Date; source: string; depth: number }, tenantSlug: string): EventView {
  return { id: row.id, type: row.type, tenant: tenantSlug, data: row.data, occurred_at: row.occurredAt.toISOString(), source: row.source, depth: row.depth };
}
