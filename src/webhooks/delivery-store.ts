import { Batcher } from "../execution/batcher.ts";
import type { SqlExec } from "../db/database.ts";

/** A pending delivery claimed for one attempt, with its event. */
export interface ClaimedDelivery {
  id: string;
  tenantId: string;
  tenantSlug: string;
  installId: string;
  eventId: string;
  webhook: string;
  eventType: string;
  payload: string | null;
  attempts: number;
  maxAttempts: number;
  event: { data: unknown; occurredAt: Date };
  /** Epoch ms until which this process holds it (claim time + lock). */
  lockedUntil: number;
}

/** How an attempt (or a decision not to attempt) leaves a delivery. */
export interface DeliveryOutcome {
  id: string;
  status: "pending" | "delivered" | "failed" | "skipped";
  attempts: number;
  payload: string | null;
  nextAttemptAt: Date | null;
  lastStatusCode: number | null;
  error: string | null;
  /** The attempt row to append; absent when nothing was tried (plugin disabled, transform skipped). */
  attempt?: { number: number; startedAt: Date; durationMs: number; statusCode: number | null; error: string | null; response: string | null };
}

/**
 * The delivery rows' SQL, on the direct connection (not Prisma: this is the hot path). Claims and
 * outcomes of deliveries running together are one statement each, as hook runs' are.
 */
export class DeliveryStore {
  private readonly claimer: Batcher<string, ClaimedDelivery | undefined>;
  private readonly finisher: Batcher<DeliveryOutcome, undefined>;

  constructor(
    private readonly sql: SqlExec,
    /** How long a claim holds: longer than a transform plus a send can take. */
    lockMs: number,
  ) {
    this.claimer = new Batcher(async (ids) => {
      const rows = await claim(sql, ids, lockMs);
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => byId.get(id));
    }, { maxSize: 200, delayMs: 2 });
    this.finisher = new Batcher(async (outcomes) => {
      await finish(sql, outcomes);
      return outcomes.map(() => undefined);
    }, { maxSize: 200, delayMs: 2 });
  }

  /** The delivery, if it is pending and no other worker holds it; it is then held for this attempt. */
  claim(id: string): Promise<ClaimedDelivery | undefined> {
    return this.claimer.add(id);
  }

  /** Records the outcome (only over a still-pending row, so a duplicate run cannot rewrite history). */
  async finish(outcome: DeliveryOutcome): Promise<void> {
    await this.finisher.add(outcome);
  }

  /**
   * Puts a finished delivery back to pending for a fresh round of `maxAttempts` attempts, same id
   * and same body. False when it does not exist for this install or is still pending.
   */
  async replay(installId: string, id: string, maxAttempts: number): Promise<boolean> {
    const rows = await this.sql.query(
      `UPDATE webhook_deliveries SET status = 'pending', max_attempts = attempts + $3, next_attempt_at = now(),
              locked_until = NULL, finished_at = NULL, error = NULL
       WHERE id = $1::uuid AND install_id = $2::uuid AND status <> 'pending'
       RETURNING id`,
      [id, installId, maxAttempts],
    );
    return rows.length > 0;
  }
}

interface ClaimRow {
  id: string;
  tenant_id: string;
  tenant_slug: string;
  install_id: string;
  event_id: string;
  webhook: string;
  event_type: string;
  payload: string | null;
  attempts: number;
  max_attempts: number;
  data: unknown;
  occurred_at: Date | string;
}

async function claim(sql: SqlExec, ids: string[], lockMs: number): Promise<ClaimedDelivery[]> {
  const claimedAt = Date.now();
  const rows = await sql.query<ClaimRow>(
    `WITH claimed AS (
       UPDATE webhook_deliveries d SET locked_until = now() + make_interval(secs => $2::double precision / 1000)
       WHERE d.id IN (SELECT value::uuid FROM json_array_elements_text($1::json))
         AND d.status = 'pending' AND (d.locked_until IS NULL OR d.locked_until < now())
       RETURNING d.id, d.tenant_id, d.install_id, d.event_id, d.webhook, d.event_type, d.payload, d.attempts, d.max_attempts)
     SELECT c.*, t.slug AS tenant_slug, e.data, e.occurred_at
     FROM claimed c JOIN events e ON e.id = c.event_id JOIN tenants t ON t.id = c.tenant_id`,
    [JSON.stringify(ids), lockMs],
  );
  return rows.map((r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    tenantSlug: r.tenant_slug,
    installId: r.install_id,
    eventId: r.event_id,
    webhook: r.webhook,
    eventType: r.event_type,
    payload: r.payload,
    attempts: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    event: { data: r.data, occurredAt: new Date(r.occurred_at) },
    lockedUntil: claimedAt + lockMs,
  }));
}

async function finish(sql: SqlExec, outcomes: DeliveryOutcome[]): Promise<void> {
  const clean = (s: string | null | undefined) => (s == null ? null : s.replaceAll("\0", "\uFFFD"));
  const rows = outcomes.map((o) => ({
    id: o.id,
    status: o.status,
    attempts: o.attempts,
    payload: o.payload,
    next_attempt_at: o.nextAttemptAt?.toISOString() ?? null,
    last_status_code: o.lastStatusCode,
    error: clean(o.error),
    attempt: o.attempt?.number ?? null,
    started_at: o.attempt?.startedAt.toISOString() ?? null,
    duration_ms: o.attempt?.durationMs ?? null,
    status_code: o.attempt?.statusCode ?? null,
    attempt_error: clean(o.attempt?.error),
    response: clean(o.attempt?.response),
  }));
  await sql.query(
    `WITH x AS (
       SELECT * FROM json_to_recordset($1::json) AS x(id uuid, status text, attempts int, payload text, next_attempt_at timestamptz,
         last_status_code int, error text, attempt int, started_at timestamptz, duration_ms int, status_code int,
         attempt_error text, response text)),
     u AS (
       UPDATE webhook_deliveries d SET status = x.status, attempts = x.attempts, payload = COALESCE(d.payload, x.payload),
              next_attempt_at = COALESCE(x.next_attempt_at, d.next_attempt_at), locked_until = NULL,
              last_status_code = COALESCE(x.last_status_code, d.last_status_code), error = x.error,
              finished_at = CASE WHEN x.status = 'pending' THEN NULL ELSE now() END
       FROM x WHERE d.id = x.id AND d.status = 'pending'
       RETURNING d.id)
     INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response)
     SELECT x.id, x.attempt, x.started_at, x.duration_ms, x.status_code, x.attempt_error, x.response
     FROM x JOIN u ON u.id = x.id WHERE x.attempt IS NOT NULL`,
    [JSON.stringify(rows)],
  );
}
