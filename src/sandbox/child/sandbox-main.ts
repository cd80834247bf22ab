// Entry of a sandbox process: holds isolates, nothing else. It has no credentials and opens
// no connection; every ctx call goes back to the host over IPC. Started by SandboxProcess.
import type { CallMessage, HostMessage, LogLine, SandboxMessage } from "../protocol.ts";
import { IsolatePool } from "./isolate-pool.ts";

const MAX_LOG_LINES = 200;
const idleMs = Number(process.env.SBH_SANDBOX_IDLE_MS ?? 300_000);
const maxIsolates = Number(process.env.SBH_SANDBOX_MAX_ISOLATES ?? 500);

const send = (msg: SandboxMessage) => {
  if (process.connected) process.send!(msg);
};

const logs = new Map<number, { lines: LogLine[]; dropped: number }>();
const caps = new Map<number, (json: string) => void>();
let capSeq = 0;

const pool = new IsolatePool({
  idleMs,
  maxIsolates,
  // Called from inside an isolate: check every value, and never throw or reject, since an
  // unhandled rejection here would take the whole process (every tenant's calls) down.
  relay: (callId, method, argsJson) =>
    new Promise<string>((resolve) => {
      if (typeof callId !== "number" || typeof method !== "string" || typeof argsJson !== "string") {
        resolve(JSON.stringify({ ok: false, error: { name: "TypeError", message: "malformed ctx call" } }));
        return;
      }
      const capId = ++capSeq;
      caps.set(capId, resolve);
      try {
        send({ t: "cap", capId, callId, method, argsJson });
      } catch (err) {
        caps.delete(capId);
        resolve(JSON.stringify({ ok: false, error: { name: "Error", message: `ctx call could not be relayed: ${(err as Error).message}` } }));
      }
    }),
  sink: (callId, line) => {
    if (callId !== null && typeof callId !== "number") return;
    const bucket = callId === null ? undefined : logs.get(callId);
    if (!bucket) return; // a log after its call ended has nowhere to go
    if (bucket.lines.length < MAX_LOG_LINES) bucket.lines.push(line);
    else bucket.dropped++;
  },
  // V8 lost control of an isolate; this process may hang from here on. The host kills it.
  onCatastrophe: (message) => send({ t: "fatal", message }),
});

async function handleCall(msg: CallMessage): Promise<void> {
  const started = performance.now();
  if (msg.code) pool.rememberCode(msg.code);
  logs.set(msg.id, { lines: [], dropped: 0 });
  const outcome = await pool.run(msg).catch((err: unknown) => ({
    status: "failed" as const,
    error: { name: "SandboxError", message: err instanceof Error ? err.message : String(err) },
  }));
  const bucket = logs.get(msg.id)!;
  logs.delete(msg.id);
  if (bucket.dropped > 0) {
    bucket.lines.push({ level: "warn", message: `${bucket.dropped} more log lines dropped`, fields: null, at: new Date().toISOString() });
  }
  send({ t: "result", id: msg.id, outcome, logs: bucket.lines, durationMs: performance.now() - started });
}

process.on("message", (msg: HostMessage) => {
  switch (msg.t) {
    case "call":
      void handleCall(msg);
      break;
    case "cap-reply": {
      const resolve = caps.get(msg.capId);
      caps.delete(msg.capId);
      resolve?.(msg.json);
      break;
    }
    case "evict":
      pool.evict(msg.keyPrefix);
      break;
  }
});

// The host is gone: nothing left to serve.
process.on("disconnect", () => process.exit(0));

setInterval(() => {
  pool.sweep();
  send({ t: "stats", isolates: pool.size, evicted: pool.evicted });
}, Math.min(10_000, Math.max(1000, idleMs / 4))).unref();

send({ t: "ready" });
