// Job dispatch overhead: run-now → the handler's first line, through JobService.trigger (the
// run-now endpoint's path without HTTP), one run at a time, embedded and BullMQ.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import AdmZip from "adm-zip";
import { loadConfig } from "../src/config.ts";
import { openDatabase } from "../src/db/database.ts";
import { createLogger } from "../src/logger.ts";
import { createServices, type Services } from "../src/services.ts";
import { withBullmqServices } from "./bullmq-services.ts";

export interface JobBenchResult {
  engine: "embedded" | "bullmq";
  skipped?: string;
  runs?: number;
  dispatchMs?: { p50: number; p99: number };
}

function jobPlugin(): Buffer {
  const zip = new AdmZip();
  zip.addFile("plugin.json", Buffer.from(JSON.stringify({ slug: "bench-job", name: "bench", version: "1.0.0", jobs: [{ name: "j", schedule: "0 0 1 1 *" }] })));
  // The handler returns its own start time; isolates share the host's clock.
  zip.addFile("main.js", Buffer.from(`import { job } from "@sbh/sdk";\njob("j", async () => ({ at: Date.now() }));`));
  return zip.toBuffer();
}

async function drive(api: Services, runs: number): Promise<Omit<JobBenchResult, "engine">> {
  const prisma = api.db.prisma;
  const tenant = await prisma.tenant.create({ data: { slug: `jb-${randomBytes(3).toString("hex")}`, name: "bench" } });
  const { install } = await api.upload(tenant, jobPlugin());
  const samples: number[] = [];
  for (let i = 0; i < runs + 5; i++) {
    const t0 = Date.now();
    const { run } = await api.jobs.trigger(install, "j", "manual");
    const deadline = Date.now() + 30_000;
    let row = await prisma.jobRun.findUnique({ where: { id: run.id } });
    while (row && !["succeeded", "failed", "timed_out"].includes(row.status) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2));
      row = await prisma.jobRun.findUnique({ where: { id: run.id } });
    }
    const at = (row?.result as { at?: number } | null)?.at;
    if (i >= 5 && typeof at === "number") samples.push(at - t0); // the first runs warm the isolate
  }
  samples.sort((a, b) => a - b);
  const pct = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? NaN;
  return { runs: samples.length, dispatchMs: { p50: pct(0.5), p99: pct(0.99) } };
}

export async function jobBench(runs: number): Promise<JobBenchResult[]> {
  const out: JobBenchResult[] = [];
  const dataDir = mkdtempSync(path.join(tmpdir(), "sbh-bench-jobs-"));
  const logger = createLogger("silent");
  const config = (env: Record<string, string> = {}) =>
    loadConfig({ NODE_ENV: "test", DATA_DIR: dataDir, LOG_LEVEL: "silent", SANDBOX_PROCESSES: "1", ...env });
  try {
    const db = await openDatabase({ inMemory: true });
    const s = await createServices(config(), logger, { db });
    try {
      out.push({ engine: "embedded", ...(await drive(s, runs)) });
    } finally {
      await s.close();
      await db.close();
    }
    const bull = await withBullmqServices(config, logger, ([api]) => drive(api, runs));
    out.push("skipped" in bull ? { engine: "bullmq", skipped: bull.skipped } : { engine: "bullmq", ...bull.value });
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  return out;
}
