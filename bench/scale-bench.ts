// Scale-out on one machine: /ext route throughput of one API process against two, both in the
// scaled mode (Postgres + Redis, each API with one sandbox process), the load split evenly.
// On a 2-CPU machine the load generator and both servers share the cores, so this measures how
// much a second process adds here, not what a second machine would.
import { randomBytes } from "node:crypto";
import path from "node:path";
import { Redis } from "ioredis";
import { signToken } from "../src/auth/tokens.ts";
import { postgresAvailable, redisAvailable, redisUrl } from "../test/support/services.ts";
import { createEmptyPostgresDatabase } from "../test/support/test-database.ts";
import { zipDirectory } from "../test/support/zip-builder.ts";
import { LoadTarget, summarize, type LoadResult } from "./load.ts";
import { freePort, ROOT, startServer, tempDataDir, uploadPlugin, type ServerProcess } from "./servers.ts";

export interface ScaleBenchResult {
  skipped?: string;
  concurrency?: number;
  one?: LoadResult;
  two?: LoadResult;
  /** two.rps ÷ one.rps */
  ratio?: number;
}

const CONCURRENCY = 32;

export async function scaleBench(warmupMs: number, durationMs: number): Promise<ScaleBenchResult> {
  if (!(await postgresAvailable()) || !(await redisAvailable())) return { skipped: "Postgres or Redis not reachable" };
  const pg = await createEmptyPostgresDatabase();
  const data = tempDataDir();
  const prefix = `sbhscale-${randomBytes(3).toString("hex")}`;
  const jwtSecret = randomBytes(24).toString("hex");
  const env = {
    DATABASE_URL: pg.url,
    REDIS_URL: redisUrl(),
    QUEUE_PREFIX: prefix,
    JWT_SECRET: jwtSecret,
    SECRETS_KEY: randomBytes(32).toString("hex"),
    DATA_DIR: data.dir,
    HOST: "127.0.0.1",
    LOG_LEVEL: "warn",
    SANDBOX_PROCESSES: "1",
    PLUGIN_RATE_LIMIT_CALLS: "1000000000",
  };
  const servers: ServerProcess[] = [];
  try {
    const a = await startServer("api-a", "src/main.ts", await freePort(), env);
    servers.push(a);
    const token = signToken({ sub: "bench", tenant: "demo", role: "admin" }, jwtSecret);
    await uploadPlugin(a.origin, token, zipDirectory(path.join(ROOT, "plugins-examples/hello")));
    const b = await startServer("api-b", "src/main.ts", await freePort(), env);
    servers.push(b);
    const headers = { authorization: `Bearer ${token}` };
    const target = (origin: string, concurrency: number) => new LoadTarget({ origin, path: "/ext/hello/ping", headers, concurrency });

    const single = target(a.origin, CONCURRENCY);
    await single.run(warmupMs);
    const one = summarize(CONCURRENCY, [await single.run(durationMs)]);
    await single.close();

    const split = [target(a.origin, CONCURRENCY / 2), target(b.origin, CONCURRENCY / 2)];
    await Promise.all(split.map((t) => t.run(warmupMs)));
    const slices = await Promise.all(split.map((t) => t.run(durationMs)));
    await Promise.all(split.map((t) => t.close()));
    // Both halves ran over the same span: their requests add up over one span.
    const two = summarize(CONCURRENCY, [{ ...slices[0], latencies: slices.flatMap((s) => s.latencies), errors: slices[0].errors + slices[1].errors }]);
    return { concurrency: CONCURRENCY, one, two, ratio: two.rps / one.rps };
  } finally {
    for (const s of servers) await s.stop();
    data.remove();
    await pg.drop();
    const redis = new Redis(redisUrl());
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
}
