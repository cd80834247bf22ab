import { randomUUID } from "node:crypto";
import type { CallScope } from "../capabilities/call-scope.ts";
import type { CapabilityDeps } from "../capabilities/capability-deps.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { createCapabilityHandler, IMPLEMENTED, type CapabilityTable } from "../capabilities/capability-handler.ts";
import { AppError } from "../errors.ts";
import type { CallKind, LogLine, PluginErrorRecord } from "../sandbox/protocol.ts";
import type { SandboxPool } from "../sandbox/sandbox-pool.ts";
import type { EventBudget } from "../events/event-budget.ts";
import { effectiveConfig, type ActiveInstall } from "./active-install.ts";
import type { InvocationRecord, InvocationRecorder } from "./invocation-recorder.ts";
import type { PluginCodeStore } from "./plugin-code.ts";
import type { SecretStore } from "./secret-store.ts";

// A plugin's return value is bounded before the host parses it.
const MAX_RESULT_CHARS = 4 * 1024 * 1024;
// …and its nesting: the host's own JSON.stringify (res.json) recurses and would overflow.
const MAX_RESULT_DEPTH = 512;

export interface InvokeRequest {
  kind: CallKind;
  name: string;
  /** A label for logs and invocation rows when `name` is an internal index. */
  label?: string;
  args: unknown[];
  userId?: string | null;
  timeoutMs?: number;
  /** Depth of events this call emits (a hook passes its event's depth + 1). */
  emitDepth?: number;
  /** The root of the chain this call's emits join (a hook passes its event's root). */
  emitRoot?: string;
  /** Receives the call's log lines too (a job run keeps its own). */
  onLogs?: (lines: LogLine[]) => void;
  /** Given the value of a call that succeeded and logged nothing: true to count it, not store a row. */
  quiet?: (value: unknown) => boolean;
}

export interface InvokeResult {
  value: unknown;
  response?: { status: number; headers: Record<string, unknown> };
  durationMs: number;
  invocationId: string;
}

/** The plugin ran and threw (or returned something unusable): its error record travels along. */
export class PluginFailure extends AppError {
  constructor(readonly record: PluginErrorRecord) {
    super(record.name === "BadResponse" ? "plugin_bad_response" : "plugin_error");
  }
}

/** Publishes an event for a tenant; the event service, bound late (it needs the invoker too). */
export type EventPublisher = (
  tenant: { id: string; slug: string },
  input: { type: string; data: unknown; source: string; depth: number; rootId?: string },
) => Promise<{ event: { id: string }; hookRuns: unknown[] }>;

// What the invoker needs of its collaborators (the test harness hands in its own).
export interface InvokerDeps {
  sandbox: Pick<SandboxPool, "call">;
  capabilities: CapabilityDeps;
  /** The ctx implementations behind the permission check: production's, or a test harness's fakes. */
  capabilityTable?: CapabilityTable;
  code: Pick<PluginCodeStore, "get" | "assets">;
  secrets: Pick<SecretStore, "get">;
  recorder: Pick<InvocationRecorder, "record">;
  emitLimits: { maxDepth: number; maxPerCall: number };
  /** The tenant's emit rate and each chain's size (absent in the test harness). */
  eventBudget?: Pick<EventBudget, "take">;
  /** Prometheus counters (absent in the test harness). */
  metrics?: Pick<Metrics, "invocations" | "invocationDuration" | "capabilityCalls">;
  publish?: EventPublisher;
}

/** The one way the host runs plugin code: sandbox call, ctx relay, outcome → value or error, record. */
export class Invoker {
  constructor(private readonly deps: InvokerDeps) {}

  /** Events need the invoker (hooks) and the invoker needs events (ctx.emit): bound after both exist. */
  bindPublisher(publish: EventPublisher): void {
    this.deps.publish = publish;
  }

  async invoke(install: ActiveInstall, req: InvokeRequest): Promise<InvokeResult> {
    const invocationId = randomUUID();
    const started = Date.now();
    const hostLogs: LogLine[] = [];
    const resources = install.version.manifest.resources;
    const budget = this.deps.eventBudget;
    // A flag, not an AbortController: nothing listens, and aborting one builds a DOMException
    // with a stack on every call.
    const ended = { aborted: false };
    const scope: CallScope = {
      tenantId: install.tenantId,
      tenantSlug: install.tenantSlug,
      installId: install.id,
      pluginSlug: install.slug,
      permissions: new Set(install.version.manifest.permissions),
      manifest: install.version.manifest,
      deps: this.deps.capabilities,
      secrets: this.deps.secrets,
      assets: () => this.deps.code.assets(install.version.id),
      ended,
      log: (level, message, fields) => hostLogs.push({ level, message, fields: fields ?? null, at: new Date().toISOString() }),
      count: (method, outcome) => {
        this.deps.capabilities.usage.add(install.tenantId, install.id, `ctx.${method}:${outcome}`);
        this.deps.metrics?.capabilityCalls.inc({ method, outcome });
      },
      emit: {
        depth: req.emitDepth ?? 0,
        ...this.deps.emitLimits,
        count: 0,
        budget: budget && (() => budget.take(install.tenantId, req.emitRoot ?? null, (message) => scope.log("warn", message))),
        publish: (type, data, depth) => {
          if (!this.deps.publish) throw new Error("events are not wired in this process");
          const tenant = { id: install.tenantId, slug: install.tenantSlug };
          return this.deps.publish(tenant, { type, data, source: `plugin:${install.slug}`, depth, rootId: req.emitRoot });
        },
      },
    };
    const label = req.label ?? req.name;
    let status: InvocationRecord["status"] = "ok";
    let errorText: string | null = null;
    let logs: LogLine[] = [];
    let quiet = req.kind === "route";
    let refused = false;
    try {
      const result = await this.deps.sandbox.call({
        key: install.id,
        versionId: install.version.id,
        memoryMb: resources.memory_mb,
        timeoutMs: req.timeoutMs ?? resources.timeout_ms,
        kind: req.kind,
        name: req.name,
        args: req.args,
        info: {
          tenantId: install.tenantSlug,
          userId: req.userId ?? null,
          plugin: { slug: install.slug, version: install.version.version, installId: install.id },
          config: effectiveConfig(install),
        },
        code: () => this.deps.code.get(install.version.id),
        capability: createCapabilityHandler(scope, this.deps.capabilityTable ?? IMPLEMENTED),
      });
      logs = result.logs;
      const outcome = result.outcome;
      switch (outcome.status) {
        case "ok": {
          const done = { ...decode(outcome.json), durationMs: Date.now() - started, invocationId };
          quiet ||= req.quiet?.(done.value) === true;
          return done;
        }
        case "failed":
          throw new PluginFailure(outcome.error);
        case "timeout":
          throw new AppError("plugin_timeout", `The plugin did not answer within ${req.timeoutMs ?? resources.timeout_ms} ms`);
        case "out_of_memory":
          throw new AppError("plugin_out_of_memory", `The plugin exceeded its ${resources.memory_mb} MB memory limit`);
        default:
          throw new AppError("sandbox_unavailable");
      }
    } catch (err) {
      [status, errorText] = describeFailure(err);
      // Refused before running (the install is paused or saturated): a flood of these must not
      // turn into a flood of rows. The metric and the usage counter count them.
      refused = err instanceof AppError && (err.code === "plugin_paused" || err.code === "plugin_busy");
      if (refused) {
        this.deps.capabilities.usage.add(install.tenantId, install.id, `refused:${(err as AppError).code}`);
        throw err;
      }
      if (err instanceof PluginFailure && err.record.stack) {
        hostLogs.push({ level: "error", message: `${req.kind} ${label} threw: ${err.record.stack}`, fields: null, at: new Date().toISOString() });
      } else if (errorText) {
        hostLogs.push({ level: "error", message: `${req.kind} ${label} failed: ${errorText}`, fields: null, at: new Date().toISOString() });
      }
      throw err;
    } finally {
      ended.aborted = true;
      this.deps.metrics?.invocations.inc({ kind: req.kind, status });
      this.deps.metrics?.invocationDuration.observe({ kind: req.kind }, (Date.now() - started) / 1000);
      const lines = refused ? [] : [...logs, ...hostLogs];
      req.onLogs?.(lines);
      // A route call that succeeded and logged nothing is not stored row by row: at hundreds of
      // calls a second the rows would cost more than the calls (usage_counters count them:
      // `route.<status>` by the /ext router, `health.<status>`, `refused:<code>`). Failures, calls
      // that log, and every hook, job and lifecycle run are stored; so are health checks unless
      // `req.quiet` says the answer changed nothing.
      const unstored = refused || (status === "ok" && lines.length === 0 && quiet);
      if (!unstored) this.deps.recorder.record(
        {
          id: invocationId,
          tenantId: install.tenantId,
          installId: install.id,
          kind: req.kind,
          name: label,
          status,
          durationMs: Date.now() - started,
          error: errorText,
          createdAt: new Date(started),
        },
        lines,
      );
    }
  }
}

function decode(json: string): { value: unknown; response?: InvokeResult["response"] } {
  if (json.length > MAX_RESULT_CHARS) {
    throw new PluginFailure({ name: "BadResponse", message: `the return value is larger than ${MAX_RESULT_CHARS} characters` });
  }
  if (nestingDepth(json) > MAX_RESULT_DEPTH) {
    throw new PluginFailure({ name: "BadResponse", message: `the return value is nested deeper than ${MAX_RESULT_DEPTH} levels` });
  }
  const parsed = JSON.parse(json) as { ok: boolean; value?: unknown; response?: InvokeResult["response"]; error?: PluginErrorRecord } | null;
  if (typeof parsed !== "object" || parsed === null) throw new PluginFailure({ name: "BadResponse", message: "the sandbox answered with no result" });
  if (!parsed.ok) throw new PluginFailure(parsed.error ?? { name: "Error", message: "unknown failure" });
  return { value: parsed.value, response: parsed.response };
}

function describeFailure(err: unknown): [InvocationRecord["status"], string] {
  if (err instanceof PluginFailure) return ["error", `${err.record.name}: ${err.record.message}`];
  if (err instanceof AppError) {
    if (err.code === "plugin_timeout") return ["timeout", err.message];
    if (err.code === "plugin_out_of_memory") return ["out_of_memory", err.message];
    if (err.code === "sandbox_unavailable") return ["crashed", err.message];
  }
  return ["error", err instanceof Error ? err.message : String(err)];
}

/** Deepest bracket nesting of a JSON text, without recursion (strings skipped). */
function nestingDepth(json: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) max = depth;
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}
