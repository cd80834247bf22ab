import { randomUUID } from "node:crypto";
import { AppError } from "../errors.ts";
import type { Executor, WorkItem } from "../execution/executor.ts";
import type { ClaimedDelivery } from "../webhooks/delivery-store.ts";
import { workKey } from "../execution/executor.ts";
import type { SqlExec } from "../db/database.ts";
import type { Logger } from "../logger.ts";
import type { EnqueueOptions } from "../execution/executor.ts";
import type { Prisma } from "../generated/prisma/client.ts";

const MAX_DATA_BYTES = 256 * 1024;

export interface PublishInput {
  type: string;
  data: unknown;
  /** host | api | test | platform | plugin:<slug> */
  source: string;
  depth?: number;
  /** The root of the chain this event belongs to (a plugin's emit from a hook); none: it is a root. */
  rootId?: string;
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
  deliveries: { id: string; installId: string; webhook: string }[];
}

type Tenant = { id: string; slug: string };

/** An enabled install of the tenant that hooks the type (webhook null) or has a webhook on it. */
interface Subscriber {
  installId: string;
  slug: string;
  webhook: string | null;
  maxAttempts: number;
}

const SUBSCRIBERS_TTL_MS = 1000;

/**
 * Stores an event, one pending hook run per enabled install of the same tenant that declared
 * it and one pending delivery per webhook defined on it, in one statement, then hands the work
 * to the executor. If the hand-off is lost the rows stay pending and the outbox sweep enqueues
 * them again: nothing is run or sent that was not recorded first.
 */
export class EventService {
  // Who subscribes to (tenant, type), read once a second at most: reading the manifests per
  // event cost more than writing the event. Install changes in this process invalidate at once;
  // the TTL bounds how late another process sees them (as for the install cache).
  private readonly subscriberCache = new Map<string, { at: number; value: Promise<Subscriber[]> }>();

  constructor(
    private readonly sql: SqlExec,
    private readonly executor: Executor,
    private readonly logger: Logger,
    /**
     * Embedded engine only: deliveries are written already claimed for this long and handed to
     * the in-process runner with everything it needs, which saves it the claim statement. (A
     * BullMQ job can be run twice by stalled-job recovery; there the database claim decides.)
     */
    private readonly preclaimMs = 0,
  ) {}

  /** Forgets the tenant's subscribers (an install was added, changed or removed). */
  invalidate(tenantId: string): void {
    for (const key of this.subscriberCache.keys()) if (key.startsWith(`${tenantId}\0`)) this.subscriberCache.delete(key);
  }

  /**
   * publish() inside the caller's Prisma transaction: the event, its hook runs and deliveries are
   * written through `tx`, so they commit or roll back together with the caller's own rows (a user,
   * a file), and nothing reaches the executor until `handOff()`, which the caller runs once the
   * transaction committed (work handed off earlier could run before its rows are visible; a lost
   * hand-off is found by the outbox sweep, as for publish).
   */
  async publishWithin(tx: Prisma.TransactionClient, tenant: Tenant, input: PublishInput): Promise<{ published: Published; handOff(): Promise<void> }> {
    const held: { item: WorkItem; opts?: EnqueueOptions }[] = [];
    const real = this.executor;
    const holding: Executor = {
      engine: real.engine,
      enqueue: async (item, opts) => void held.push({ item, opts }),
      startWorker: (handler) => real.startWorker(handler),
      depth: () => real.depth(),
      close: () => real.close(),
    };
    const sql: Pick<SqlExec, "query"> = { query: <T>(text: string, params: unknown[] = []) => tx.$queryRawUnsafe<T[]>(text, ...params) };
    // why: the very same publish (checks, subscriber cache, statement), with only its two outlets
    // swapped, so the transactional path cannot drift from the ordinary one.
    const within = Object.create(this, { sql: { value: sql }, executor: { value: holding } }) as EventService;
    const published = await within.publish(tenant, input);
    return {
      published,
      handOff: async () => {
        for (const { item, opts } of held) {
          await real.enqueue(item, opts).catch((err: unknown) => {
            this.logger.warn({ err, item: { kind: item.kind, id: item.id } }, "enqueue failed; the outbox sweep will retry");
          });
        }
      },
    };
  }

  async publish(tenant: Tenant, input: PublishInput): Promise<Published> {
    const data = input.data === undefined ? {} : input.data;
    const json = JSON.stringify(data) ?? "null";
    const size = Buffer.byteLength(json);
    if (size > MAX_DATA_BYTES) throw new AppError("invalid_request", `Event data is ${size} bytes; the limit is ${MAX_DATA_BYTES}`);
    // jsonb cannot hold U+0000; an escaped "\u0000" (not preceded by an escaping backslash) is one.
    if (/(?:^|[^\\])(?:\\\\)*\\u0000/.test(json)) throw new AppError("invalid_request", "Event data must not contain NUL characters (\\u0000)");
    const id = randomUUID();
    const occurredAt = new Date();
    const depth = input.depth ?? 0;
    const subscribers = await this.subscribers(tenant.id, input.type);
    const runs = subscribers.filter((s) => s.webhook === null).map((s) => ({ id: randomUUID(), install_id: s.installId, max_attempts: s.maxAttempts, slug: s.slug }));
    const deliveries = subscribers
      .filter((s) => s.webhook !== null)
      .map((s) => ({ id: randomUUID(), install_id: s.installId, webhook: s.webhook!, max_attempts: s.maxAttempts }));
    // One statement (atomic on its own): on the embedded database every round trip is paid in
    // the API's event loop, and this is the path every event takes.
    await this.sql.query(PUBLISH_SQL, [
      id,
      tenant.id,
      input.type,
      json,
      input.source,
      depth,
      occurredAt.toISOString(),
      JSON.stringify(runs),
      JSON.stringify(deliveries),
      this.preclaimMs,
      input.rootId ?? null,
    ]);
    const lockedUntil = Date.now() + this.preclaimMs;
    const work: WorkItem[] = [
      ...runs.map((r): WorkItem => ({ kind: "hook", id: r.id })),
      ...deliveries.map((d): WorkItem => {
        if (this.preclaimMs === 0) return { kind: "delivery", id: d.id };
        const preclaimed: ClaimedDelivery = {
          id: d.id,
          tenantId: tenant.id,
          tenantSlug: tenant.slug,
          installId: d.install_id,
          eventId: id,
          webhook: d.webhook,
          eventType: input.type,
          payload: null,
          attempts: 0,
          maxAttempts: d.max_attempts,
          event: { data, occurredAt },
          lockedUntil,
        };
        return { kind: "delivery", id: d.id, preclaimed };
      }),
    ];
    for (const item of work) {
      await this.executor.enqueue(item, { dedupeKey: workKey(item, 0) }).catch((err: unknown) => {
        this.logger.warn({ err, item: { kind: item.kind, id: item.id } }, "enqueue failed; the outbox sweep will retry");
      });
    }
    return {
      event: { id, type: input.type, tenant: tenant.slug, data, occurred_at: occurredAt.toISOString(), source: input.source, depth },
      hookRuns: runs.map((r) => ({ id: r.id, installId: r.install_id, slug: r.slug })),
      deliveries: deliveries.map((d) => ({ id: d.id, installId: d.install_id, webhook: d.webhook })),
    };
  }

  private subscribers(tenantId: string, type: string): Promise<Subscriber[]> {
    const key = `${tenantId}\0${type}`;
    const hit = this.subscriberCache.get(key);
    if (hit && Date.now() - hit.at < SUBSCRIBERS_TTL_MS) return hit.value;
    const value = this.sql
      .query<{ install_id: string; slug: string; webhook: string | null; max_attempts: number }>(SUBSCRIBERS_SQL, [tenantId, type])
      .then((rows) => rows.map((r) => ({ installId: r.install_id, slug: r.slug, webhook: r.webhook, maxAttempts: Number(r.max_attempts) })));
    this.subscriberCache.set(key, { at: Date.now(), value });
    value.catch(() => this.subscriberCache.delete(key));
    if (this.subscriberCache.size > 10_000) this.subscriberCache.delete(this.subscriberCache.keys().next().value as string);
    return value;
  }
}

// Enabled installs of the tenant whose current version hooks the type (webhook NULL) or defines
// webhooks on it (one row per webhook), with the attempts each allows, oldest install first.
// Hooks of a needs_configuration install get their run too, which HookRunner ends as skipped
// with what is missing: the admin sees in the history what did not run and why.
const SUBSCRIBERS_SQL = `
  SELECT i.id AS install_id, i.slug, NULL::text AS webhook,
         COALESCE((v.manifest->'runtime'->'retry'->>'max_attempts')::int, 3) AS max_attempts, i.created_at
  FROM installs i JOIN plugin_versions v ON v.id = i.current_version_id
  WHERE i.tenant_id = $1::uuid AND i.status IN ('enabled', 'needs_configuration') AND v.manifest->'events' @> jsonb_build_array($2::text)
  UNION ALL
  SELECT i.id, i.slug, w->>'name', COALESCE((w->'retry'->>'max_attempts')::int, 6), i.created_at
  FROM installs i JOIN plugin_versions v ON v.id = i.current_version_id
    CROSS JOIN LATERAL jsonb_array_elements(v.webhooks) AS w
  WHERE i.tenant_id = $1::uuid AND i.status = 'enabled' AND w->'on' @> jsonb_build_array($2::text)
  ORDER BY created_at`;

// $1 event id, $2 tenant id, $3 type, $4 data (JSON text), $5 source, $6 depth, $7 occurred_at,
// $8 hook runs [{id, install_id, max_attempts}], $9 deliveries [{id, install_id, webhook,
// max_attempts}], $10 ms the deliveries are written claimed for (0: not claimed), $11 the chain's
// root event (null: this event is a root). Postgres runs
// the foreign-key checks at the end of the statement, when the event row exists.
export const PUBLISH_SQL = `
  WITH ev AS (
    INSERT INTO events (id, tenant_id, type, data, source, depth, occurred_at, root_id)
    VALUES ($1::uuid, $2::uuid, $3, $4::jsonb, $5, $6, $7::timestamptz, $11::uuid)
  ), hooks AS (
    INSERT INTO hook_runs (id, event_id, tenant_id, install_id, event_type, status, max_attempts, next_attempt_at)
    SELECT x.id, $1::uuid, $2::uuid, x.install_id, $3, 'pending', x.max_attempts, $7::timestamptz
    FROM json_to_recordset($8::json) AS x(id uuid, install_id uuid, max_attempts int)
  )
  INSERT INTO webhook_deliveries (id, tenant_id, install_id, event_id, webhook, event_type, status, max_attempts, next_attempt_at, locked_until)
  SELECT x.id, $2::uuid, x.install_id, $1::uuid, x.webhook, $3, 'pending', x.max_attempts, $7::timestamptz,
         CASE WHEN $10::int > 0 THEN now() + make_interval(secs => $10::double precision / 1000) END
  FROM json_to_recordset($9::json) AS x(id uuid, install_id uuid, webhook text, max_attempts int)`;

export function eventView(row: { id: string; type: string; data: unknown; occurredAt: Date; source: string; depth: number }, tenantSlug: string): EventView {
  return { id: row.id, type: row.type, tenant: tenantSlug, data: row.data, occurred_at: row.occurredAt.toISOString(), source: row.source, depth: row.depth };
}
