// The statements of the retention sweep. Each deletes one bounded batch ($1 the cutoff as a
// timestamptz, $2 the batch size) in a single statement, so it is its own short transaction on
// either engine, and answers one row: rows deleted per kind. A parent whose children are many
// (an invocation's log lines, an event's hook runs) has them deleted first, in batches of their
// own, and is deleted only once none is left: no cascade then deletes rows beyond the batch, and
// every kind is counted.

/** What the sweep prunes; also the `kind` label of `sbh_retention_pruned_rows_total`. */
export type RetentionKind =
  | "invocations"
  | "plugin_logs"
  | "job_runs"
  | "webhook_deliveries"
  | "webhook_attempts"
  | "events"
  | "hook_runs"
  | "audit_log"
  | "usage_counters"
  | "email_messages";

export const RETENTION_KINDS: readonly RetentionKind[] = [
  "invocations",
  "plugin_logs",
  "job_runs",
  "webhook_deliveries",
  "webhook_attempts",
  "events",
  "hook_runs",
  "audit_log",
  "usage_counters",
  "email_messages",
];

/** Which `RETENTION_*_DAYS` setting a step follows. */
export type RetentionClock = "invocations" | "events" | "jobRuns" | "deliveries" | "audit" | "usage" | "emails";

export interface RetentionStep {
  clock: RetentionClock;
  /** The kinds the statement answers; the first drives the loop (a short batch ends it). */
  kinds: readonly [RetentionKind, ...RetentionKind[]];
  sql: string;
  /**
   * Run before each batch of `sql`, until it comes back short: deletes the children of the
   * parents that batch will take. `sql` takes only parents with no child left.
   */
  children?: { kind: RetentionKind; sql: string };
}

// The parents of the next batch, oldest first; `id` breaks ties so that the children's
// statements and the parents' find the same rows.
const DOOMED_INVOCATIONS = `
  SELECT i.id FROM invocations i WHERE i.created_at < $1::timestamptz ORDER BY i.created_at, i.id LIMIT $2`;

// An event that may go: no hook run of it is pending and no delivery of it is left (hook runs
// never return to pending, and no delivery is ever added to an old event). A root stays while
// its chain is live, because every emit in the chain counts itself on the root's row (see
// EventBudget): while any event of the chain is newer than the cutoff or has a hook run pending
// (only a running hook emits, and a new event gets its hook runs in the statement that inserts
// it). Its old, finished chain may go in the same batch, or in any order: nothing reads them.
const EVENT_MAY_GO = `
  e.occurred_at < $1::timestamptz
  AND NOT EXISTS (SELECT 1 FROM hook_runs h WHERE h.event_id = e.id AND h.status = 'pending')
  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)
  AND NOT EXISTS (
    SELECT 1 FROM events c WHERE c.root_id = e.id
      AND (c.occurred_at >= $1::timestamptz
           OR EXISTS (SELECT 1 FROM hook_runs ch WHERE ch.event_id = c.id AND ch.status = 'pending')))`;

// Order matters: deliveries go before events, because an event is kept while any delivery of it
// is (the deliveries follow their own clock, by when they finished).
export const RETENTION_STEPS: readonly RetentionStep[] = [
  {
    // An invocation's log lines first (found through plugin_logs.invocation_id); one call may
    // have logged LOG_MAX_LINES_PER_CALL lines, older ones more.
    clock: "invocations",
    kinds: ["invocations"],
    children: {
      kind: "plugin_logs",
      sql: `
        WITH gone AS (
          DELETE FROM plugin_logs WHERE id IN (
            SELECT id FROM plugin_logs WHERE invocation_id IN (${DOOMED_INVOCATIONS}) LIMIT $2)
          RETURNING 1)
        SELECT count(*)::int AS plugin_logs FROM gone`,
    },
    sql: `
      WITH gone AS (
        DELETE FROM invocations WHERE id IN (
          SELECT i.id FROM invocations i
          WHERE i.created_at < $1::timestamptz AND NOT EXISTS (SELECT 1 FROM plugin_logs l WHERE l.invocation_id = i.id)
          ORDER BY i.created_at, i.id LIMIT $2)
        RETURNING 1)
      SELECT count(*)::int AS invocations FROM gone`,
  },
  {
    // Lines the host logged outside any call (a denial it noticed, say).
    clock: "invocations",
    kinds: ["plugin_logs"],
    sql: `
      WITH gone AS (
        DELETE FROM plugin_logs WHERE id IN (
          SELECT id FROM plugin_logs WHERE invocation_id IS NULL AND created_at < $1::timestamptz LIMIT $2)
        RETURNING 1)
      SELECT count(*)::int AS plugin_logs FROM gone`,
  },
  {
    // Queued and running runs are work, not history. No ORDER BY: the (status, created_at) index
    // serves each status separately, and a global order would sort the whole backlog per batch.
    clock: "jobRuns",
    kinds: ["job_runs"],
    sql: `
      WITH gone AS (
        DELETE FROM job_runs WHERE id IN (
          SELECT id FROM job_runs
          WHERE status IN ('succeeded', 'failed', 'timed_out', 'skipped') AND created_at < $1::timestamptz
          LIMIT $2)
        RETURNING 1)
      SELECT count(*)::int AS job_runs FROM gone`,
  },
  {
    // Finished deliveries only, aged by when they finished (a replay restarts the clock). FOR
    // UPDATE SKIP LOCKED: a replay putting one back to pending at this moment either holds the
    // row (skipped here), committed first (the re-check sees pending), or waits and finds it gone.
    clock: "deliveries",
    kinds: ["webhook_deliveries", "webhook_attempts"],
    sql: `
      WITH doomed AS (
        SELECT id FROM webhook_deliveries
        WHERE finished_at < $1::timestamptz AND status IN ('delivered', 'failed', 'skipped')
        ORDER BY finished_at LIMIT $2
        FOR UPDATE SKIP LOCKED),
      attempts AS (DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM doomed) RETURNING 1),
      gone AS (DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM doomed) RETURNING 1)
      SELECT (SELECT count(*) FROM gone)::int AS webhook_deliveries, (SELECT count(*) FROM attempts)::int AS webhook_attempts`,
  },
  {
    // An event's hook runs first (one per install that hooks its type). The foreign keys
    // cascade; EVENT_MAY_GO keeps them from taking anything still wanted.
    clock: "events",
    kinds: ["events"],
    children: {
      kind: "hook_runs",
      sql: `
        WITH gone AS (
          DELETE FROM hook_runs WHERE id IN (
            SELECT id FROM hook_runs WHERE event_id IN (
              SELECT e.id FROM events e WHERE ${EVENT_MAY_GO} ORDER BY e.occurred_at, e.id LIMIT $2)
            LIMIT $2)
          RETURNING 1)
        SELECT count(*)::int AS hook_runs FROM gone`,
    },
    sql: `
      WITH gone AS (
        DELETE FROM events WHERE id IN (
          SELECT e.id FROM events e
          WHERE ${EVENT_MAY_GO} AND NOT EXISTS (SELECT 1 FROM hook_runs h WHERE h.event_id = e.id)
          ORDER BY e.occurred_at, e.id LIMIT $2)
        RETURNING 1)
      SELECT count(*)::int AS events FROM gone`,
  },
  {
    clock: "audit",
    kinds: ["audit_log"],
    sql: `
      WITH gone AS (
        DELETE FROM audit_log WHERE id IN (
          SELECT id FROM audit_log WHERE created_at < $1::timestamptz ORDER BY created_at LIMIT $2)
        RETURNING 1)
      SELECT count(*)::int AS audit_log FROM gone`,
  },
  {
    // Counters are per UTC day (see UsageCounter): a day goes once it is wholly past the cutoff.
    clock: "usage",
    kinds: ["usage_counters"],
    sql: `
      WITH gone AS (
        DELETE FROM usage_counters WHERE id IN (
          SELECT id FROM usage_counters WHERE day < ($1::timestamptz AT TIME ZONE 'UTC')::date ORDER BY day LIMIT $2)
        RETURNING 1)
      SELECT count(*)::int AS usage_counters FROM gone`,
  },
  {
    // ctx.email's record of what it sent or stored (the outbox when no SMTP server is set). No
    // ORDER BY: its index leads with the install, and any old batch is as good as the oldest.
    clock: "emails",
    kinds: ["email_messages"],
    sql: `
      WITH gone AS (
        DELETE FROM email_messages WHERE id IN (
          SELECT id FROM email_messages WHERE created_at < $1::timestamptz LIMIT $2)
        RETURNING 1)
      SELECT count(*)::int AS email_messages FROM gone`,
  },
];

// The two-int4 form of advisory locks has its own key space, so no single-key lock elsewhere
// (hashtext-keyed job and file locks, Prisma's migration lock) can ever collide with it.
const LOCK_CLASS = 0x52424852; // fixed and arbitrary: the retention sweep's key
const LOCK_OBJ = 1;

/**
 * Takes the sweep's session lock, or answers false when another session holds it, or this same
 * session does already (PGlite is one backend, where advisory locks are re-entrant).
 */
export const TRY_LOCK_SQL = `
  SELECT CASE WHEN EXISTS (
      SELECT 1 FROM pg_locks
      WHERE locktype = 'advisory' AND classid = ${LOCK_CLASS}::oid AND objid = ${LOCK_OBJ}::oid AND objsubid = 2
        AND granted AND pid = pg_backend_pid())
    THEN false ELSE pg_try_advisory_lock(${LOCK_CLASS}, ${LOCK_OBJ}) END AS ok`;

export const UNLOCK_SQL = `SELECT pg_advisory_unlock(${LOCK_CLASS}, ${LOCK_OBJ}) AS ok`;

/** For tests and operators: the same lock, held from elsewhere, makes sweeps skip. */
export const LOCK_SQL = `SELECT pg_advisory_lock(${LOCK_CLASS}, ${LOCK_OBJ})`;
