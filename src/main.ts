// Start: config → database (+ migrations) → sandbox processes → HTTP. See docs/ARCHITECTURE.md.
import type { Server } from "node:http";
import { buildApp } from "./app.ts";
import { signToken } from "./auth/tokens.ts";
import { adminLink } from "./admin/admin-link.ts";
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { DataDirInUse } from "./db/data-dir-lock.ts";
import { createLogger, type Logger } from "./logger.ts";
import { createServices, type Services } from "./services.ts";

const DEMO_TENANT = "demo";

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const services = await createServices(config, logger);
  if (!config.databaseUrl || config.env !== "production") await ensureDemoTenant(services);
  const app = buildApp(services);
  const server = app.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => server.once("listening", resolve).once("error", reject));
  logger.info({ port: config.port, database: services.db.kind, sandboxes: config.sandbox.processes }, "listening");
  if (config.env !== "production") printWelcome(config);
  shutdownOn(server, services, logger, config.shutdownTimeoutMs);
}

async function ensureDemoTenant(s: Services): Promise<void> {
  await s.db.prisma.tenant.upsert({ where: { slug: DEMO_TENANT }, create: { slug: DEMO_TENANT, name: "Demo" }, update: {} });
}

// A newcomer's first two commands, ready to paste.
function printWelcome(config: Config): void {
  const token = signToken({ sub: "demo-admin", tenant: DEMO_TENANT, role: "admin" }, config.jwtSecret);
  const base = `http://localhost:${config.port}`;
  process.stdout.write(
    [
      "",
      `SBH extension platform on ${base} (tenant "${DEMO_TENANT}")`,
      `Admin token for tenant ${DEMO_TENANT}:`,
      `  export TOKEN=${token}`,
      `Admin UI (signs in with that token): ${adminLink(base, token)}`,
      "Upload the example plugin, then call its route:",
      `  (cd plugins-examples/hello && zip -qr ../../hello.zip .) && curl -s -H "Authorization: Bearer $TOKEN" -F file=@hello.zip ${base}/api/plugins/upload`,
      `  curl -s -H "Authorization: Bearer $TOKEN" ${base}/ext/hello/ping`,
      "",
    ].join("\n"),
  );
}

// SIGTERM: first drain (readiness answers 503 so a load balancer stops sending, answers carry
// `Connection: close`, and requests already on the wire get read), then stop accepting and let
// accepted requests finish, then stop background work and the sandboxes. Past the deadline, exit.
const DRAIN_MS = 1000;

function shutdownOn(server: Server, services: Services, logger: Logger, timeoutMs: number): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    services.draining = true;
    logger.info({ signal, timeoutMs }, "shutting down");
    const force = setTimeout(() => {
      logger.error({ timeoutMs }, "shutdown deadline passed; exiting with work unfinished");
      process.exit(1);
    }, timeoutMs).unref();
    setTimeout(() => {
      server.close(async () => {
        await services.close().catch((err) => logger.error({ err }, "close failed"));
        clearTimeout(force);
        process.exit(0);
      });
    }, Math.min(DRAIN_MS, timeoutMs / 2));
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((err) => {
  // A data directory in use is the user's situation to resolve, not a crash: the message says how.
  process.stderr.write(err instanceof DataDirInUse ? `${err.message}\n` : `failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
