import { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { Logger } from "../logger.ts";

// One limiter per (bucket, window length); how many points a key may take is compared here, so
// installs with different `calls` share a limiter. Window lengths come from manifests, so the
// map is bounded; the buckets whose limits come from config (a tenant's emits and host events)
// are never evicted, or a tenant uploading many distinct windows could reset them.
const MAX_LIMITERS = 1000;
const FIXED_BUCKETS = new Set(["emit", "host-events"]);
// Points of every limiter: refusing is decided by comparing consumed points with the limit.
const UNLIMITED = 2 ** 31 - 1;

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
      const res = await this.limiter(bucket, limit.durationSeconds).consume(key, 1);
      return res.consumedPoints > limit.points ? Math.max(1, Math.ceil(res.msBeforeNext / 1000)) : 0;
    } catch (err) {
      // Neither Redis nor the insurance limiter answered: do not turn an outage into refusals.
      this.opts.logger.warn({ err, bucket }, "rate limit could not be checked; allowing the call");
      return 0;
    }
  }

  /** Gives back a point taken by `take` for work that was then refused for another reason. */
  async giveBack(bucket: string, key: string, limit: Limit): Promise<void> {
    await this.limiter(bucket, limit.durationSeconds)
      .reward(key, 1)
      .catch((err: unknown) => this.opts.logger.warn({ err, bucket }, "could not give a rate-limit point back"));
  }

  async close(): Promise<void> {
    if (this.redis) await this.redis.quit().catch(() => this.redis?.disconnect());
  }

  private limiter(bucket: string, durationSeconds: number): RateLimiterAbstract {
    const id = `${bucket}:${durationSeconds}`;
    let limiter = this.limiters.get(id);
    if (limiter) {
      // Least recently used goes first: re-inserting keeps the map in order of use.
      this.limiters.delete(id);
      this.limiters.set(id, limiter);
      return limiter;
    }
    const base = { points: UNLIMITED, duration: durationSeconds, keyPrefix: `${this.opts.prefix}:rl:${id}` };
    limiter = this.redis
      ? new RateLimiterRedis({ ...base, storeClient: this.redis, rejectIfRedisNotReady: true, insuranceLimiter: new RateLimiterMemory(base) })
      : new RateLimiterMemory(base);
    this.limiters.set(id, limiter);
    if (this.limiters.size > MAX_LIMITERS) {
      for (const old of this.limiters.keys()) {
        if (FIXED_BUCKETS.has(old.slice(0, old.indexOf(":")))) continue;
        this.limiters.delete(old);
        break;
      }
    }
    return limiter;
  }
}
