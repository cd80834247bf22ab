import { after, type TestContext } from "node:test";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { buildApp } from "../../src/app.ts";
import { signToken, type Role } from "../../src/auth/tokens.ts";
import { loadConfig, type Config } from "../../src/config.ts";
import { createLogger } from "../../src/logger.ts";
import { createServices, type Services } from "../../src/services.ts";
import { Redis } from "ioredis";
import { postgresAvailable, redisAvailable, redisUrl, requireOrSkip } from "./services.ts";
import { createTestDatabase, type DatabaseKind, type TestDatabase } from "./test-database.ts";
import { collectPluginFiles, packFiles } from "../../src/packaging/pack.ts";
import { zipDirectory } from "./zip-builder.ts";
import AdmZip from "adm-zip";

export const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/plugins");
export const EXAMPLES = path.resolve(import.meta.dirname, "../../plugins-examples");
const REPO_ROOT = path.resolve(import.meta.dirname, "../..");

/** Where background work runs: in the API process (embedded), or BullMQ on Redis with workers. */
export type Engine = "embedded" | "bullmq";

export interface StartTestAppOptions {
  db?: DatabaseKind;
  env?: Record<string, string>;
  /**
   * "bullmq": Postgres, REDIS_URL=TEST_REDIS_URL and a QUEUE_PREFIX of its own; the HTTP
   * services run with role "api" (enqueue only) and a second, in-process services instance
   * with role "worker" consumes, sharing the database.
   */
  engine?: Engine;
  /** bullmq only: false starts no in-process worker (use spawnWorker or startConsumer). */
  worker?: boolean;
}

/** A real `src/worker.ts` process started by spawnWorker. */
export interface WorkerProcess {
  pid: number;
  /** Sends `signal` (default SIGTERM) to the worker process. */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What the process wrote on stdout and stderr so far. */
  output(): string;
}

/** A real `src/main.ts` process started by spawnApi. */
export interface ApiProcess extends WorkerProcess {
  /** http://127.0.0.1:<port> */
  url: string;
}

export interface TestApp {
  services: Services;
  config: Config;
  /** http://127.0.0.1:<port> of the real HTTP server. */
  url: string;
  /** A fresh tenant (unique slug) with admin and member tokens. */
  tenant(prefix?: string): Promise<TestTenant>;
  platformToken(): string;
  /** "embedded" unless started with engine "bullmq". */
  engine: Engine;
  /** The services that run hooks: `services` (embedded), the in-process worker (bullmq), or undefined. */
  consumer?: Services;
  /** bullmq: the Redis key prefix of this app's queue. */
  queuePrefix?: string;
  /** Postgres URL of this app's database (undefined on PGlite). */
  databaseUrl?: string;
  /**
   * Another services instance on the same database that consumes background work, as a
   * restarted process would: role "all" (embedded) or "worker" (bullmq). Closed by close().
   */
  startConsumer(env?: Record<string, string>): Promise<Services>;
  /**
   * bullmq only: a real worker process (`node --no-node-snapshot --import tsx src/worker.ts`)
   * on this app's database, Redis prefix and keys. `env` adds or overrides variables.
   * Killed by close() if still running.
   */
  spawnWorker(env?: Record<string, string>): Promise<WorkerProcess>;
  /** bullmq only: a real API process (`src/main.ts`, role api) like spawnWorker's; killed by close(). */
  spawnApi(env?: Record<string, string>): Promise<ApiProcess>;
  close(): Promise<void>;
}

export interface TestTenant {
  id: string;
  slug: string;
  admin: string;
  member: string;
  /** fetch against the app with this tenant's admin token (or `token`) and X-Tenant-Slug. */
  request(method: string, urlPath: string, opts?: { token?: string | null; json?: unknown; body?: string | Uint8Array | FormData; headers?: Record<string, string> }): Promise<Response>;
  upload(zip: Buffer, token?: string): Promise<Response>;
}

/**
 * A whole platform on a fresh database, listening on 127.0.0.1 with a random port: the same
 * services, sandbox processes and HTTP stack `npm start` runs. `env` overrides config keys.
 */
export async function startTestApp(opts: StartTestAppOptions = {}): Promise<TestApp> {
  const engine: Engine = opts.engine ?? "embedded";
  const dataDir = mkdtempSync(path.join(tmpdir(), "sbh-test-"));
  const queuePrefix = engine === "bullmq" ? `sbhtest-${randomBytes(6).toString("hex")}` : undefined;
  const baseEnv: Record<string, string> = {
    NODE_ENV: "test",
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    SANDBOX_PROCESSES: "2",
    ...(engine === "bullmq"
      ? {
          REDIS_URL: redisUrl(),
          QUEUE_PREFIX: queuePrefix!,
          // Explicit keys, so that worker processes started later agree with this app.
          JWT_SECRET: randomBytes(24).toString("hex"),
          SECRETS_KEY: randomBytes(32).toString("hex"),
        }
      : {}),
    ...opts.env,
  };
  const config = loadConfig(baseEnv);
  const logger = createLogger(config.logLevel);
  const testDb: TestDatabase = await createTestDatabase(engine === "bullmq" ? "postgres" : (opts.db ?? "pglite"));
  const extra: Services[] = [];
  const workers: WorkerProcess[] = [];
  let services: Services | undefined;
  let server: Server | undefined;
  const cleanup = async () => {
    if (server) {
      server.closeAllConnections();
      await new Promise((r) => server!.close(r));
    }
    for (const w of workers) w.kill("SIGKILL");
    await Promise.all(workers.map((w) => w.exited));
    for (const s of extra.splice(0).reverse()) await s.close().catch(() => undefined);
    await services?.close();
    if (queuePrefix) await deleteRedisKeys(redisUrl(), queuePrefix);
    await testDb.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  let consumer: Services | undefined;
  try {
    services = await createServices(config, logger, { db: testDb.db, ...(engine === "bullmq" ? { role: "api" as const } : {}) });
    if (engine === "embedded") consumer = services;
    else if (opts.worker !== false) {
      consumer = await createServices(config, logger, { db: testDb.db, role: "worker" });
      extra.push(consumer);
    }
    server = buildApp(services).listen(0, "127.0.0.1");
    await new Promise((r) => server!.once("listening", r));
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw err;
  }
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const tenant = async (prefix = "t"): Promise<TestTenant> => {
    const slug = `${prefix}-${randomBytes(4).toString("hex")}`;
    const row = await services!.db.prisma.tenant.create({ data: { slug, name: slug } });
    const admin = token(config, slug, "admin");
    const member = token(config, slug, "member");
    const request: TestTenant["request"] = (method, urlPath, o = {}) => {
      const headers: Record<string, string> = { "x-tenant-slug": slug, ...o.headers };
      const bearer = o.token === undefined ? admin : o.token;
      if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
      let body = o.body;
      if (o.json !== undefined) {
        body = JSON.stringify(o.json);
        headers["content-type"] = "application/json";
      }
      return fetch(url + urlPath, { method, headers, body });
    };
    const upload = (zip: Buffer, tok = admin) => {
      const form = new FormData();
      form.append("file", new Blob([new Uint8Array(zip)], { type: "application/zip" }), "plugin.zip");
      return fetch(`${url}/api/plugins/upload`, { method: "POST", headers: { authorization: `Bearer ${tok}`, "x-tenant-slug": slug }, body: form });
    };
    return { id: row.id, slug, admin, member, request, upload };
  };

  const startConsumer = async (env: Record<string, string> = {}): Promise<Services> => {
    const c = Object.keys(env).length ? loadConfig({ ...baseEnv, ...env }) : config;
    const s = await createServices(c, logger, { db: testDb.db, role: engine === "bullmq" ? "worker" : "all" });
    extra.push(s);
    return s;
  };

  // A real process of this app (src/worker.ts or src/main.ts) on its database, Redis prefix and keys.
  const spawnProcess = (script: string, env: Record<string, string>): WorkerProcess => {
    if (engine !== "bullmq") throw new Error("spawning processes needs startTestApp({ engine: \"bullmq\" })");
    // Not a test process itself: without this, node:test's child protocol leaks into it.
    const { NODE_TEST_CONTEXT: _ignored, ...inherited } = process.env;
    const child = spawn(process.execPath, ["--no-node-snapshot", "--import", "tsx", script], {
      cwd: REPO_ROOT,
      env: {
        ...inherited,
        ...baseEnv,
        DATABASE_URL: testDb.url!,
        REDIS_URL: config.redisUrl!,
        QUEUE_PREFIX: queuePrefix!,
        DATA_DIR: dataDir,
        JWT_SECRET: config.jwtSecret,
        SECRETS_KEY: config.secretsKey.toString("hex"),
        LOG_LEVEL: "silent",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
      else child.once("exit", (code, signal) => resolve({ code, signal }));
    });
    const proc: WorkerProcess = {
      pid: child.pid!,
      kill(signal = "SIGTERM") {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
      exited,
      output: () => out,
    };
    workers.push(proc);
    return proc;
  };

  const spawnWorker = async (env: Record<string, string> = {}): Promise<WorkerProcess> => spawnProcess("src/worker.ts", env);

  const spawnApi = async (env: Record<string, string> = {}): Promise<ApiProcess> => {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    const proc = spawnProcess("src/main.ts", { PORT: String(port), HOST: "127.0.0.1", ...env });
    const origin = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (await fetch(`${origin}/healthz`).then((r) => r.ok, () => false)) break;
      const gone = await Promise.race([proc.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 100))]);
      if (gone || Date.now() > deadline) throw new Error(`API process on ${origin} did not start:\n${proc.output()}`);
    }
    return { ...proc, url: origin };
  };

  return {
    services,
    config,
    url,
    tenant,
    platformToken: () => signToken({ sub: "platform-test", role: "platform_admin" }, config.jwtSecret),
    engine,
    consumer,
    queuePrefix,
    databaseUrl: testDb.url,
    startConsumer,
    spawnWorker,
    spawnApi,
    close: cleanup,
  };
}

/** Deletes every Redis key under `<prefix>:` (a test app's queue): also how a test simulates Redis losing its data. */
export async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

function token(config: Config, tenant: string, role: Role): string {
  return signToken({ sub: `${role}-user`, tenant, role }, config.jwtSecret);
}

/** Zips a fixture plugin folder (test/fixtures/plugins/<name>) or an example (plugins-examples/<name>). */
export function fixtureZip(name: string, root = FIXTURES): Buffer {
  return zipDirectory(path.join(root, name));
}

/** A fixture zipped with some plugin.json fields replaced (a version bump, other permissions, …). */
export function withManifest(name: string, manifest: Record<string, unknown>): Buffer {
  const zip = new AdmZip(fixtureZip(name));
  zip.updateFile("plugin.json", Buffer.from(JSON.stringify({ ...JSON.parse(zip.readAsText("plugin.json")), ...manifest })));
  return zip.toBuffer();
}

/** Uploads through the API with a query string (`?cascade=true`; TestTenant.upload sends none). */
export function uploadWith(t: TestTenant, zip: Buffer, query: string): Promise<Response> {
  const form = new FormData();
  form.append("file", new Blob([new Uint8Array(zip)], { type: "application/zip" }), "plugin.zip");
  return t.request("POST", `/api/plugins/upload${query}`, { body: form });
}

/** An example plugin packed as `plugin pack` packs it (author tooling and tests left out). */
export function exampleZip(name: string): Buffer {
  return packFiles(collectPluginFiles(path.join(EXAMPLES, name)));
}

/**
 * One app per configuration name, started on first use and closed after the test file
 * (call inside a suite-defining function; registers its own `after`).
 */
export function appsPerConfig(engine: Engine): (name: string, opts?: Omit<StartTestAppOptions, "engine">) => Promise<TestApp> {
  const apps = new Map<string, Promise<TestApp>>();
  after(async () => {
    for (const app of apps.values()) await (await app.catch(() => undefined))?.close();
  });
  return (name, opts = {}) => {
    let app = apps.get(name);
    if (!app) {
      app = startTestApp({ engine, ...opts });
      apps.set(name, app);
    }
    return app;
  };
}

/**
 * A per-test gate for an engine: bullmq needs Postgres and Redis, and each test without them is
 * skipped (or fails under REQUIRE_SERVICES=1). Probes once per suite.
 */
export function servicesGate(engine: Engine): (t: TestContext) => Promise<boolean> {
  let probed: Promise<[boolean, boolean]> | undefined;
  return async (t) => {
    if (engine === "embedded") return true;
    probed ??= Promise.all([postgresAvailable(), redisAvailable()]);
    const [pg, redis] = await probed;
    if (!(await requireOrSkip(t, "postgres", pg))) return false;
    return requireOrSkip(t, "redis", redis);
  };
}
