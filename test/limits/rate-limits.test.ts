import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { RateLimits } from "../../src/limits/rate-limits.ts";
import { createLogger } from "../../src/logger.ts";
import { redisUrl } from "../support/services.ts";
import { servicesGate } from "../support/test-app.ts";

const logger = createLogger("silent");
const ready = servicesGate("bullmq");

for (const where of ["memory", "redis"] as const) {
  test(`${where}: installs with different calls per window each get their own; a point given back can be taken again`, async (t) => {
    if (where === "redis" && !(await ready(t))) return;
    const limits = new RateLimits({ redisUrl: where === "redis" ? redisUrl() : undefined, prefix: `test-${randomUUID()}`, logger });
    t.after(() => limits.close());
    const two = { points: 2, durationSeconds: 60 };
    const three = { points: 3, durationSeconds: 60 };
    const waits = async (key: string, limit: typeof two, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push(await limits.take("route", key, limit));
      return out;
    };
    assert.deepEqual((await waits("a", two, 3)).map((w) => w > 0), [false, false, true]);
    assert.deepEqual((await waits("b", three, 4)).map((w) => w > 0), [false, false, false, true]);
    const refused = await limits.take("route", "a", two);
    assert.ok(refused >= 1 && refused <= 60, `Retry-After ${refused} s`);

    const emit = { points: 1, durationSeconds: 60 };
    assert.equal(await limits.take("emit", "tenant", emit), 0);
    await limits.giveBack("emit", "tenant", emit);
    assert.equal(await limits.take("emit", "tenant", emit), 0, "the point given back was taken again");
    assert.ok((await limits.take("emit", "tenant", emit)) > 0, "and then the budget is spent");
  });
}

test("a tenant's emit budget survives a thousand distinct route windows from manifests", async (t) => {
  const limits = new RateLimits({ prefix: `test-${randomUUID()}`, logger });
  t.after(() => limits.close());
  const emit = { points: 1, durationSeconds: 60 };
  assert.equal(await limits.take("emit", "tenant", emit), 0);
  // Each distinct window length is a limiter of its own; the oldest are dropped past a bound.
  for (let s = 1; s <= 1100; s++) await limits.take("route", "install", { points: 5, durationSeconds: s });
  assert.ok((await limits.take("emit", "tenant", emit)) > 0, "the emit budget was not reset by evicting its limiter");
});
