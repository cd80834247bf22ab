import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import type { Logger } from "../logger.ts";

/**
 * Scaled mode: tells every other process that a tenant's installs changed (upload, upgrade,
 * enable, disable, rollback, config, uninstall), so their install caches drop that tenant at
 * once instead of waiting out the TTL. Redis pub/sub: a lost message only means the TTL applies.
 */
export class ChangeBus {
  private readonly origin = randomUUID();
  private readonly pub: Redis;
  private readonly sub: Redis;

  constructor(
    redisUrl: string,
    private readonly channel: string,
    onRemoteChange: (tenantId: string) => void,
    logger: Logger,
  ) {
    this.pub = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    this.sub = new Redis(redisUrl, { maxRetriesPerRequest: null });
    for (const conn of [this.pub, this.sub]) conn.on("error", (err) => logger.warn({ err: err.message }, "change bus connection error"));
    this.sub.on("message", (_channel, raw: string) => {
      try {
        const msg = JSON.parse(raw) as { origin?: string; tenantId?: string };
        if (msg.origin !== this.origin && typeof msg.tenantId === "string") onRemoteChange(msg.tenantId);
      } catch {
        logger.warn({ raw: raw.slice(0, 200) }, "change bus: unreadable message ignored");
      }
    });
  }

  async start(): Promise<void> {
    await this.sub.subscribe(this.channel);
  }

  /** Fire and forget: the caller's change is committed; other processes catch up by TTL if this fails. */
  publish(tenantId: string): void {
    void this.pub.publish(this.channel, JSON.stringify({ origin: this.origin, tenantId })).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.sub.disconnect();
    this.pub.disconnect();
  }
}
