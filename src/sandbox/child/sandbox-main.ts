// Entry of a sandbox process: holds isolates, nothing else. It has no credentials and opens
// no connection; every ctx call goes back to the host over IPC. Started by SandboxProcess.
import { MAX_CAP_ARGS_CHARS, type CallMessage, type HostMessage, type LogLine, type SandboxMessage } from "../protocol.ts";
import { IsolatePool } from "./isolate-pool.ts";

// What one call may log (lines, and characters of message + fields); the rest is counted and
// reported in one closing line.
const maxLogLines = Number(process.env.SBH_LOG_MAX_LINES ?? 200);
const maxLogChars = Number(process.env.SBH_LOG_MAX_CHARS ?? 256 * 1024);
const idleMs = Number(process.env.SBH_SANDBOX_IDLE_MS ?? 300_000);
const maxIsolates = Number(process.env.SBH_SANDBOX_MAX_ISOLATES ?? 500);

const send = (msg: SandboxMessage) => {
  if (process.connected) process.send!(msg);
};

/** Calls in progress by token: the host's call id and the log lines gathered so far. */
const calls = new Map<string, { id: number; lines: LogLine[]; chars: number; dropped: number }>();
const caps = new Map<number, (json: string) => void>();
let capSeq = 0;

const refusal = (name: string, message: string) => JSON.stringify({ ok: false, error: { name, message } });

const pool = new IsolatePool({
  idleMs,
  maxIsolates,
  // Called from inside an isolate (the pool has checked the token belongs to that isolate's
  // call): check every value, and never throw or reject, since an unhandled rejection here
  // would take the whole process (every tenant's calls) down.
  relay: (token, method, argsJson) =>
    new Promise<string>((resolve) => {
      const call = calls.get(token);
      if (!call) return resolve(refusal("CallEnded", "the call this ctx request belongs to has ended"));
      if (typeof method !== "string" || typeof argsJson !== "string") return resolve(refusal("TypeError", "malformed ctx call"));
      if (argsJson.length > MAX_CAP_ARGS_CHARS) {
        return resolve(refusal("ArgumentsTooLarge", `ctx.${method.slice(0, 64)}: arguments larger than ${MAX_CAP_ARGS_CHARS} characters are refused`));
      }
      const capId = ++capSeq;
      caps.set(capId, resolve);
      try {
        send({ t: "cap", capId, callId: call.id, token, method, argsJson });
      } catch (err) {
        caps.delete(capId);
        resolve(refusal("Error", `ctx call could not be relayed: ${(err as Error).message}`));
      }
    }),
  sink: (token, line, chars) => {
    const bucket = calls.get(token);
    if (!bucket) return; // a log after its call ended has nowhere to go
    if (bucket.dropped === 0 && bucket.lines.length < maxLogLines && bucket.chars + chars <= maxLogChars) {
      bucket.lines.push(line);
      bucket.chars += chars;
    } else bucket.dropped++;
  },
  // V8 lost control of an isolate; this process may hang from here on. The host kills it.
  onCatastrophe: (message) => send({ t: "fatal", message }),
});

async function handleCall(msg: CallMessage): Promise<void> {
  const started = performance.now();
  if (msg.code) pool.rememberCode(msg.code);
  const bucket = { id: msg.id, lines: [] as LogLine[], chars: 0, dropped: 0 };
  calls.set(msg.token, bucket);
  const outcome = await pool.run(msg).catch((err: unknown) => ({
    status: "failed" as const,
    error: { name: "SandboxError", message: err instanceof Error ? err.message : String(err) },
  }));
  calls.delete(msg.token);
  if (bucket.dropped > 0) {
    bucket.lines.push({ level: "warn", message: `${bucket.dropped} more log lines dropped (a call keeps at most ${maxLogLines} lines and ${maxLogChars} characters)`, fields: null, at: new Date().toISOString() });
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
