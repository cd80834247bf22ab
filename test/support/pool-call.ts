import type { IsolatePool } from "../../src/sandbox/child/isolate-pool.ts";
import type { CallMessage, CallOutcome } from "../../src/sandbox/protocol.ts";

let seq = 0;

/**
 * Runs route 0 of `source` (the package's main.js) for a plugin named `key`, as the sandbox
 * process runs a host's call: tests of the sandbox side drive an IsolatePool directly with it.
 */
export function callRoute(pool: IsolatePool, key: string, source: string, token: string, body: unknown): Promise<CallOutcome> {
  const versionId = `v-${key}`;
  pool.rememberCode({ versionId, entry: "main.js", files: { "main.js": source } });
  const msg: CallMessage = {
    t: "call",
    id: ++seq,
    token,
    key,
    versionId,
    memoryMb: 32,
    timeoutMs: 2000,
    kind: "route",
    name: "0",
    argsJson: JSON.stringify([{ method: "POST", path: "/", params: {}, query: {}, headers: {}, body }]),
    infoJson: JSON.stringify({ tenantId: key, userId: null, plugin: { slug: key, version: "1.0.0", installId: key }, config: {} }),
  };
  return pool.run(msg);
}
