// The scaled mode inside the benchmark process: a fresh Postgres database, a unique Redis key
// prefix, one API-role and one worker-role services instance; everything removed afterwards.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import type { Config } from "../src/config.ts";
import { openDatabase } from "../src/db/database.ts";
import type { Logger } from "../src/logger.ts";
import { createServices, type Services } from "../src/services.ts";
import { postgresAvailable, redisAvailable, redisUrl } from "../test/support/services.ts";
import { createEmptyPostgresDatabase } from "../test/support/test-database.ts";

/** Runs `fn` with [api, worker] services, or returns the reason it could not. */
export async function withBullmqServices<T>(
  config: (env: Record<string, string>) => Config,
  logger: Logger,
  fn: (services: [Services, Services]) => Promise<T>,
): Promise<{ value: T } | { skipped: string }> {
  if (!(await postgresAvailable()) || !(await redisAvailable())) return { skipped: "Postgres or Redis not reachable" };
  const pg = await createEmptyPostgresDatabase();
  const prefix = `sbhbench-${randomBytes(3).toString("hex")}`;
  const cfg = config({ REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix, DATABASE_URL: pg.url });
  const shared = await openDatabase({ databaseUrl: pg.url });
  const api = await createServices(cfg, logger, { db: shared, role: "api" });
  const worker = await createServices(cfg, logger, { db: shared, role: "worker" });
  try {
    return { value: await fn([api, worker]) };
  } finally {
    await worker.close();
    await api.close();
    await shared.close();
    await pg.drop();
    const redis = new Redis(redisUrl());
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
}
