import { createTenantCache, type TenantCache } from "./auth/tenant-cache.ts";
import type { Config } from "./config.ts";
import { openDatabase, type Database } from "./db/database.ts";
import type { Logger } from "./logger.ts";
import { InstallRepository } from "./plugins/install-repository.ts";
import { InstallService } from "./plugins/install-service.ts";
import { InvocationRecorder } from "./plugins/invocation-recorder.ts";
import { Invoker } from "./plugins/invoker.ts";
import { PluginCodeStore } from "./plugins/plugin-code.ts";
import { RateLimiter } from "./plugins/rate-limiter.ts";
import { SecretStore } from "./plugins/secret-store.ts";
import { SandboxPool } from "./sandbox/sandbox-pool.ts";

/** Every long-lived dependency of a host process, built once and handed to the API. */
export interface Services {
  config: Config;
  logger: Logger;
  db: Database;
  sandbox: SandboxPool;
  tenants: TenantCache;
  installs: InstallRepository;
  installService: InstallService;
  secrets: SecretStore;
  recorder: InvocationRecorder;
  invoker: Invoker;
  rateLimiter: RateLimiter;
  close(): Promise<void>;
}

export interface ServiceOverrides {
  /** Tests hand in their own database (a fresh PGlite or Postgres database). */
  db?: Database;
}

export async function createServices(config: Config, logger: Logger, overrides: ServiceOverrides = {}): Promise<Services> {
  const db = overrides.db ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const prisma = db.prisma;
  const sandbox = new SandboxPool({ ...config.sandbox, logger });
  await sandbox.start();
  const tenants = createTenantCache((slug) => prisma.tenant.findUnique({ where: { slug }, select: { id: true, slug: true, name: true } }));
  const installs = new InstallRepository(prisma);
  const secrets = new SecretStore(prisma, config.secretsKey);
  const recorder = new InvocationRecorder(prisma, logger);
  const code = new PluginCodeStore(prisma, config.upload);
  const invoker = new Invoker({ sandbox, code, secrets, recorder });
  return {
    config,
    logger,
    db,
    sandbox,
    tenants,
    installs,
    installService: new InstallService({ prisma, installs, sandbox }),
    secrets,
    recorder,
    invoker,
    rateLimiter: new RateLimiter(),
    async close() {
      await recorder.flush();
      await sandbox.close();
      if (!overrides.db) await db.close();
    },
  };
}
