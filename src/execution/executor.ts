import type { ClaimedDelivery } from "../webhooks/delivery-store.ts";

/**
 * Background work (hook runs, job runs, webhook deliveries, cron ticks) behind one interface.
 * The database is the record of every item; an engine only decides when and where it runs.
 * A lost queue entry is therefore harmless: the outbox sweeper finds the row and enqueues again.
 */
export type WorkKind = "hook" | "job" | "job-tick" | "delivery";

export interface WorkItem {
  kind: WorkKind;
  /** The id of the row this work is about (a hook run, a job run, a delivery); for a tick, the schedule id. */
  id: string;
  /** A cron tick: which install's which job, and when it was due. */
  tick?: JobTick;
  /** Embedded engine: a delivery written already claimed, with what its first attempt needs. */
  preclaimed?: ClaimedDelivery;
}

export interface JobTick {
  installId: string;
  tenantId: string;
  tenantSlug: string;
  jobName: string;
  scheduledFor?: string;
}

export interface EnqueueOptions {
  delayMs?: number;
  /** Same key while queued = queued once. Engines dedupe on it; handlers stay idempotent anyway. */
  dedupeKey?: string;
}

export type WorkHandler = (item: WorkItem) => Promise<void>;

export interface Executor {
  readonly engine: "embedded" | "bullmq";
  enqueue(item: WorkItem, opts?: EnqueueOptions): Promise<void>;
  /** Consume work in this process (the embedded engine always does; BullMQ only in workers). */
  startWorker(handler: WorkHandler): Promise<void>;
  /** Items queued or running in this process (embedded) or in the queue (BullMQ). */
  depth(): Promise<number>;
  close(): Promise<void>;
}

/** Dedupe key for one attempt of one item: BullMQ refuses ':' in custom job ids, so '-'. */
export function workKey(item: WorkItem, attempt: number): string {
  return `${item.kind}-${item.id}-${attempt}`;
}
