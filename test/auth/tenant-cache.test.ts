import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createTenantCache, type Tenant } from "../../src/auth/tenant-cache.ts";

const acme: Tenant = { id: "t1", slug: "acme", name: "Acme" };

// A loader that counts calls and can be edited, and a hand-driven clock.
function setup(ttlMs = 5000) {
  const db = new Map<string, Tenant>([["acme", acme]]);
  const calls: string[] = [];
  let clock = 1_000_000;
  const load = async (slug: string) => {
    calls.push(slug);
    return db.get(slug) ?? null;
  };
  const cache = createTenantCache(load, ttlMs, { now: () => clock });
  return { db, calls, cache, advance: (ms: number) => (clock += ms) };
}

describe("createTenantCache", () => {
  it("serves a hit from memory until the ttl passes", async () => {
    const { calls, cache, advance } = setup();
    assert.deepEqual(await cache.find("acme"), acme);
    assert.deepEqual(await cache.find("acme"), acme);
    assert.equal(calls.length, 1);
    advance(4999);
    await cache.find("acme");
    assert.equal(calls.length, 1);
    advance(2);
    await cache.find("acme");
    assert.equal(calls.length, 2);
  });

  it("remembers a miss for only 500 ms", async () => {
    const { db, calls, cache, advance } = setup();
    assert.equal(await cache.find("newco"), null);
    db.set("newco", { id: "t2", slug: "newco", name: "NewCo" });
    advance(499);
    assert.equal(await cache.find("newco"), null);
    advance(2);
    assert.deepEqual(await cache.find("newco"), { id: "t2", slug: "newco", name: "NewCo" });
    assert.deepEqual(calls, ["newco", "newco"]);
  });

  it("shares one load between concurrent misses", async () => {
    const { calls, cache } = setup();
    const results = await Promise.all([cache.find("acme"), cache.find("acme"), cache.find("acme")]);
    assert.deepEqual(results, [acme, acme, acme]);
    assert.deepEqual(calls, ["acme"]);
  });

  it("reloads after invalidate(slug) and invalidate()", async () => {
    const { db, calls, cache } = setup();
    await cache.find("acme");
    db.delete("acme");
    cache.invalidate("acme");
    assert.equal(await cache.find("acme"), null);
    db.set("acme", acme);
    cache.invalidate();
    assert.deepEqual(await cache.find("acme"), acme);
    assert.equal(calls.length, 3);
  });

  it("does not cache a failed load", async () => {
    let fail = true;
    const cache = createTenantCache(async (slug) => {
      if (fail) throw new Error("db down");
      return { ...acme, slug };
    });
    await assert.rejects(cache.find("acme"), /db down/);
    fail = false;
    assert.deepEqual(await cache.find("acme"), acme);
  });

  it("does not let a load that was invalidated mid-flight stay cached", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const calls: string[] = [];
    const cache = createTenantCache(async (slug) => {
      calls.push(slug);
      if (calls.length === 1) await gate;
      return acme;
    });
    const first = cache.find("acme");
    cache.invalidate("acme");
    release();
    await first;
    await cache.find("acme");
    assert.equal(calls.length, 2);
  });

  it("keeps at most maxEntries, dropping the oldest", async () => {
    const calls: string[] = [];
    const cache = createTenantCache(async (slug) => (calls.push(slug), null), 5000, { maxEntries: 2 });
    await cache.find("a");
    await cache.find("b");
    await cache.find("c");
    await cache.find("c");
    await cache.find("b");
    await cache.find("a");
    assert.deepEqual(calls, ["a", "b", "c", "a"]);
  });
});
