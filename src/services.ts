import { AuditLog } from "./audit/audit-log.ts";
import { createTenantCache, type TenantCache } from "./auth/tenant-cache.ts";
import type { Config } from "./config.ts";
import { openDatabase, type Database } from "./db/database.ts";
import { EventService } from "./events/event-service.ts";
import { HookRunner } from "./events/hook-runner.ts";
import { OutboxSweeper } from "./events/outbox-sweeper.ts";
import path from "node:path";
import { FileStore } from "./files/file-store.ts";
import { BullmqExecutor } from "./execution/bullmq-executor.ts";
import { ChangeBus } from "./execution/change-bus.ts";
import { EmbeddedExecutor } from "./execution/embedded-executor.ts";
import type { Executor, JobTick } from "./execution/executor.ts";
import { BullmqScheduler } from "./jobs/bullmq-scheduler.ts";
import { CronScheduler } from "./jobs/cron-scheduler.ts";
import type { JobScheduler } from "./jobs/job-scheduler.ts";
import { JobRunner } from "./jobs/job-runner.ts";
import { JobService } from "./jobs/job-service.ts";
import type { Logger } from "./logger.ts";
import { InstallRepository } from "./plugins/install-repository.ts";
import { InstallService } from "./plugins/install-service.ts";
import { InvocationRecorder } from "./plugins/invocation-recorder.ts";
import { HealthMonitor } from "./plugins/health-monitor.ts";
import { Invoker } from "./plugins/invoker.ts";
import { UsageCounter } from "./plugins/usage-counter.ts";
import { RetentionSweeper } from "./retention/retention-sweeper.ts";
import { Metrics } from "./metrics/metrics.ts";
import type { CapabilityDeps } from "./capabilities/capability-deps.ts";
import { PluginCodeStore } from "./plugins/plugin-code.ts";
import { RateLimits } from "./limits/rate-limits.ts";
import { EventBudget } from "./events/event-budget.ts";
import { SecretStore } from "./plugins/secret-store.ts";
import { uploadPlugin, type UploadOptions, type UploadResult } from "./plugins/upload-service.ts";
import { SandboxPool } from "./sandbox/sandbox-pool.ts";
import { checkUrl, createEgressAgent, isEgressRefused } from "./net/egress-guard.ts";
import { DeliveryRunner } from "./webhooks/delivery-runner.ts";
import { DeliveryStore } from "./webhooks/delivery-store.ts";

/**
 * What a process does with background work. `all`: embedded mode, the API process runs it
 * in-process. `api`: scaled mode, only enqueue. `worker`: consume (and sweep), no HTTP.
 */
export type ProcessRole = "all" | "api" | "worker";

/** Every long-lived dependency of a host process, built once and handed to the API. */
export interface Services {
  config: Config;
  logger: Logger;
  role: ProcessRole;
  db: Database;
  sandbox: SandboxPool;
  executor: Executor;
  tenants: TenantCache;
  installs: InstallRepository;
  installService: InstallService;
  secrets: SecretStore;
  recorder: InvocationRecorder;
  invoker: Invoker;
  events: EventService;
  hookRunner: HookRunner;
  deliveries: DeliveryStore;
  sweeper: OutboxSweeper;
  jobs: JobService;
  schedules: JobScheduler;
  /** Route limits per install, emit and host-event limits per tenant (Redis in scaled mode). */
  rateLimits: RateLimits;
  files: FileStore;
  usage: UsageCounter;
  metrics: Metrics;
  audit: AuditLog;
  /** Set on SIGTERM: readiness fails and connections are closed after their answer. */
  draining: boolean;
  upload(tenant: { id: string; slug: string }, bundle: Buffer, opts?: UploadOptions): Promise<UploadResult>;
  close(): Promise<void>;
}

export interface ServiceOverrides {
  /** Tests hand in their own database (a fresh PGlite or Postgres database). */
  db?: Database;
  role?: ProcessRole;
}

export async function createServices(config: Config, logger: Logger, overrides: ServiceOverrides = {}): Promise<Services> {
  const role = overrides.role ?? (config.redisUrl ? "api" : "all");
  if (role !== "all" && !config.redisUrl) throw new Error(`the ${role} role needs REDIS_URL (BullMQ)`);
  const db = overrides.db ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const prisma = db.prisma;
  const sandbox = new SandboxPool({ ...config.sandbox, logger });
  await sandbox.start();
  const executor: Executor = config.redisUrl
    ? new BullmqExecutor({ redisUrl: config.redisUrl, prefix: config.executor.queuePrefix, concurrency: config.executor.concurrency, logger })
    : new EmbeddedExecutor(logger, config.executor.concurrency);
  const tenants = createTenantCache((slug) => prisma.tenant.findUnique({ where: { slug }, select: { id: true, slug: true, name: true } }));
  // Scaled mode pushes install changes to every process, so its cache can keep entries longer.
  const installs = new InstallRepository(prisma, config.redisUrl ? 10_000 : 1000, { platform: config.limits });
  const changes = config.redisUrl
    ? new ChangeBus(config.redisUrl, `${config.executor.queuePrefix}:install-changes`, (tenantId) => installs.invalidate(tenantId, { remote: true }), logger)
    : undefined;
  await changes?.start();
  installs.onInvalidate((tenantId, remote) => {
    if (!remote) changes?.publish(tenantId);
  });
  const secrets = new SecretStore(prisma, config.secretsKey);
  const recorder = new InvocationRecorder(prisma, logger);
  const code = new PluginCodeStore(prisma, config.upload);
  const files = new FileStore(prisma, path.join(config.dataDir, "files"));
  const usage = new UsageCounter(db.sql, logger);
  // One guarded agent for everything plugins reach out to: ctx.http and webhook deliveries.
  const egress = createEgressAgent({ allowPrivate: config.allowPrivateEgress, connections: 64 });
  const capabilities: CapabilityDeps = {
    sql: db.sql,
    prisma,
    files,
    usage,
    http: { dispatcher: egress, allowPrivate: config.allowPrivateEgress, ...config.http },
    llm: config.llm,
    email: config.email,
    db: config.db,
    limits: config.limits,
  };
  const metrics = new Metrics({ sandbox: () => sandbox.stats(), queueDepth: () => executor.depth() });
  const rateLimits = new RateLimits({ redisUrl: config.redisUrl, prefix: config.executor.queuePrefix, logger });
  const eventBudget = new EventBudget(
    { sql: db.sql, limits: rateLimits, onRefused: (reason) => metrics.emitsRefused.inc({ reason }) },
    { treeMax: config.emit.treeMax, emitRate: config.emit.tenantRate, emitPeriodSeconds: config.emit.tenantPeriodSeconds },
  );
  const { maxDepth, maxPerCall } = config.emit;
  const invoker = new Invoker({ sandbox, code, secrets, recorder, capabilities, metrics, emitLimits: { maxDepth, maxPerCall }, eventBudget });
  // A claim outlasts the longest transform plus the longest send, so it is never taken from a live attempt.
  const deliveryLockMs = config.webhooks.timeoutMs + config.limits.timeoutMs + 5000;
  const events = new EventService(db.sql, executor, logger, executor.engine === "embedded" ? deliveryLockMs : 0);
  installs.onInvalidate((tenantId) => events.invalidate(tenantId));
  invoker.bindPublisher((tenant, input) => events.publish(tenant, input));
  const hookRunner = new HookRunner({ prisma, installs, invoker, executor, logger });
  const deliveries = new DeliveryStore(db.sql, deliveryLockMs);
  const deliveryRunner = new DeliveryRunner({
    store: deliveries,
    installs,
    invoker,
    secrets,
    executor,
    logger,
    dispatcher: egress,
    checkUrl: (url) => void checkUrl(url, { allowPrivate: config.allowPrivateEgress }),
    isRefusal: isEgressRefused,
    timeoutMs: config.webhooks.timeoutMs,
    retryBaseMs: config.webhooks.retryBaseMs,
    onOutcome: (outcome) => metrics.deliveries.inc({ outcome }),
  });
  const sweeper = new OutboxSweeper({ prisma, executor, logger }, config.executor);
  const jobs = new JobService({ prisma, executor, logger, graceMs: config.sandbox.graceMs });
  const jobRunner = new JobRunner({ prisma, installs, invoker });
  const onTick = async (tick: JobTick) => {
    const install = await installs.find({ id: tick.tenantId, slug: tick.tenantSlug }, tick.installId);
    if (!install || install.status !== "enabled") return; // its schedule is being removed
    await jobs.trigger(install, tick.jobName, "cron", tick.scheduledFor ? new Date(tick.scheduledFor) : undefined);
  };
  const schedules: JobScheduler =
    executor instanceof BullmqExecutor
      ? new BullmqScheduler({ prisma, installs, logger }, executor.queue)
      : new CronScheduler({ prisma, installs, logger }, onTick);
  let health: HealthMonitor | undefined;
  let retention: RetentionSweeper | undefined;
  if (role !== "api") {
    await executor.startWorker(async (item) => {
      if (item.kind === "hook") await hookRunner.run(item.id);
      else if (item.kind === "delivery") await deliveryRunner.run(item.id, item.preclaimed);
      else if (item.kind === "job") await jobRunner.run(item.id);
      else if (item.kind === "job-tick" && item.tick) await onTick(item.tick);
    });
    await sweeper.start();
    // Health checks are background work too: never in an enqueue-only API process.
    health = new HealthMonitor({ sql: db.sql, installs, invoker, events, usage, logger }, { tickMs: config.health.tickMs });
    health.start();
    // So is pruning old history: one background process at a time sweeps (advisory lock).
    retention = new RetentionSweeper({ sql: db.sql, logger, pruned: metrics.retentionPruned }, config.retention);
    retention.start();
  }
  // Idempotent: every process puts the schedules in place at boot (BullMQ) or owns them (embedded).
  await schedules.syncAll();
  // Workers also do it periodically: after Redis lost its data, ticks come back without a reboot.
  const resync =
    executor.engine === "bullmq" && role === "worker" && config.executor.scheduleResyncMs > 0
      ? setInterval(() => void schedules.syncAll().catch((err: unknown) => logger.warn({ err }, "schedule resync failed")), config.executor.scheduleResyncMs)
      : undefined;
  resync?.unref();
  const installService = new InstallService({ prisma, installs, sandbox, invoker, events, logger, schedules, flushLogs: () => recorder.flush() });
  let closing: Promise<void> | undefined;
  return {
    config,
    logger,
    role,
    db,
    sandbox,
    executor,
    tenants,
    installs,
    installService,
    secrets,
    recorder,
    invoker,
    events,
    hookRunner,
    deliveries,
    sweeper,
    jobs,
    schedules,
    rateLimits,
    files,
    usage,
    metrics,
    draining: false,
    audit: new AuditLog(prisma, logger),
    upload: (tenant, bundle, opts) =>
      uploadPlugin(
        { prisma, sandbox, installs, upload: config.upload, limits: config.limits, invoker, events, logger, schedules, disableDependent: (t, i) => installService.disableInstall(t, i) },
        tenant,
        bundle,
        opts,
      ),
    // Once: a second call (SIGTERM twice, a test's cleanup after main's) gets the same promise.
    close() {
      closing ??= closeInOrder(logger, [
        ["schedule resync", () => clearInterval(resync)],
        ["change bus", () => changes?.close()],
        ["outbox sweeper", () => sweeper.stop()],
        ["health monitor", () => health?.stop()],
        ["retention sweeper", () => retention?.stop()],
        ["schedules", () => schedules.close()],
        ["executor", () => executor.close()],
        ["invocation recorder", () => recorder.flush()],
        ["usage counters", () => usage.close()],
        ["sandbox", () => sandbox.close()],
        ["egress agent", () => egress.close()],
        ["rate limits", () => rateLimits.close()],
        ["database", () => (overrides.db ? undefined : db.close())],
      ]);
      return closing;
    },
  };
}

/**
 * Runs every shutdown step in order, each even when an earlier one failed (a Redis that went away
 * must not keep the sandbox processes or the database open), logs each failure, then throws them
 * together.
 */
async function closeInOrder(logger: Logger, steps: [name: string, step: () => unknown][]): Promise<void> {
  const errors: Error[] = [];
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (err) {
      logger.error({ err, step: name }, "a shutdown step failed; the others still run");
      errors.push(new Error(`${name}: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
    }
  }
  if (errors.length) throw new AggregateError(errors, `shutdown: ${errors.map((e) => e.message).join("; ")}`);
}
