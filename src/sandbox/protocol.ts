// Messages between the host (API or worker process) and a sandbox process, over Node IPC.
// Only plain data travels; plugin values are JSON strings produced inside the isolate.

/**
 * The time a cold isolate may take to load (runtime, compile, module evaluation) before the call
 * proper starts: the call's own timeout, but never less than a second. Compiling the largest
 * module an upload accepts takes a fraction of that here; a manifest with a tiny timeout must
 * not turn every cold start into a timeout, nor a slow load into a killed process.
 */
export function loadBudgetMs(timeoutMs: number): number {
  return Math.max(timeoutMs, 1000);
}

/**
 * The largest ctx call arguments (JSON characters) a sandbox process relays and the host parses:
 * the largest legitimate one is a file upload (10 MiB, escaped).
 */
export const MAX_CAP_ARGS_CHARS = 16 * 1024 * 1024;

export type CallKind = "route" | "hook" | "job" | "lifecycle" | "health" | "describe" | "transform";

/** The plugin's JavaScript files, keyed by package path. Sent once per sandbox process. */
export interface PluginCode {
  versionId: string;
  entry: string;
  files: Record<string, string>;
  /** Modules evaluated after the entry although it does not import them: webhook transforms. */
  transforms?: string[];
}

/** Identity and config a plugin sees as ctx; serialised into the isolate per call. */
export interface CallInfo {
  tenantId: string;
  userId: string | null;
  plugin: { slug: string; version: string; installId: string };
  config: Record<string, unknown>;
}

/** Which handler of which plugin version runs, in which isolate, under which limits. */
export interface CallTarget {
  /** Isolate pool key: one warm isolate per install (and its current version). */
  key: string;
  versionId: string;
  memoryMb: number;
  timeoutMs: number;
  kind: CallKind;
  name: string;
  /** A one-off isolate, not pooled (upload-time inspection). */
  ephemeral?: boolean;
}

export interface CallMessage extends CallTarget {
  t: "call";
  id: number;
  /**
   * Unguessable identity of this call, the only one its isolate ever sees: ctx requests and
   * log lines name it, and are honoured only for the isolate running the call, and by the host
   * only for the process the call was sent to.
   */
  token: string;
  argsJson: string;
  infoJson: string;
  /** Present the first time this process sees the version, or when it asked for it. */
  code?: PluginCode;
}

export interface CapReplyMessage {
  t: "cap-reply";
  capId: number;
  json: string;
}

export interface EvictMessage {
  t: "evict";
  keyPrefix: string;
}

export type HostMessage = CallMessage | CapReplyMessage | EvictMessage;

export interface LogLine {
  level: "debug" | "info" | "warn" | "error";
  message: string;
  fields: unknown;
  at: string;
}

export interface PluginErrorRecord {
  name: string;
  message: string;
  status?: number;
  details?: unknown;
  stack?: string;
}

/** What one call produced, as the sandbox process reports it. */
export type CallOutcome =
  | { status: "ok"; json: string }
  /**
   * `stuck`: the disposed isolate's thread did not stop (V8 has uninterruptible builtins), so
   * the process may be holding native work that can still abort it; the host retires it.
   */
  | { status: "timeout"; stuck?: boolean }
  | { status: "out_of_memory" }
  | { status: "need_code" }
  /** The isolate was disposed under a running call because another call overran. */
  | { status: "interrupted" }
  | { status: "failed"; error: PluginErrorRecord };

export interface ResultMessage {
  t: "result";
  id: number;
  outcome: CallOutcome;
  logs: LogLine[];
  durationMs: number;
}

export interface CapMessage {
  t: "cap";
  capId: number;
  callId: number;
  /** The call's token: the host answers only when it matches the call sent to this process. */
  token: string;
  method: string;
  argsJson: string;
}

export interface ReadyMessage {
  t: "ready";
}

/** The isolate runtime lost control (catastrophic OOM): the process must be killed. */
export interface FatalMessage {
  t: "fatal";
  message: string;
}

export interface StatsMessage {
  t: "stats";
  isolates: number;
  evicted: number;
}

export type SandboxMessage = ResultMessage | CapMessage | ReadyMessage | FatalMessage | StatsMessage;
