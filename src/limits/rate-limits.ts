import { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { Logger } from "../logger.ts";

const MAX_LIMITERS = 1000;

/** A limit: `points` takes per `durationSeconds`, counted per key (an install, a tenant). */
export interface Limit {
  points: number;
  durationSeconds: number;
}

/**
 * Counters behind every rate limit of the platform (route calls per install, emits and host
 * events per tenant), from rate-limiter-flexible. Embedded: in this process's memory. Scaled:
 * in Redis, one atomic script per take, so the limit holds in total however many API and worker
 * processes count; while Redis is unreachable each process falls back to counting on its own.
 */
export class RateLimits {
  private readonly limiters = new Map<string, RateLimiterAbstract>();
  private readonly redis?: Redis;

  constructor(private readonly opts: { redisUrl?: string; prefix: string; logger: Logger }) {
    if (opts.redisUrl) {
      // Its own connection: a take must not queue behind BullMQ's blocking commands.
      this.redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: false });
      this.redis.on("error", (err) => opts.logger.warn({ err: err.message }, "rate-limit Redis connection error; counting in-process meanwhile"));
    }
  }

  /**
   * Takes one point from `key`'s budget in `bucket` (a kind of limit). Resolves 0 when within the
   * limit, else the whole seconds until a retry can succeed (for Retry-After).
   */
  async take(bucket: string, key: string, limit: Limit): Promise<number> {
    try {
      await this.limiter(bucket, limit).consume(key, 1);
      return 0;
    } catch (res) {
      if (res instanceof RateLimiterRes) return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      // Neither Redis nor the insurance limiter answered: do not turn an outage into refusals.
      this.opts.logger.warn({ err: res, bucket }, "rate limit could not be checked; allowing the call");
      return 0;
    }
  }

  async close(): Promise<void> {
    if (this.redis) await this.redis.quit().catch(() => this.redis?.disconnect());
  }

  private limiter(bucket: string, limit: Limit): RateLimiterAbstract {
    const id = `${bucket}:${limit.points}:${limit.durationSeconds}`;
    let limiter = this.limiters.get(id);
    if (limiter) return limiter;
    const base = { points: limit.points, duration: limit.durationSeconds, keyPrefix: `${this.opts.prefix}:rl:${id}` };
    limiter = this.redis
      ? new RateLimiterRedis({ ...base, storeClient: this.redis, rejectIfRedisNotReady: true, insuranceLimiter: new RateLimiterMemory(base) })
      : new RateLimiterMemory(base);
    this.limiters.set(id, limiter);
    // Distinct limits come from manifests; a tenant uploading many must not grow this map forever.
    if (this.limiters.size > MAX_LIMITERS) this.limiters.delete(this.limiters.keys().next().value as string);
    return limiter;
  }
}
