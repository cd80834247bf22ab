// `npm run bench`: the DESIGN §8 numbers one run can measure on one machine, as ratios against
// a baseline measured the same way in the same run. Prints a table and writes
// bench/results/latest.json. `--quick` shortens every phase (a smoke run, not a measurement).
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { coldStartBench } from "./cold-start.ts";
import { eventBench } from "./event-bench.ts";
import { jobBench } from "./job-bench.ts";
import { noisyNeighbourBench } from "./noisy-neighbour-bench.ts";
import { formatReport, goals, machineInfo, type BenchReport } from "./report.ts";
import { routeBench, type RoutePhase } from "./route-bench.ts";
import { scaleBench } from "./scale-bench.ts";
import { webhookBench } from "./webhook-bench.ts";

const quick = process.argv.includes("--quick");
const s = (seconds: number) => (quick ? Math.min(seconds, 1) : seconds) * 1000;

const PHASES: RoutePhase[] = [
  // Saturation at fixed concurrency: the throughput ratio. Latency here is mostly queueing
  // (32 ÷ throughput), so its p99 difference mirrors the throughput gap.
  { kind: "closed", concurrency: 32, warmupMs: s(2), durationMs: s(8), sliceMs: s(2) },
  // One request at a time: the latency the /ext path adds when nothing queues.
  { kind: "closed", concurrency: 1, warmupMs: s(1), durationMs: s(6), sliceMs: s(2) },
  // Equal offered load on both, well below saturation: the p99 a loaded-but-healthy node adds.
  { kind: "rate", fractionOfExt: 0.5, connections: 32, warmupMs: s(1), durationMs: s(6), sliceMs: s(2) },
];
const COLD_SAMPLES = quick ? 20 : 200;
const EVENTS = quick ? 20 : 300;
const JOB_RUNS = quick ? 10 : 100;
const WEBHOOK_EVENTS = quick ? 20 : 300;

const progress = (line: string) => process.stderr.write(`· ${line}\n`);

async function main(): Promise<void> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const machine = machineInfo();

  const route = await routeBench(PHASES, progress);
  progress(`isolate cold start: ${COLD_SAMPLES} warm calls, ${COLD_SAMPLES} evict + call, ${COLD_SAMPLES} new keys`);
  const coldStart = await coldStartBench(COLD_SAMPLES);
  progress(`event → hook: ${EVENTS} events × 10 installs, embedded then BullMQ`);
  const events = await eventBench(EVENTS);
  progress(`job dispatch: ${JOB_RUNS} run-now → handler start, one at a time, embedded then BullMQ`);
  const jobs = await jobBench(JOB_RUNS);
  progress(`webhooks: receiver ceiling, then ${WEBHOOK_EVENTS} events × 10 installs, embedded then BullMQ`);
  const webhooks = await webhookBench(WEBHOOK_EVENTS, s(4));
  progress("scale-out: /ext c=32 on one scaled-mode API process, then split over two");
  const scale = await scaleBench(s(2), s(6));
  progress("noisy neighbour: tenant B's /ext p50 idle, then while tenant A runs an event storm and a timeout storm");
  const noisy = await noisyNeighbourBench(s(5), s(8));

  const report: BenchReport = {
    startedAt,
    totalSeconds: (performance.now() - started) / 1000,
    machine,
    route,
    coldStart,
    events,
    jobs,
    webhooks,
    scale,
    noisy,
    goals: goals(route, coldStart, events, webhooks, noisy),
  };
  process.stdout.write(formatReport(report));
  const out = path.join(import.meta.dirname, "results", quick ? "quick.json" : "latest.json");
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`Results written to ${path.relative(process.cwd(), out)}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
