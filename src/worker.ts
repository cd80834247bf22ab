// Scaled mode: a worker process consumes background work (hook runs) from BullMQ and runs the
// outbox sweep. It serves no HTTP. Any number may run next to any number of API processes.
import { ConfigError, loadConfig } from "./config.ts";
import { createLogger } from "./logger.ts";
import { createServices } from "./services.ts";

async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.redisUrl) throw new ConfigError("npm run worker needs REDIS_URL (and DATABASE_URL): the embedded mode runs its work inside `npm start`");
  const logger = createLogger(config.logLevel, "sbh-worker");
  const services = await createServices(config, logger, { role: "worker" });
  logger.info({ database: services.db.kind, queuePrefix: config.executor.queuePrefix }, "worker ready");
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "worker shutting down");
    setTimeout(() => process.exit(1), config.shutdownTimeoutMs).unref();
    await services.close().catch((err) => logger.error({ err }, "close failed"));
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((err) => {
  process.stderr.write(`worker failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
