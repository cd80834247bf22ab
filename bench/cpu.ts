import { readFileSync, readdirSync } from "node:fs";

// CPU accounting from /proc (Linux; elsewhere every figure is null). It answers two questions
// a throughput number alone cannot: how much CPU each server spends per request, and how much
// of the machine other processes took while a slice ran (a shared machine skews both servers).

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every mainstream Linux build

export interface CpuSnapshot {
  at: number;
  /** Busy ticks of the whole machine (all CPUs). */
  machine: number;
  /** Ticks of each watched process tree (the process and its descendants). */
  trees: number[];
  /** Ticks of each watched process alone (without its children). */
  roots: number[];
  /** CPU of this process (the load generator), from process.cpuUsage, in microseconds. */
  selfUs: number;
  /** Ticks of this process and all its descendants (load generator + servers + sandboxes). */
  ours: number;
}

export interface CpuUsage {
  /** Average CPUs used by each watched tree during the interval. */
  trees: number[];
  /** Average CPUs used by each watched process alone. */
  roots: number[];
  /** Average CPUs used by this process (the load generator). */
  self: number;
  /** Average CPUs used by processes outside this benchmark during the interval. */
  others: number;
}

export function cpuSnapshot(roots: number[]): CpuSnapshot | null {
  try {
    const procs = readProcesses();
    return {
      at: performance.now(),
      machine: machineBusyTicks(),
      trees: roots.map((r) => treeTicks(procs, r)),
      roots: roots.map((r) => procs.get(r)?.ticks ?? 0),
      selfUs: cpuMicros(),
      ours: treeTicks(procs, process.pid),
    };
  } catch {
    return null;
  }
}

export function cpuBetween(a: CpuSnapshot | null, b: CpuSnapshot | null): CpuUsage | null {
  if (!a || !b) return null;
  const seconds = (b.at - a.at) / 1000;
  const cpus = (ticks: number) => ticks / TICKS_PER_SECOND / seconds;
  return {
    trees: a.trees.map((t, i) => cpus(b.trees[i] - t)),
    roots: a.roots.map((t, i) => cpus(b.roots[i] - t)),
    self: (b.selfUs - a.selfUs) / 1e6 / seconds,
    others: Math.max(0, cpus(b.machine - a.machine - (b.ours - a.ours))),
  };
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function machineBusyTicks(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0];
  const [, ...fields] = line.trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal: stolen time is CPU another guest took.
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return user + nice + system + irq + softirq + (steal || 0);
}

function readProcesses(): Map<number, { ppid: number; ticks: number }> {
  const out = new Map<number, { ppid: number; ticks: number }>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // The command name may hold spaces and parentheses: fields start after the last ")".
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    out.set(Number(name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
  }
  return out;
}

function treeTicks(procs: Map<number, { ppid: number; ticks: number }>, root: number): number {
  let total = 0;
  const stack = [root];
  const children = new Map<number, number[]>();
  for (const [pid, p] of procs) {
    const list = children.get(p.ppid);
    if (list) list.push(pid);
    else children.set(p.ppid, [pid]);
  }
  while (stack.length) {
    const pid = stack.pop()!;
    total += procs.get(pid)?.ticks ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}
