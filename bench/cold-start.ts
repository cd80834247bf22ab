import { readFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { createLogger } from "../src/logger.ts";
import type { PluginCode } from "../src/sandbox/protocol.ts";
import { SandboxPool } from "../src/sandbox/sandbox-pool.ts";
import type { SandboxRequest } from "../src/sandbox/sandbox-process.ts";
import { cpuBetween, cpuSnapshot } from "./cpu.ts";
import { percentile } from "./load.ts";
import { ROOT } from "./servers.ts";

export interface Distribution {
  samples: number;
  median: number;
  p90: number;
  min: number;
  max: number;
  /**
   * CPU the sandbox process spent per call (all its threads, from /proc), in ms. Unlike the
   * wall-clock figures it does not grow when other processes compete for the CPUs.
   */
  sandboxCpuMs: number | null;
}

export interface ColdStartResult {
  /** Sandbox-side durationMs of a call on a warm isolate. */
  warm: Distribution;
  /** Host-side round trip of the same warm calls (IPC both ways included). */
  warmRoundTrip: Distribution;
  /** evict(key) then call: new isolate; evict also drops the version's compiled plugin code. */
  coldAfterEvict: Distribution;
  /** A key never seen before, same version: new isolate, everything from the compile cache; the pool disposes its LRU isolate. */
  coldNewKey: Distribution;
  /**
   * New keys again, 50 ms apart as cold starts arrive on a node that is not in a storm: the pool
   * has booted its spare isolate in between, so the call only loads the plugin. (Back to back, as
   * above, each cold start waits for the spare the previous one started.)
   */
  coldNewKeySpaced: Distribution;
}

const VERSION_ID = "bench-hello-1.0.0";
const KEY = "bench-install";
// A full pool, as on a busy node: each new key's isolate makes room by disposing the least
// recently used one (cheap: isolated-vm disposes in the background), so memory stays flat.
const MAX_ISOLATES = 8;

/** Drives one sandbox process directly with the hello plugin: warm calls, then cold ones. */
export async function coldStartBench(samples: number): Promise<ColdStartResult> {
  const pool = new SandboxPool({ processes: 1, idleMs: 600_000, maxIsolates: MAX_ISOLATES, graceMs: 1000, logger: createLogger("warn") });
  await pool.start();
  try {
    const code = helloCode();
    const call = (key: string) => pingCall(pool, key, code);

    await call(KEY); // first load: fills the compile cache (runtime, SDK, main.js)
    for (let i = 0; i < 50; i++) await call(KEY); // let V8 settle on the warm path

    const roundTrip: number[] = [];
    const warm = await series(samples, async () => {
      const t0 = performance.now();
      const duration = await call(KEY);
      roundTrip.push(performance.now() - t0);
      return duration;
    });

    // Evict is an IPC message sent before the call on the same channel, so the call that
    // follows always finds no isolate.
    const afterEvict = await series(samples, () => {
      pool.evict(KEY);
      return call(KEY);
    });

    const newKey = await series(samples, (i) => call(`${KEY}-fresh-${i}`));
    const spaced = await series(samples, async (i) => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return call(`${KEY}-spaced-${i}`);
    });

    return { warm, warmRoundTrip: distribution(roundTrip, warm.sandboxCpuMs), coldAfterEvict: afterEvict, coldNewKey: newKey, coldNewKeySpaced: spaced };
  } finally {
    await pool.close();
  }
}

/** The hello plugin's JavaScript files, as PluginCodeStore hands them to a sandbox. */
function helloCode(): PluginCode {
  const dir = path.join(ROOT, "plugins-examples/hello");
  const manifest = JSON.parse(readFileSync(path.join(dir, "plugin.json"), "utf8")) as { entry: string };
  return { versionId: VERSION_ID, entry: manifest.entry, files: { [manifest.entry]: readFileSync(path.join(dir, manifest.entry), "utf8") } };
}

/** One GET /ping (route 0) call; returns the sandbox-side durationMs. */
async function pingCall(pool: SandboxPool, key: string, code: PluginCode): Promise<number> {
  const request: SandboxRequest = {
    key,
    versionId: code.versionId,
    memoryMb: 128,
    timeoutMs: 5000,
    kind: "route",
    name: "0",
    args: [{ method: "GET", path: "/ping", params: {}, query: {}, headers: {}, body: null }],
    info: { tenantId: "demo", userId: "bench", plugin: { slug: "hello", version: "1.0.0", installId: key }, config: { greeting: "Hello" } },
    code: () => code,
    capability: async (method) => {
      throw Object.assign(new Error(`ctx.${method} is not available in the benchmark`), { name: "NotAvailable" });
    },
  };
  const { outcome, durationMs } = await pool.call(request);
  if (outcome.status !== "ok") throw new Error(`sandbox call failed: ${JSON.stringify(outcome)}`);
  const body = JSON.parse(outcome.json) as { ok: boolean; value?: { status?: string } };
  if (!body.ok || body.value?.status !== "ok") throw new Error(`unexpected plugin answer: ${outcome.json}`);
  return durationMs;
}

/** Runs `n` calls one after another; their durations, and the sandbox CPU they cost. */
async function series(n: number, fn: (i: number) => Promise<number>): Promise<Distribution> {
  // The sandbox process is this process's only child here: its CPU is the tree minus ourselves.
  const before = cpuSnapshot([process.pid]);
  const values: number[] = [];
  for (let i = 0; i < n; i++) values.push(await fn(i));
  const usage = cpuBetween(before, cpuSnapshot([process.pid]));
  const seconds = before ? (performance.now() - before.at) / 1000 : 0;
  return distribution(values, usage ? (((usage.trees[0] - usage.roots[0]) * seconds) / n) * 1000 : null);
}

function distribution(values: number[], sandboxCpuMs: number | null): Distribution {
  const sorted = Float64Array.from(values).sort();
  return {
    samples: sorted.length,
    median: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    min: sorted[0],
    max: sorted[sorted.length - 1],
    sandboxCpuMs,
  };
}
