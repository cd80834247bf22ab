// The well-behaved tenant next to a hostile one: how fast its route answers, idle and while the
// hostile tenant does its worst. Latency bounds in tests are loose on purpose: tests share the
// machine with other test files, and the benchmark's noisy-neighbour phase measures the real
// ratio. They catch a neighbour that is stalled (before tenant budgets, an event storm took the
// neighbour's p50 from 4 ms to 262 ms), not one that is a few milliseconds slower.
import assert from "node:assert/strict";
import type { TestTenant } from "../support/test-app.ts";

export async function pingOnce(other: TestTenant): Promise<number> {
  const started = performance.now();
  const res = await other.request("GET", "/ext/hello/ping");
  const ms = performance.now() - started;
  assert.equal(res.status, 200, await res.clone().text());
  await res.arrayBuffer();
  return ms;
}

/** Median of `n` sequential pings. */
export async function idleP50(other: TestTenant, n = 40): Promise<number> {
  for (let i = 0; i < 5; i++) await pingOnce(other); // warm isolate and connections
  const samples: number[] = [];
  for (let i = 0; i < n; i++) samples.push(await pingOnce(other));
  return median(samples);
}

/** Sequential pings until `until` resolves; their median and count. */
export async function p50While(other: TestTenant, until: Promise<unknown>): Promise<{ p50: number; n: number }> {
  let done = false;
  void until.finally(() => (done = true));
  const samples: number[] = [];
  while (!done) samples.push(await pingOnce(other));
  return { p50: median(samples), n: samples.length };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

/** The neighbour's latency stayed within `factor` of idle (plus a floor for timer noise). */
export function assertNeighbourUnharmed(idle: number, during: { p50: number; n: number }, factor = 3, floorMs = 100): void {
  assert.ok(during.n >= 5, `the neighbour was measured (${during.n} calls)`);
  assert.ok(during.p50 <= idle * factor + floorMs, `neighbour p50 ${during.p50.toFixed(1)} ms vs idle ${idle.toFixed(1)} ms`);
}
