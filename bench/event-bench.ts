// Event → hook: hook runs per second through the whole path (store event + runs, queue, sandbox
// call, record the outcome) and the publish-to-handler latency the hook itself observes.
// Embedded (PGlite, in-process executor) always; BullMQ (Postgres + Redis) when both answer.
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

export interface EventBenchResult {
  engine: "embedded" | "bullmq";
  skipped?: string;
  installs?: number;
  events?: number;
  hookRuns?: number;
  seconds?: number;
  hookRunsPerSecond?: number;
  publishToHandlerMs?: { p50: number; p99: number };
}

const INSTALLS = 10;

function hookPlugin(slug: string): Buffer {
  const zip = new AdmZip();
  zip.addFile("plugin.json", Buffer.from(JSON.stringify({ slug, name: slug, version: "1.0.0", events: ["bench.ping"] })));
  // The hook reports how long after publication it started, by the wall clock it shares with the host.
  zip.addFile(
    "main.js",
    Buffer.from(`import { hook } from "@sbh/sdk";
hook("bench.ping", async (ctx, event) => { ctx.log.info("lat", { ms: Date.now() - Date.parse(event.occurred_at) }); });`),
  );
  return zip.toBuffer();
}

async function drive(services: Services[], events: number): Promise<Omit<EventBenchResult, "engine">> {
  const [api] = services;
  const prisma = api.db.prisma;
  const tenant = await prisma.tenant.create({ data: { slug: `bench-${randomBytes(3).toString("hex")}`, name: "bench" } });
  for (let i = 0; i < INSTALLS; i++) await api.upload(tenant, hookPlugin(`hook-${i}`));
  // Warm every install's isolate so the measurement is the steady state, not cold starts.
  await api.events.publish(tenant, { type: "bench.ping", data: {}, source: "bench" });
  await waitDone(prisma, tenant.id, INSTALLS);
  const started = performance.now();
  await publishBurst(api, tenant, events);
  const total = INSTALLS * (events + 1);
  await waitDone(prisma, tenant.id, total);
  const seconds = (performance.now() - started) / 1000;
  for (const s of services) await s.recorder.flush();
  const lat = (await prisma.pluginLog.findMany({ where: { install: { tenantId: tenant.id }, message: "lat" }, select: { fields: true } }))
    .map((r) => Number((r.fields as { ms?: number } | null)?.ms))
    .filter((n) => Number.isFinite(n))
    .sort((a, b) => a - b);
  const pct = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] ?? NaN;
  return {
    installs: INSTALLS,
    events,
    hookRuns: INSTALLS * events,
    seconds,
    hookRunsPerSecond: (INSTALLS * events) / seconds,
    publishToHandlerMs: { p50: pct(0.5), p99: pct(0.99) },
  };
}

/** Publishes `events` bench.ping events, 16 at a time, as a busy host would. */
export async function publishBurst(api: Services, tenant: { id: string; slug: string }, events: number): Promise<void> {
  const publishing: Promise<unknown>[] = [];
  for (let i = 0; i < events; i++) {
    publishing.push(api.events.publish(tenant, { type: "bench.ping", data: { i }, source: "bench" }));
    if (publishing.length >= 16) await Promise.all(publishing.splice(0));
  }
  await Promise.all(publishing);
}

async function waitDone(prisma: Services["db"]["prisma"], tenantId: string, expected: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const done = await prisma.hookRun.count({ where: { tenantId, status: { not: "pending" } } });
    if (done >= expected) return;
    if (Date.now() > deadline) throw new Error(`only ${done} of ${expected} hook runs finished in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function configFor(dataDir: string, env: Record<string, string> = {}) {
  return loadConfig({ NODE_ENV: "test", DATA_DIR: dataDir, LOG_LEVEL: "silent", SANDBOX_PROCESSES: "2", ...env });
}

export async function eventBench(events: number): Promise<EventBenchResult[]> {
  const results: EventBenchResult[] = [];
  const dataDir = mkdtempSync(path.join(tmpdir(), "sbh-bench-events-"));
  const logger = createLogger("silent");
  try {
    const db = await openDatabase({ inMemory: true });
    const services = await createServices(configFor(dataDir), logger, { db });
    try {
      results.push({ engine: "embedded", ...(await drive([services], events)) });
    } finally {
      await services.close();
      await db.close();
    }

    const bull = await withBullmqServices((env) => configFor(dataDir, env), logger, (both) => drive(both, events));
    results.push("skipped" in bull ? { engine: "bullmq", skipped: bull.skipped } : { engine: "bullmq", ...bull.value });
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  return results;
}
