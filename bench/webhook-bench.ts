// Webhook deliveries: signed POSTs per second from event to receiver (store event + delivery
// rows, queue, sign, POST, record the attempt), against the receiver's own ceiling measured
// the same way in the same run: the same signed request sent straight to it with undici.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import AdmZip from "adm-zip";
import { Agent, request } from "undici";
import { loadConfig } from "../src/config.ts";
import { openDatabase } from "../src/db/database.ts";
import { createLogger } from "../src/logger.ts";
import { createServices, type Services } from "../src/services.ts";
import { signWebhook } from "../src/webhooks/signature.ts";
import { withBullmqServices } from "./bullmq-services.ts";
import { publishBurst } from "./event-bench.ts";
import { freePort, startServer, type ServerProcess } from "./servers.ts";

export interface WebhookBenchResult {
  installs: number;
  ceilingConcurrency: number;
  receiverCeilingPerSecond: number;
  runs: {
    engine: "embedded" | "bullmq";
    skipped?: string;
    deliveries?: number;
    seconds?: number;
    deliveriesPerSecond?: number;
  }[];
}

// The fan-out of the event → hook benchmark: ten subscribing installs per event.
const INSTALLS = 10;
const SIGNING_KEY = "bench-signing-key";
const CONCURRENCY = 64;

function webhookPlugin(slug: string): Buffer {
  const zip = new AdmZip();
  zip.addFile(
    "plugin.json",
    Buffer.from(JSON.stringify({ slug, name: slug, version: "1.0.0", permissions: ["emit_webhook"], secrets: ["WEBHOOK_URL", "WEBHOOK_SIGNING_KEY"] })),
  );
  zip.addFile("main.js", Buffer.from("export {};\n"));
  zip.addFile(
    "webhooks/ping.yaml",
    Buffer.from(`api_version: v1
on: ["bench.ping"]
delivery:
  url: "\${SECRET:WEBHOOK_URL}"
  headers: {X-Tenant: "\${TENANT_ID}"}
  signing: {alg: "HMAC-SHA256", secret: "\${SECRET:WEBHOOK_SIGNING_KEY}"}
`),
  );
  return zip.toBuffer();
}

async function received(rx: ServerProcess): Promise<{ received: number; bad: number }> {
  const res = await fetch(`${rx.origin}/count`);
  return (await res.json()) as { received: number; bad: number };
}

// The receiver's ceiling: the same kind of signed POST, CONCURRENCY at a time, for `ms`.
async function ceiling(rx: ServerProcess, ms: number): Promise<number> {
  const agent = new Agent({ connections: CONCURRENCY });
  const body = JSON.stringify({ id: randomUUID(), type: "bench.ping", tenant: "bench", data: { i: 1 }, occurred_at: new Date().toISOString() });
  const before = (await received(rx)).received;
  const started = performance.now();
  const until = started + ms;
  const worker = async () => {
    while (performance.now() < until) {
      const id = randomUUID();
      const ts = Math.floor(Date.now() / 1000);
      const res = await request(`${rx.origin}/hook`, {
        method: "POST",
        dispatcher: agent,
        body,
        headers: { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": signWebhook(SIGNING_KEY, id, ts, body) },
      });
      await res.body.dump();
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - started) / 1000;
  await agent.close();
  return ((await received(rx)).received - before) / seconds;
}

export async function drive(services: Services[], rx: ServerProcess, events: number) {
  const [api] = services;
  const prisma = api.db.prisma;
  const tenant = await prisma.tenant.create({ data: { slug: `bench-${randomBytes(3).toString("hex")}`, name: "bench" } });
  for (let i = 0; i < INSTALLS; i++) {
    const { install } = await api.upload(tenant, webhookPlugin(`wh-${i}`));
    await api.secrets.put(install.id, "WEBHOOK_URL", `${rx.origin}/hook`);
    await api.secrets.put(install.id, "WEBHOOK_SIGNING_KEY", SIGNING_KEY);
  }
  await api.events.publish(tenant, { type: "bench.ping", data: {}, source: "bench" });
  await waitDelivered(prisma, tenant.id, INSTALLS);
  const before = (await received(rx)).received;
  const started = performance.now();
  await publishBurst(api, tenant, events);
  await waitDelivered(prisma, tenant.id, INSTALLS * (events + 1));
  const seconds = (performance.now() - started) / 1000;
  const counts = await received(rx);
  const deliveries = INSTALLS * events;
  if (counts.received - before < deliveries) throw new Error(`the receiver verified ${counts.received - before} of ${deliveries} deliveries`);
  return { deliveries, seconds, deliveriesPerSecond: deliveries / seconds };
}

async function waitDelivered(prisma: Services["db"]["prisma"], tenantId: string, expected: number): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const done = await prisma.webhookDelivery.count({ where: { tenantId, status: { not: "pending" } } });
    if (done >= expected) {
      const failed = await prisma.webhookDelivery.count({ where: { tenantId, status: { not: "delivered" } } });
      if (failed) throw new Error(`${failed} deliveries did not succeed`);
      return;
    }
    if (Date.now() > deadline) throw new Error(`only ${done} of ${expected} deliveries finished in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function configFor(dataDir: string, env: Record<string, string> = {}) {
  return loadConfig({ NODE_ENV: "test", DATA_DIR: dataDir, LOG_LEVEL: "silent", SANDBOX_PROCESSES: "2", ALLOW_PRIVATE_EGRESS: "true", ...env });
}

export async function webhookBench(events: number, ceilingMs: number): Promise<WebhookBenchResult> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "sbh-bench-webhooks-"));
  const logger = createLogger("silent");
  const rx = await startServer("receiver", "bench/webhook-receiver.ts", await freePort(), { SIGNING_KEY });
  try {
    const receiverCeilingPerSecond = await ceiling(rx, ceilingMs);
    const runs: WebhookBenchResult["runs"] = [];
    const db = await openDatabase({ inMemory: true });
    const services = await createServices(configFor(dataDir), logger, { db });
    try {
      runs.push({ engine: "embedded", ...(await drive([services], rx, events)) });
    } finally {
      await services.close();
      await db.close();
    }
    const bull = await withBullmqServices((env) => configFor(dataDir, env), logger, (both) => drive(both, rx, events));
    runs.push("skipped" in bull ? { engine: "bullmq", skipped: bull.skipped } : { engine: "bullmq", ...bull.value });
    return { installs: INSTALLS, ceilingConcurrency: CONCURRENCY, receiverCeilingPerSecond, runs };
  } finally {
    await rx.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
