// Shared by the tests that drive a SandboxPool directly, without the app: plugin code given
// inline as the body of main.js, one route per call.
import { createLogger } from "../../src/logger.ts";
import type { CallOutcome } from "../../src/sandbox/protocol.ts";
import { SandboxPool } from "../../src/sandbox/sandbox-pool.ts";
import type { CapabilityHandler, SandboxResult } from "../../src/sandbox/sandbox-process.ts";

export function startPool(opts: { processes?: number; graceMs?: number } = {}): Promise<SandboxPool> {
  const pool = new SandboxPool({
    processes: opts.processes ?? 1,
    idleMs: 60_000,
    maxIsolates: 50,
    graceMs: opts.graceMs ?? 1000,
    logger: createLogger("silent"),
  });
  return pool.start().then(() => pool);
}

export interface RouteCall {
  /** Isolate key: one warm isolate per key (an install in the platform). */
  key: string;
  /** Plugin version; a new one replaces the key's isolate. Defaults to one per source. */
  versionId?: string;
  /** main.js after `import { route } from "@sbh/sdk";`; its first route is the one called. */
  source: string;
  timeoutMs?: number;
  memoryMb?: number;
  capability?: CapabilityHandler;
}

const versions = new Map<string, string>();

/** Calls route 0 of `source` in `pool`. */
export function callRoute(pool: SandboxPool, call: RouteCall): Promise<SandboxResult> {
  const versionId = call.versionId ?? versionOf(call.source);
  return pool.call({
    key: call.key,
    versionId,
    memoryMb: call.memoryMb ?? 32,
    timeoutMs: call.timeoutMs ?? 1000,
    kind: "route",
    name: "0",
    args: [{ method: "GET", path: "/", params: {}, query: {}, headers: {}, body: null }],
    info: { tenantId: "tenant", userId: null, plugin: { slug: "inline", version: "1.0.0", installId: call.key }, config: {} },
    code: () => ({ versionId, entry: "main.js", files: { "main.js": `import { route } from "@sbh/sdk";\n${call.source}` } }),
    capability: call.capability ?? (async () => null),
  });
}

/** The plugin-level answer inside an "ok" outcome: `{ok, value}` or `{ok: false, error}`. */
export function answerOf(outcome: CallOutcome): { ok: boolean; value?: unknown; error?: { name: string; message: string } } {
  if (outcome.status !== "ok") throw new Error(`expected an ok outcome, got ${JSON.stringify(outcome)}`);
  return JSON.parse(outcome.json);
}

function versionOf(source: string): string {
  let id = versions.get(source);
  if (!id) {
    id = `inline-${versions.size + 1}`;
    versions.set(source, id);
  }
  return id;
}
