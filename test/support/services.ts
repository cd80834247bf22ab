import net from "node:net";
import tls from "node:tls";
import type { TestContext } from "node:test";
import pg from "pg";

// External services the suite can use when they run (Postgres, Redis). A missing service skips
// its tests loudly; in CI, REQUIRE_SERVICES=1 turns that skip into a failure so a broken
// service container cannot pass as green.

export type Service = "postgres" | "redis";

const PROBE_TIMEOUT_MS = 1000;

export function postgresUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.TEST_DATABASE_URL || "postgresql://postgres@127.0.0.1:5432/test";
}

export function redisUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.TEST_REDIS_URL || "redis://127.0.0.1:6379";
}

/** True when a connection and `SELECT 1` succeed within a second. */
export async function postgresAvailable(url: string = postgresUrl()): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** True when the server answers PING with +PONG within a second (raw RESP, no client library). */
export function redisAvailable(url: string = redisUrl()): Promise<boolean> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1";
  const port = Number(u.port || 6379);
  const commands: string[][] = [];
  if (u.password) commands.push(u.username ? ["AUTH", decodeURIComponent(u.username), decodeURIComponent(u.password)] : ["AUTH", decodeURIComponent(u.password)]);
  commands.push(["PING"]);
  const payload = commands.map(resp).join("");
  return new Promise((resolve) => {
    const socket =
      u.protocol === "rediss:" ? tls.connect({ host, port, servername: host }) : net.connect({ host, port });
    let reply = "";
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), PROBE_TIMEOUT_MS);
    socket.once(u.protocol === "rediss:" ? "secureConnect" : "connect", () => socket.write(payload));
    socket.on("data", (chunk) => {
      reply += chunk.toString("latin1");
      // Replies arrive in command order: an error (bad AUTH, NOAUTH) before PONG means unusable.
      for (const line of reply.split("\r\n").slice(0, -1)) {
        if (line.startsWith("-")) return done(false);
        if (line === "+PONG") return done(true);
      }
    });
    socket.on("error", () => done(false));
    socket.on("close", () => done(false));
  });
}

const announced = new Set<Service>();

/**
 * Call first in a test that needs `what`. Returns true when the test may go on. When the
 * service is down it skips the test (and says so on stderr), or, with REQUIRE_SERVICES=1,
 * throws so the test fails.
 */
export async function requireOrSkip(t: TestContext, what: Service, available: boolean): Promise<boolean> {
  if (available) return true;
  const where = what === "postgres" ? redact(postgresUrl()) : redact(redisUrl());
  const name = what === "postgres" ? "Postgres" : "Redis";
  const envVar = what === "postgres" ? "TEST_DATABASE_URL" : "TEST_REDIS_URL";
  if (process.env.REQUIRE_SERVICES === "1") {
    throw new Error(`${name} is REQUIRED (REQUIRE_SERVICES=1) but not reachable at ${where} (set ${envVar})`);
  }
  const reason = `SKIPPED: ${name} not reachable at ${where}; these tests did NOT run; set REQUIRE_SERVICES=1 to make this fail`;
  if (!announced.has(what)) {
    announced.add(what);
    process.stderr.write(`\n!!! ${reason}\n\n`);
  }
  t.skip(reason);
  return false;
}

function resp(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
}

// Connection strings may carry passwords; messages must not.
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "<unparseable URL>";
  }
}
