import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { cpuBetween, cpuSnapshot } from "./cpu.ts";
import { LoadTarget, summarize, type LoadResult, type SliceResult } from "./load.ts";
import { zipDirectory } from "../test/support/zip-builder.ts";
import { ROOT, cliToken, freePort, startServer, tempDataDir, uploadPlugin, type ServerProcess } from "./servers.ts";

interface PhaseTiming {
  /** Warm-up per server, not counted. */
  warmupMs: number;
  /** Measured time per server, split into slices alternating between the two servers. */
  durationMs: number;
  sliceMs: number;
}

/**
 * closed: `concurrency` workers, each sending its next request when the last one answered.
 * rate: open loop at `fractionOfExt` × the /ext throughput of the first closed phase, the same
 * rate for both servers, so latency is compared at equal offered load.
 */
export type RoutePhase =
  | ({ kind: "closed"; concurrency: number } & PhaseTiming)
  | ({ kind: "rate"; fractionOfExt: number; connections: number } & PhaseTiming);

export interface ServerRun extends LoadResult {
  /** Average CPUs the server's process tree used while measured (platform: API + sandboxes). */
  serverCpus: number | null;
  /** Server CPU time per answered request, in microseconds. */
  serverCpuUsPerRequest: number | null;
  /** The part of it spent in the server process itself (for the platform: the API process, not the sandboxes). */
  mainProcessCpuUsPerRequest: number | null;
  /** Load generator (this process) CPU time per request, in microseconds. */
  loadGenCpuUsPerRequest: number | null;
  /** Average CPUs taken by processes outside the benchmark while this server was measured. */
  otherCpus: number | null;
}

export interface RoutePair {
  /** "c=32", "c=1", "600 req/s" */
  label: string;
  kind: RoutePhase["kind"];
  /** Closed loop: workers; rate: connections available. */
  concurrency: number;
  /** Rate phases: the offered load, requests per second. */
  rate?: number;
  baseline: ServerRun;
  ext: ServerRun;
}

export interface RouteBenchResult {
  path: string;
  sandboxProcesses: number;
  pairs: RoutePair[];
}

const PATH = "/ext/hello/ping";
const EXPECTED = { status: "ok", plugin: "hello", version: "1.0.0", tenant: "demo" };
const SANDBOX_PROCESSES = 2;

/**
 * Starts the platform and the baseline as child processes on one fresh DATA_DIR, uploads the
 * hello plugin, checks both answer the same body, then runs each phase. Measured slices
 * alternate between the servers (ABBA…), so drifting background load on a shared machine
 * falls on both alike; only one server is under load at any moment.
 */
export async function routeBench(phases: RoutePhase[], progress: (line: string) => void): Promise<RouteBenchResult> {
  const data = tempDataDir();
  const servers: ServerProcess[] = [];
  try {
    // The CLI writes the dev key first, so the platform and the baseline read the same one.
    const token = await cliToken(data.dir, "demo", "admin");
    const common = { DATA_DIR: data.dir, LOG_LEVEL: "warn" };
    progress("starting the platform (src/main.ts) and the baseline (bench/baseline-server.ts)");
    const [platform, baseline] = await Promise.all([
      startServer("platform", "src/main.ts", await freePort(), {
        ...common,
        HOST: "127.0.0.1",
        SANDBOX_PROCESSES: String(SANDBOX_PROCESSES),
        PLUGIN_RATE_LIMIT_CALLS: "1000000000",
      }),
      startServer("baseline", "bench/baseline-server.ts", await freePort(), common),
    ]);
    servers.push(platform, baseline);
    await uploadPlugin(platform.origin, token, zipDirectory(path.join(ROOT, "plugins-examples/hello")));
    const headers = { authorization: `Bearer ${token}` };
    for (const server of [baseline, platform]) await expectBody(server, headers);

    const pairs: RoutePair[] = [];
    for (const phase of phases) {
      let pair: Omit<RoutePair, "baseline" | "ext">;
      if (phase.kind === "closed") {
        pair = { label: `c=${phase.concurrency}`, kind: "closed", concurrency: phase.concurrency };
      } else {
        const reference = pairs.find((p) => p.kind === "closed");
        if (!reference) throw new Error("a rate phase needs a closed-loop phase before it");
        const rate = Math.max(10, Math.round((reference.ext.rps * phase.fractionOfExt) / 10) * 10);
        pair = { label: `${rate} req/s`, kind: "rate", concurrency: phase.connections, rate };
      }
      progress(
        `${pair.label}: ${phase.warmupMs / 1000} s warm-up + ${phase.durationMs / 1000} s measured per server, ` +
          `in ${phase.sliceMs / 1000} s slices alternating baseline and /ext`,
      );
      const [b, e] = await measure([baseline, platform], phase, pair, headers);
      pairs.push({ ...pair, baseline: b, ext: e });
    }
    return { path: PATH, sandboxProcesses: SANDBOX_PROCESSES, pairs };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    data.remove();
  }
}

async function measure(
  servers: [ServerProcess, ServerProcess],
  phase: RoutePhase,
  pair: Omit<RoutePair, "baseline" | "ext">,
  headers: Record<string, string>,
): Promise<[ServerRun, ServerRun]> {
  const targets = servers.map((s) => new LoadTarget({ origin: s.origin, path: PATH, headers, concurrency: pair.concurrency }));
  const run = (t: LoadTarget, ms: number) => (pair.rate === undefined ? t.run(ms) : t.runRate(ms, pair.rate));
  try {
    for (const t of targets) await run(t, phase.warmupMs);
    const slices: SliceResult[][] = [[], []];
    const cpu = [0, 1].map(() => ({ server: 0, main: 0, loadGen: 0, others: 0, seconds: 0 }));
    let cpuKnown = true;
    const rounds = Math.max(1, Math.round(phase.durationMs / phase.sliceMs));
    for (let round = 0; round < rounds; round++) {
      // ABBA: each server goes first in every other round.
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) {
        const before = cpuSnapshot([servers[i].pid]);
        const slice = await run(targets[i], phase.sliceMs);
        const usage = cpuBetween(before, cpuSnapshot([servers[i].pid]));
        slices[i].push(slice);
        if (usage) {
          cpu[i].server += usage.trees[0] * slice.seconds;
          cpu[i].main += usage.roots[0] * slice.seconds;
          cpu[i].loadGen += usage.self * slice.seconds;
          cpu[i].others += usage.others * slice.seconds;
          cpu[i].seconds += slice.seconds;
        } else cpuKnown = false;
      }
    }
    const result = (i: number): ServerRun => {
      const load = summarize(pair.concurrency, slices[i]);
      const c = cpu[i];
      // CPU-seconds over the measured slices, per answered request.
      const perRequest = (cpuSeconds: number) => (cpuKnown ? (cpuSeconds * 1e6) / load.requests : null);
      return {
        ...load,
        serverCpus: cpuKnown ? c.server / c.seconds : null,
        serverCpuUsPerRequest: perRequest(c.server),
        mainProcessCpuUsPerRequest: perRequest(c.main),
        loadGenCpuUsPerRequest: perRequest(c.loadGen),
        otherCpus: cpuKnown ? c.others / c.seconds : null,
      };
    };
    return [result(0), result(1)];
  } finally {
    await Promise.all(targets.map((t) => t.close()));
  }
}

async function expectBody(server: ServerProcess, headers: Record<string, string>): Promise<void> {
  const res = await fetch(server.origin + PATH, { headers });
  const body = await res.text();
  if (res.status !== 200 || !isDeepStrictEqual(JSON.parse(body), EXPECTED)) {
    throw new Error(`${server.name} answered HTTP ${res.status} ${body}; expected ${JSON.stringify(EXPECTED)}`);
  }
}
