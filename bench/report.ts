import type { EventBenchResult } from "./event-bench.ts";
import type { JobBenchResult } from "./job-bench.ts";
import type { ScaleBenchResult } from "./scale-bench.ts";
import type { WebhookBenchResult } from "./webhook-bench.ts";
import os from "node:os";
import type { ColdStartResult, Distribution } from "./cold-start.ts";
import type { LoadResult } from "./load.ts";
import type { NoisyNeighbourResult } from "./noisy-neighbour-bench.ts";
import type { RouteBenchResult, ServerRun } from "./route-bench.ts";

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  platform: string;
  loadAverage1m: number;
}

export interface Goal {
  name: string;
  target: string;
  value: number;
  unit: string;
  pass: boolean;
}

export interface BenchReport {
  startedAt: string;
  totalSeconds: number;
  machine: Machine;
  route: RouteBenchResult;
  coldStart: ColdStartResult;
  events: EventBenchResult[];
  jobs: JobBenchResult[];
  webhooks: WebhookBenchResult;
  scale: ScaleBenchResult;
  noisy: NoisyNeighbourResult;
  goals: Goal[];
}

/** Above this many CPUs taken by other processes, latency tails say more about them than about us. */
const BUSY_MACHINE_CPUS = 0.25;

export function machineInfo(): Machine {
  const cpus = os.cpus();
  return {
    cpus: os.availableParallelism?.() ?? cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverage1m: Math.round(os.loadavg()[0] * 100) / 100,
  };
}

/** The §8 numbers this run can check, each against its target. */
export function goals(route: RouteBenchResult, cold: ColdStartResult, events: EventBenchResult[] = [], webhooks?: WebhookBenchResult, noisy?: NoisyNeighbourResult): Goal[] {
  const out: Goal[] = [];
  const closed = route.pairs.filter((p) => p.kind === "closed");
  const loaded = closed.reduce((a, b) => (b.concurrency > a.concurrency ? b : a));
  const ratio = loaded.ext.rps / loaded.baseline.rps;
  out.push({ name: `/ext throughput ÷ baseline (${loaded.label})`, target: "≥ 0.70", value: ratio, unit: "", pass: ratio >= 0.7 });
  for (const pair of route.pairs) {
    const added = pair.ext.latencyMs.p99 - pair.baseline.latencyMs.p99;
    out.push({ name: `/ext p99 added latency (${pair.label})`, target: "≤ 2 ms", value: added, unit: "ms", pass: added <= 2 });
  }
  const idle = closed.reduce((a, b) => (b.concurrency < a.concurrency ? b : a));
  const added = idle.ext.latencyMs.p50 - idle.baseline.latencyMs.p50;
  out.push({ name: `/ext p50 added latency (${idle.label}), for reference`, target: "≤ 2 ms", value: added, unit: "ms", pass: added <= 2 });
  out.push({ name: "isolate cold start, median (evict + call)", target: "≤ 5 ms", value: cold.coldAfterEvict.median, unit: "ms", pass: cold.coldAfterEvict.median <= 5 });
  out.push({ name: "isolate cold start, median (new install key)", target: "≤ 5 ms", value: cold.coldNewKey.median, unit: "ms", pass: cold.coldNewKey.median <= 5 });
  out.push({ name: "isolate cold start, median (new key, 50 ms apart)", target: "≤ 5 ms", value: cold.coldNewKeySpaced.median, unit: "ms", pass: cold.coldNewKeySpaced.median <= 5 });
  const embedded = events.find((e) => e.engine === "embedded" && e.hookRunsPerSecond !== undefined);
  if (embedded) {
    const v = embedded.hookRunsPerSecond!;
    out.push({ name: "event → hook runs/s (embedded)", target: "≥ 5000", value: v, unit: "/s", pass: v >= 5000 });
  }
  for (const run of webhooks?.runs ?? []) {
    if (run.deliveriesPerSecond === undefined) continue;
    const v = run.deliveriesPerSecond;
    out.push({ name: `signed webhook deliveries/s (${run.engine})`, target: "≥ 1000", value: v, unit: "/s", pass: v >= 1000 });
  }
  if (noisy) {
    out.push({ name: "noisy neighbour: B's /ext p50 under A's storms ÷ idle", target: "≤ 2.0", value: noisy.ratio, unit: "", pass: noisy.ratio <= 2 });
  }
  return out;
}

/** The human-readable summary printed at the end of a run. */
export function formatReport(r: BenchReport): string {
  const m = r.machine;
  const lines: string[] = [];
  lines.push("");
  lines.push(`Machine: ${m.cpus} CPU (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}, load avg ${m.loadAverage1m} at start`);
  lines.push(`Run: ${r.startedAt}, ${r.totalSeconds.toFixed(1)} s. The load generator, both servers and the sandbox processes share these CPUs.`);
  lines.push("");
  lines.push(...routeSection(r.route));
  lines.push("");
  lines.push(...coldSection(r.coldStart));
  lines.push("");
  lines.push(...eventSection(r.events));
  lines.push("");
  lines.push(...jobSection(r.jobs));
  lines.push("");
  lines.push(...webhookSection(r.webhooks));
  lines.push("");
  lines.push(...scaleSection(r.scale));
  lines.push("");
  lines.push(...noisySection(r.noisy));
  lines.push("");
  lines.push("Goals (DESIGN §8)");
  lines.push(
    ...table(
      ["goal", "target", "measured", "result"],
      r.goals.map((g) => [g.name, g.target, g.unit === "" ? g.value.toFixed(2) : `${g.value.toFixed(2)} ${g.unit}`, g.pass ? "PASS" : "MISS"]),
      2,
    ),
  );
  lines.push("");
  return lines.join("\n");
}

function eventSection(events: EventBenchResult[]): string[] {
  const lines = ["Event → hook — events published 16 at a time to 10 installs of one tenant that hook them; runs/s from the first",
    "publish until every run is recorded; publish→handler: the hook's own clock minus the event's occurred_at"];
  const rows = events.map((e) =>
    e.skipped
      ? [e.engine, "skipped", e.skipped, "", "", ""]
      : [e.engine, String(e.hookRuns), e.seconds!.toFixed(2), e.hookRunsPerSecond!.toFixed(0), e.publishToHandlerMs!.p50.toFixed(1), e.publishToHandlerMs!.p99.toFixed(1)],
  );
  lines.push(...table(["engine", "hook runs", "seconds", "runs/s", "publish→handler p50 ms", "p99 ms"], rows, 2));
  return lines;
}

function noisySection(r: NoisyNeighbourResult): string[] {
  const lines = ["Noisy neighbour — tenant B: GET /ext/hello/ping, one at a time; tenant A meanwhile: a self-emitting hook fed a root",
    "event every 500 ms (EVENT_TREE_MAX and TENANT_EMIT_RATE at their defaults) and 2 loops on a route spinning to its 100 ms timeout"];
  const row = (label: string, l: LoadResult) => [label, l.rps.toFixed(0), l.latencyMs.p50.toFixed(2), l.latencyMs.p99.toFixed(2), String(l.errors)];
  lines.push(...table(["tenant B", "req/s", "p50 ms", "p99 ms", "errors"], [row("idle", r.idle), row("during A's storms", r.storm)], 1));
  lines.push(`p50 ratio: ×${r.ratio.toFixed(2)}; A's spin answers by status: ${JSON.stringify(r.noisy.spinAnswers)}; A's root events: ${r.noisy.rootEvents}`);
  lines.push(`refused: ${JSON.stringify(r.noisy.refused)}`);
  return lines;
}

function scaleSection(r: ScaleBenchResult): string[] {
  const lines = ["Scale-out — GET /ext/hello/ping at c=32 in scaled mode (Postgres + Redis), one API process (1 sandbox process) against two",
    "with the load split 16 + 16; load generator, servers, sandboxes and Postgres share this machine's CPUs"];
  if (r.skipped) return [...lines, `skipped: ${r.skipped}`];
  const row = (label: string, l: LoadResult) => [label, l.rps.toFixed(0), l.latencyMs.p50.toFixed(2), l.latencyMs.p99.toFixed(2), String(l.errors)];
  lines.push(...table(["API processes", "req/s", "p50 ms", "p99 ms", "errors"], [row("1", r.one!), row("2", r.two!)], 1));
  lines.push(`2 ÷ 1: ×${r.ratio!.toFixed(2)}`);
  return lines;
}

function webhookSection(w: WebhookBenchResult): string[] {
  const lines = [
    `Webhook deliveries — events published 16 at a time to ${w.installs} installs of one tenant, each with one webhook on the event; every`,
    "delivery is signed, POSTed to a receiver process that verifies the signature, and its attempt recorded. Receiver ceiling: the",
    `same signed POST sent straight to it with undici, ${w.ceilingConcurrency} at a time (what the receiver and this machine can take).`,
    `Receiver ceiling: ${w.receiverCeilingPerSecond.toFixed(0)} POSTs/s`,
  ];
  const rows = w.runs.map((r) =>
    r.skipped
      ? [r.engine, "skipped", r.skipped, "", ""]
      : [r.engine, String(r.deliveries), r.seconds!.toFixed(2), r.deliveriesPerSecond!.toFixed(0), (r.deliveriesPerSecond! / w.receiverCeilingPerSecond).toFixed(2)],
  );
  lines.push(...table(["engine", "deliveries", "seconds", "deliveries/s", "÷ ceiling"], rows, 2));
  return lines;
}

function jobSection(jobs: JobBenchResult[]): string[] {
  const lines = ["Job dispatch — run-now (JobService.trigger) → the handler's first line, one run at a time, warm isolate"];
  const rows = jobs.map((j) =>
    j.skipped ? [j.engine, "skipped", j.skipped, ""] : [j.engine, String(j.runs), j.dispatchMs!.p50.toFixed(1), j.dispatchMs!.p99.toFixed(1)],
  );
  lines.push(...table(["engine", "runs", "p50 ms", "p99 ms"], rows, 1));
  return lines;
}

function routeSection(route: RouteBenchResult): string[] {
  const lines: string[] = [];
  lines.push(`GET ${route.path}, undici Pool (pipelining 1), platform with ${route.sandboxProcesses} sandbox processes. c=N: closed loop, N workers on`);
  lines.push("N connections; N req/s: open loop at that fixed rate (half /ext's c=32 throughput), latency from each request's scheduled time.");
  lines.push("Baseline: the same handler as a bare Express route that verifies the Bearer JWT with the platform's own verifyToken (HS256 +");
  lines.push("claims); it has no tenant/install lookup, rate limit, body parsers, sandbox hop or invocation log — the overhead measured.");
  lines.push("Measured slices alternate baseline and /ext (ABBA), so background load falls on both alike.");
  const rows: string[][] = [];
  for (const p of route.pairs) {
    rows.push(loadRow(p.label, "baseline", p.baseline));
    rows.push(loadRow(p.label, "/ext", p.ext));
    const d = (f: (s: ServerRun) => number) => signed(f(p.ext) - f(p.baseline));
    rows.push(["", "ext − base", p.kind === "rate" ? "" : `×${(p.ext.rps / p.baseline.rps).toFixed(2)}`, d((s) => s.latencyMs.p50), d((s) => s.latencyMs.p90), d((s) => s.latencyMs.p99), "", ""]);
  }
  lines.push(...table(["load", "server", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"], rows, 2));
  lines.push("");
  lines.push("CPU per request (µs; from /proc) — what the throughput ratio is made of on a machine this size");
  const cpuRows: string[][] = [];
  for (const p of route.pairs) {
    for (const [name, s] of [["baseline", p.baseline], ["/ext", p.ext]] as const) {
      const children = s.serverCpuUsPerRequest === null || s.mainProcessCpuUsPerRequest === null ? null : s.serverCpuUsPerRequest - s.mainProcessCpuUsPerRequest;
      cpuRows.push([p.label, name, opt(s.serverCpuUsPerRequest, 0), opt(s.mainProcessCpuUsPerRequest, 0), opt(children, 0), opt(s.loadGenCpuUsPerRequest, 0), opt(s.serverCpus, 2), opt(s.otherCpus, 2)]);
    }
  }
  lines.push(...table(["load", "server", "server total", "main process", "sandboxes", "load generator", "server CPUs", "others' CPUs"], cpuRows, 2));
  lines.push("main process = the HTTP server (platform: API process); sandboxes = its sandbox child processes. server CPUs = average CPUs");
  lines.push("the server used; others' CPUs = average CPUs taken meanwhile by processes outside this benchmark.");
  const busiest = Math.max(...route.pairs.flatMap((p) => [p.baseline.otherCpus ?? 0, p.ext.otherCpus ?? 0]));
  if (busiest > BUSY_MACHINE_CPUS) {
    lines.push(`WARNING: other processes took up to ${busiest.toFixed(2)} CPUs during the measurement; latency tails (p99) are disturbed.`);
  }
  return lines;
}

function coldSection(c: ColdStartResult): string[] {
  return [
    `Isolate cold start — one sandbox process driven directly with the hello plugin; sandbox-side durationMs, ${c.coldAfterEvict.samples} samples each`,
    ...table(
      ["call", "median ms", "p90 ms", "min ms", "max ms", "sandbox CPU ms/call"],
      [
        distRow("warm isolate", c.warm),
        distRow("warm, host round trip (IPC)", c.warmRoundTrip),
        distRow("cold: evict(key) + call", c.coldAfterEvict),
        distRow("cold: new install key", c.coldNewKey),
        distRow("cold: new key, 50 ms apart", c.coldNewKeySpaced),
      ],
    ),
    "evict also drops the version's compiled plugin code (recompiled on the next call); a new key on a known version",
    "takes everything from the compile cache, and the full pool (8 isolates) disposes its least recently used one.",
    "Runtime and SDK come from the cache in both. sandbox CPU ms/call: CPU of the sandbox process (all threads) per call,",
    "which, unlike the wall-clock columns, does not grow when other processes compete for the CPUs.",
  ];
}

function loadRow(label: string, name: string, l: ServerRun): string[] {
  const ms = l.latencyMs;
  return [label, name, l.rps.toFixed(0), ms.p50.toFixed(2), ms.p90.toFixed(2), ms.p99.toFixed(2), ms.max.toFixed(1), String(l.errors)];
}

function distRow(name: string, d: Distribution): string[] {
  return [name, d.median.toFixed(3), d.p90.toFixed(3), d.min.toFixed(3), d.max.toFixed(3), opt(d.sandboxCpuMs, 2)];
}

function opt(v: number | null, digits: number): string {
  return v === null ? "n/a" : v.toFixed(digits);
}

function signed(v: number): string {
  return `${v >= 0 ? "+" : ""}${v.toFixed(2)}`;
}

/** Names in the first `left` columns are left-aligned, numbers in the rest right-aligned. */
function table(head: string[], rows: string[][], left = 1): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i < left ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [fmt(head), widths.map((w) => "─".repeat(w)).join("  "), ...rows.map(fmt)];
}
