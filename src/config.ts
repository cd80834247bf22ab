import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";

// The one place that reads process.env. Every key is listed, with a comment, in .env.example.

const bool = z
  .enum(["true", "false", "1", "0", "yes", "no", ""])
  .transform((v) => v === "true" || v === "1" || v === "yes");
const int = (dflt: number, min = 0) => z.coerce.number().int().min(min).default(dflt);

const EnvSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: int(3000),
  HOST: z.string().default("0.0.0.0"),
  DATA_DIR: z.string().default("./data"),
  DATABASE_URL: z.string().url().optional(),
  REDIS_URL: z.string().url().optional(),
  JWT_SECRET: z.string().min(16, "JWT_SECRET must be at least 16 characters").optional(),
  SECRETS_KEY: z.string().min(16, "SECRETS_KEY must be at least 16 characters").optional(),
  ALLOW_PRIVATE_EGRESS: bool.default(false),
  WEBHOOK_RETRY_BASE_MS: int(1000, 1),
  WEBHOOK_TIMEOUT_MS: int(15_000, 100),
  // ctx.http: a response must be complete within this time and size.
  HTTP_TIMEOUT_MS: int(10_000, 100),
  HTTP_MAX_RESPONSE_BYTES: int(5 * 1024 * 1024, 1024),
  LLM_BASE_URL: z.string().url().optional(),
  LLM_API_KEY: z.string().optional(),
  LLM_MODEL: z.string().optional(),
  LLM_TIMEOUT_MS: int(60_000, 100),
  SMTP_URL: z.string().optional(),
  EMAIL_FROM: z.string().default("SBH plugins <plugins@localhost>"),
  // ctx.db: the largest document a plugin may store, and the most rows one query returns.
  DB_MAX_DOCUMENT_BYTES: int(64 * 1024, 1024),
  DB_MAX_QUERY_LIMIT: int(100, 1),
  // On SIGTERM: how long in-flight requests and background work may take to finish.
  SHUTDOWN_TIMEOUT_MS: int(30_000, 100),
  METRICS_TOKEN: z.string().min(16, "METRICS_TOKEN must be at least 16 characters").optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),

  // Sandbox processes and the platform maxima a manifest's `resources` may only lower.
  SANDBOX_PROCESSES: int(2, 1),
  SANDBOX_IDLE_MS: int(5 * 60_000, 1000),
  SANDBOX_MAX_ISOLATES: int(500, 1),
  SANDBOX_GRACE_MS: int(1000, 100),
  // Calls of one install in flight at once (per host process); more get 429 plugin_busy.
  SANDBOX_MAX_CALLS_PER_INSTALL: int(64, 1),
  // After this many timeouts in a row an install's calls are refused (503 plugin_paused) for a
  // pause that starts here and doubles with each further timeout, up to the maximum.
  SANDBOX_TIMEOUT_STRIKES: int(3, 1),
  SANDBOX_TIMEOUT_PAUSE_MS: int(1000, 1),
  SANDBOX_TIMEOUT_PAUSE_MAX_MS: int(60_000, 1),
  // What one plugin call may log: lines, and characters of messages + fields. The rest is
  // dropped and counted in one closing line.
  LOG_MAX_LINES_PER_CALL: int(200, 1),
  LOG_MAX_CHARS_PER_CALL: int(256 * 1024, 1024),
  PLUGIN_TIMEOUT_MS: int(5000, 10),
  PLUGIN_JOB_TIMEOUT_MS: int(30_000, 10),
  PLUGIN_MEMORY_MB: int(128, 8),
  PLUGIN_MAX_DISK_MB: int(100, 1),
  // Quotas where the host pays for what a plugin stores: ctx.db documents and their JSON size
  // per (tenant, plugin), and ctx.files files per install (next to PLUGIN_MAX_DISK_MB).
  DB_MAX_DOCUMENTS: int(100_000, 1),
  DB_MAX_MB: int(100, 1),
  FILES_MAX_COUNT: int(10_000, 1),
  PLUGIN_RATE_LIMIT_CALLS: int(6000, 1),
  PLUGIN_RATE_LIMIT_PERIOD_S: int(60, 1),
  // Each job is a schedule every process keeps and a sandbox call per tick, so their number per
  // manifest is capped, and a schedule may fire at most once a minute unless the operator allows
  // node-cron's seconds field to repeat (tests of the scheduler do).
  PLUGIN_MAX_JOBS: int(20, 1),
  PLUGIN_ALLOW_SECOND_SCHEDULES: bool.default(false),

  // Background work: BullMQ key prefix, concurrency, and the outbox sweep that re-enqueues
  // work whose queue entry was lost (crash, Redis restart).
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default("sbh"),
  EXECUTOR_CONCURRENCY: int(128, 1),
  OUTBOX_SWEEP_MS: int(5000, 50),
  OUTBOX_STALE_MS: int(60_000, 100),
  // Scaled mode: how often workers put BullMQ job schedulers back in step with the database
  // (Redis keeps nothing after a restart without persistence). 0 = only at boot.
  SCHEDULE_RESYNC_MS: int(30_000, 0),
  // A chain of emits deeper than this, or more emits than this from one call, is cut.
  EMIT_MAX_DEPTH: int(8, 1),
  EMIT_MAX_PER_CALL: int(100, 1),
  // Events emitted under one root event (a host or API event, or a route's or job's emit), at
  // every depth together; and plugin emits per tenant per second. Past either, ctx.emit throws.
  EVENT_TREE_MAX: int(1000, 1),
  TENANT_EMIT_RATE: int(50, 1),
  TENANT_EMIT_PERIOD_S: int(1, 1),
  // POST /api/events per tenant per second (429 + Retry-After past it).
  TENANT_EVENT_RATE: int(1000, 1),
  // How often (ms) a background process looks for installs whose health check is due.
  HEALTH_TICK_MS: int(1000, 50),
  // Retention: history older than this many days is deleted (0 keeps it forever), by a sweep
  // every RETENTION_SWEEP_MS (0 = off) that deletes at most RETENTION_BATCH_SIZE rows a statement.
  RETENTION_INVOCATIONS_DAYS: int(14, 0),
  RETENTION_EVENTS_DAYS: int(30, 0),
  RETENTION_JOB_RUNS_DAYS: int(30, 0),
  RETENTION_DELIVERIES_DAYS: int(30, 0),
  RETENTION_AUDIT_DAYS: int(365, 0),
  RETENTION_USAGE_DAYS: int(400, 0),
  RETENTION_EMAILS_DAYS: int(30, 0),
  RETENTION_SWEEP_MS: int(3_600_000, 0),
  RETENTION_BATCH_SIZE: int(5000, 1),

  // Upload limits (zip bombs, zip slip and friends are refused before anything is inflated).
  UPLOAD_MAX_BYTES: int(5 * 1024 * 1024, 1024),
  UPLOAD_MAX_UNPACKED_BYTES: int(20 * 1024 * 1024, 1024),
  UPLOAD_MAX_ENTRIES: int(500, 1),
  UPLOAD_MAX_RATIO: int(100, 2),
  // Plugin code (JavaScript, and TypeScript as compiled) is parsed and compiled in every sandbox
  // process that runs the plugin, under its call's deadline: one module and all of them are capped.
  UPLOAD_MAX_MODULE_BYTES: int(2 * 1024 * 1024, 1024),
  UPLOAD_MAX_CODE_BYTES: int(5 * 1024 * 1024, 1024),
});

export type Env = z.infer<typeof EnvSchema>;

export interface Config {
  env: Env["NODE_ENV"];
  port: number;
  host: string;
  dataDir: string;
  databaseUrl?: string;
  redisUrl?: string;
  jwtSecret: string;
  secretsKey: Buffer;
  allowPrivateEgress: boolean;
  webhooks: { retryBaseMs: number; timeoutMs: number };
  http: { timeoutMs: number; maxResponseBytes: number };
  llm: { baseUrl?: string; apiKey?: string; model?: string; timeoutMs: number };
  email: { smtpUrl?: string; from: string };
  db: { maxDocumentBytes: number; maxQueryLimit: number };
  logLevel: Env["LOG_LEVEL"];
  metricsToken?: string;
  shutdownTimeoutMs: number;
  sandbox: {
    processes: number;
    idleMs: number;
    maxIsolates: number;
    graceMs: number;
    maxCallsPerInstall: number;
    timeouts: { strikes: number; pauseMs: number; maxPauseMs: number };
    log: { maxLines: number; maxChars: number };
  };
  limits: PlatformLimits;
  upload: { maxBytes: number; maxUnpackedBytes: number; maxEntries: number; maxRatio: number; maxModuleBytes: number; maxCodeBytes: number };
  executor: { queuePrefix: string; concurrency: number; sweepMs: number; staleMs: number; scheduleResyncMs: number };
  /** `tenantRate` emits per `tenantPeriodSeconds` per tenant. */
  emit: { maxDepth: number; maxPerCall: number; treeMax: number; tenantRate: number; tenantPeriodSeconds: number };
  /** POST /api/events per tenant per second. */
  hostEventRate: number;
  health: { tickMs: number };
  retention: {
    sweepMs: number;
    batchSize: number;
    /** Days kept per kind of history; 0 keeps it forever. */
    days: { invocations: number; events: number; jobRuns: number; deliveries: number; audit: number; usage: number; emails: number };
  };
}

/** The ceilings a plugin's manifest `resources` may lower but never raise; also the defaults. */
export interface PlatformLimits {
  timeoutMs: number;
  jobTimeoutMs: number;
  memoryMb: number;
  maxDiskMb: number;
  /** ctx.db: documents and MiB of document JSON per (tenant, plugin). */
  maxDbDocuments: number;
  maxDbMb: number;
  /** ctx.files: files per install (bytes are maxDiskMb). */
  maxFiles: number;
  rateLimit: { calls: number; periodSeconds: number };
  /** Jobs one manifest may declare. */
  maxJobs: number;
  /** Whether a job schedule may fire more often than once a minute (a repeating seconds field). */
  allowSecondSchedules: boolean;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Only what validating a package needs (upload limits, platform maxima), without keys or data
 * directories: for the CLI's offline `plugin validate` and the test harness.
 */
export function packageLimits(env: NodeJS.ProcessEnv = process.env): Pick<Config, "upload" | "limits"> {
  const parsed = EnvSchema.safeParse(stripEmpty(env));
  if (!parsed.success) throw new ConfigError(`invalid environment: ${parsed.error.issues.map((i) => i.path.join(".")).join(", ")}`);
  return { upload: uploadOf(parsed.data), limits: limitsOf(parsed.data) };
}

/** Parses the environment once. Throws ConfigError listing every bad key. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(stripEmpty(env));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid environment:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.DATA_DIR);
  const production = e.NODE_ENV === "production";
  if (production && (!e.JWT_SECRET || !e.SECRETS_KEY)) {
    throw new ConfigError("JWT_SECRET and SECRETS_KEY must be set in production (generated dev keys are refused)");
  }
  const jwtSecret = e.JWT_SECRET ?? devSecret(dataDir, "jwt-secret");
  const secretsKey = keyFrom(e.SECRETS_KEY ?? devSecret(dataDir, "secrets-key"));
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    dataDir,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    jwtSecret,
    secretsKey,
    allowPrivateEgress: e.ALLOW_PRIVATE_EGRESS,
    webhooks: { retryBaseMs: e.WEBHOOK_RETRY_BASE_MS, timeoutMs: e.WEBHOOK_TIMEOUT_MS },
    http: { timeoutMs: e.HTTP_TIMEOUT_MS, maxResponseBytes: e.HTTP_MAX_RESPONSE_BYTES },
    llm: { baseUrl: e.LLM_BASE_URL, apiKey: e.LLM_API_KEY, model: e.LLM_MODEL, timeoutMs: e.LLM_TIMEOUT_MS },
    email: { smtpUrl: e.SMTP_URL, from: e.EMAIL_FROM },
    db: { maxDocumentBytes: e.DB_MAX_DOCUMENT_BYTES, maxQueryLimit: e.DB_MAX_QUERY_LIMIT },
    logLevel: e.LOG_LEVEL,
    metricsToken: e.METRICS_TOKEN,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    sandbox: {
      processes: e.SANDBOX_PROCESSES,
      idleMs: e.SANDBOX_IDLE_MS,
      maxIsolates: e.SANDBOX_MAX_ISOLATES,
      graceMs: e.SANDBOX_GRACE_MS,
      maxCallsPerInstall: e.SANDBOX_MAX_CALLS_PER_INSTALL,
      timeouts: { strikes: e.SANDBOX_TIMEOUT_STRIKES, pauseMs: e.SANDBOX_TIMEOUT_PAUSE_MS, maxPauseMs: e.SANDBOX_TIMEOUT_PAUSE_MAX_MS },
      log: { maxLines: e.LOG_MAX_LINES_PER_CALL, maxChars: e.LOG_MAX_CHARS_PER_CALL },
    },
    limits: limitsOf(e),
    executor: {
      queuePrefix: e.QUEUE_PREFIX,
      concurrency: e.EXECUTOR_CONCURRENCY,
      sweepMs: e.OUTBOX_SWEEP_MS,
      staleMs: e.OUTBOX_STALE_MS,
      scheduleResyncMs: e.SCHEDULE_RESYNC_MS,
    },
    emit: { maxDepth: e.EMIT_MAX_DEPTH, maxPerCall: e.EMIT_MAX_PER_CALL, treeMax: e.EVENT_TREE_MAX, tenantRate: e.TENANT_EMIT_RATE, tenantPeriodSeconds: e.TENANT_EMIT_PERIOD_S },
    hostEventRate: e.TENANT_EVENT_RATE,
    health: { tickMs: e.HEALTH_TICK_MS },
    retention: {
      sweepMs: e.RETENTION_SWEEP_MS,
      batchSize: e.RETENTION_BATCH_SIZE,
      days: {
        invocations: e.RETENTION_INVOCATIONS_DAYS,
        events: e.RETENTION_EVENTS_DAYS,
        jobRuns: e.RETENTION_JOB_RUNS_DAYS,
        deliveries: e.RETENTION_DELIVERIES_DAYS,
        audit: e.RETENTION_AUDIT_DAYS,
        usage: e.RETENTION_USAGE_DAYS,
        emails: e.RETENTION_EMAILS_DAYS,
      },
    },
    upload: uploadOf(e),
  };
}

function limitsOf(e: Env): PlatformLimits {
  return {
    timeoutMs: e.PLUGIN_TIMEOUT_MS,
    jobTimeoutMs: e.PLUGIN_JOB_TIMEOUT_MS,
    memoryMb: e.PLUGIN_MEMORY_MB,
    maxDiskMb: e.PLUGIN_MAX_DISK_MB,
    maxDbDocuments: e.DB_MAX_DOCUMENTS,
    maxDbMb: e.DB_MAX_MB,
    maxFiles: e.FILES_MAX_COUNT,
    rateLimit: { calls: e.PLUGIN_RATE_LIMIT_CALLS, periodSeconds: e.PLUGIN_RATE_LIMIT_PERIOD_S },
    maxJobs: e.PLUGIN_MAX_JOBS,
    allowSecondSchedules: e.PLUGIN_ALLOW_SECOND_SCHEDULES,
  };
}

function uploadOf(e: Env): Config["upload"] {
  return {
    maxBytes: e.UPLOAD_MAX_BYTES,
    maxUnpackedBytes: e.UPLOAD_MAX_UNPACKED_BYTES,
    maxEntries: e.UPLOAD_MAX_ENTRIES,
    maxRatio: e.UPLOAD_MAX_RATIO,
    maxModuleBytes: e.UPLOAD_MAX_MODULE_BYTES,
    maxCodeBytes: e.UPLOAD_MAX_CODE_BYTES,
  };
}

// `FOO=` in a .env file means "unset", not "empty string".
function stripEmpty(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== "") out[k] = v;
  return out;
}

// A dev key is generated once and kept in DATA_DIR so the server and the CLI agree on it
// across restarts without anyone configuring anything.
function devSecret(dataDir: string, name: string): string {
  const file = path.join(dataDir, "keys", name);
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const value = randomBytes(32).toString("hex");
  try {
    writeFileSync(file, value, { mode: 0o600, flag: "wx" });
  } catch (err) {
    // Another process (the CLI, a second server) created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return readFileSync(file, "utf8").trim();
  }
  return value;
}

// SECRETS_KEY may be 64 hex chars or base64 of 32 bytes; any other string is stretched with
// SHA-256 so a passphrase still yields a 256-bit AES key.
function keyFrom(value: string): Buffer {
  if (/^[0-9a-f]{64}$/i.test(value)) return Buffer.from(value, "hex");
  const b64 = Buffer.from(value, "base64");
  if (b64.length === 32 && b64.toString("base64") === value) return b64;
  return createHash("sha256").update(value).digest();
}
