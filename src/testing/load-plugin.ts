import { randomUUID } from "node:crypto";
import path from "node:path";
import type { CapabilityDeps } from "../capabilities/capability-deps.ts";
import { packageLimits } from "../config.ts";
import { AppError } from "../errors.ts";
import { createLogger } from "../logger.ts";
import { collectPluginFiles, packFiles } from "../packaging/pack.ts";
import type { Manifest } from "../packaging/manifest-schema.ts";
import { describeProblems, type Problem } from "../packaging/problem.ts";
import type { Registered } from "../packaging/registered.ts";
import type { ValidatedPackage } from "../packaging/validate-package.ts";
import { toActiveInstall, type ActiveInstall } from "../plugins/active-install.ts";
import { Invoker, PluginFailure, type InvokeResult } from "../plugins/invoker.ts";
import { assetsFromFiles, codeFromFiles } from "../plugins/plugin-code.ts";
import { checkPackage } from "../plugins/check-package.ts";
import { RefusedAnswer, routeAnswer, routeErrorAnswer, type RouteAnswer } from "../plugins/route-answer.ts";
import { SandboxPool } from "../sandbox/sandbox-pool.ts";
import { fakeCapabilities } from "./fake-capabilities.ts";
import { createTestContext, type TestContext } from "./test-context.ts";

export interface RouteCall {
  /** The parsed body the handler gets as `req.body`. */
  body?: unknown;
  /**
   * `req.rawBody` on routes that ask for it: the body as sent. Default: `body` itself when it is
   * a string, else its JSON text (what a client sending that JSON would send).
   */
  rawBody?: string;
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  /** ctx.userId for this call (default: the context's user; null as on a public route). */
  user?: string | null;
}

/** A plugin folder loaded in a real isolate, with ctx behind the platform's permission checks. */
export interface LoadedPlugin {
  manifest: Manifest;
  registered: Registered;
  context: TestContext;
  /** Calls a route as /ext would: `{status, headers, body}`, HttpError answers included. */
  route(method: string, urlPath: string, call?: RouteCall): Promise<RouteAnswer>;
  /**
   * Runs this plugin's hook for an event (as the platform would on publish); resolves when it ran.
   * `id` replays an event id (hooks are delivered at least once: test that yours is idempotent).
   */
  emit(type: string, data?: unknown, opts?: { id?: string }): Promise<void>;
  /** Runs a job now and returns its result. */
  runJob(name: string): Promise<unknown>;
  /** A webhook's transform on an event: the body that would be sent (null: nothing). */
  transform(webhook: string, type: string, data?: unknown): Promise<unknown>;
  /** onInstall, onUpgrade, onEnable, onDisable or onUninstall, if the plugin has it. */
  lifecycle(name: "onInstall" | "onUpgrade" | "onEnable" | "onDisable" | "onUninstall", arg?: unknown): Promise<void>;
  close(): Promise<void>;
}

/**
 * Loads a plugin directory exactly as an upload would check it (same validation, same messages,
 * same sandbox), then runs its handlers against `context` (seed 001 "Local Testing").
 */
export async function loadPlugin(dir: string, context: TestContext = createTestContext()): Promise<LoadedPlugin> {
  const sandbox = new SandboxPool({ processes: 1, idleMs: 60_000, maxIsolates: 8, graceMs: 1000, logger: createLogger("silent") });
  await sandbox.start();
  try {
    const bundle = packFiles(collectPluginFiles(path.resolve(dir)));
    const { pkg, registered, problems } = await checkPackage(sandbox, bundle, packageLimits());
    if (problems.length) throw new AppError("invalid_plugin", "The plugin package is invalid", problems);
    return new HarnessPlugin(pkg, registered, context, sandbox);
  } catch (err) {
    await sandbox.close();
    throw err instanceof AppError && err.code === "invalid_plugin" ? new Error(describeProblems(err.message, (err.details as Problem[]) ?? [])) : err;
  }
}

class HarnessPlugin implements LoadedPlugin {
  readonly manifest: Manifest;
  private readonly install: ActiveInstall;
  private readonly invoker: Invoker;

  constructor(
    pkg: ValidatedPackage,
    readonly registered: Registered,
    readonly context: TestContext,
    private readonly sandbox: SandboxPool,
  ) {
    // The context's permissions stand in for the manifest's, so a test can take one away.
    this.manifest = { ...pkg.manifest, permissions: context.permissions ?? pkg.manifest.permissions };
    const versionId = `harness-${randomUUID()}`;
    const now = new Date();
    this.install = toActiveInstall(
      { id: randomUUID(), tenantId: randomUUID(), slug: pkg.manifest.slug, status: "enabled", error: null, config: context.config, previousVersionId: null, createdAt: now, updatedAt: now },
      { id: versionId, version: pkg.manifest.version, sha256: pkg.sha256, manifest: this.manifest, registered, webhooks: pkg.webhooks },
      context.tenant,
    );
    const code = codeFromFiles(versionId, pkg.manifest.entry, pkg.files, pkg.webhooks);
    // The package's own files, as an upload of the folder would store them (ctx.assets).
    const assets = assetsFromFiles(pkg.files);
    this.invoker = new Invoker({
      sandbox,
      code: { get: async () => code, assets: async () => assets },
      secrets: { get: async (_installId, name) => context.secrets.get(name) },
      recorder: { record: (_rec, lines) => void context.logs.push(...lines) },
      // The fakes close over the context; nothing reaches the platform's own services. Only
      // the invoker's call counting is left, and it counts nowhere.
      capabilities: { usage: { add: () => undefined } } as unknown as CapabilityDeps,
      capabilityTable: fakeCapabilities(context),
      emitLimits: { maxDepth: 8, maxPerCall: 100 },
      publish: async (_tenant, input) => {
        context.emitted.push({ type: input.type, data: input.data });
        return { event: { id: randomUUID() }, hookRuns: [] };
      },
    });
  }

  async route(method: string, urlPath: string, call: RouteCall = {}): Promise<RouteAnswer> {
    const [pathname, search = ""] = urlPath.split("?");
    const segments = pathname.split("/").filter((s) => s !== "");
    const found = this.install.routes.match(method.toUpperCase(), segments);
    if (!found) return routeErrorAnswer(new AppError("route_not_found", `No route ${pathname}`));
    if ("methodNotAllowed" in found) return routeErrorAnswer(new AppError("method_not_allowed", `${pathname} accepts ${found.methodNotAllowed.join(", ")}`));
    const query: Record<string, string | string[]> = { ...Object.fromEntries(new URLSearchParams(search)), ...call.query };
    const request = {
      method: method.toUpperCase(),
      path: "/" + segments.map(decodeURIComponent).join("/"),
      params: found.match.params,
      query,
      headers: Object.fromEntries(Object.entries(call.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
      body: call.body === undefined ? null : call.body,
      ...(found.match.route.rawBody === true ? { rawBody: call.rawBody ?? rawText(call.body) } : {}),
    };
    try {
      const result = await this.invoker.invoke(this.install, {
        kind: "route",
        name: String(found.match.index),
        args: [request],
        userId: call.user === undefined ? this.context.user : call.user,
      });
      // As called at /ext/<slug>/…: a redirect must stay under it, as on the platform.
      return routeAnswer(result, { slug: this.manifest.slug, tenant: this.context.tenant, prefix: `/ext/${this.manifest.slug}`, path: pathname.startsWith("/") ? pathname : `/${pathname}` });
    } catch (err) {
      if (err instanceof RefusedAnswer) {
        this.context.logs.push({ level: "error", message: `route ${method.toUpperCase()} ${pathname} answer refused: ${err.reason}`, fields: null, at: new Date().toISOString() });
      }
      return routeErrorAnswer(err);
    }
  }

  async emit(type: string, data: unknown = {}, opts: { id?: string } = {}): Promise<void> {
    if (!this.registered.hooks.includes(type)) throw new Error(`${this.manifest.slug} has no hook for ${type}`);
    await this.call({ kind: "hook", name: type, args: [this.event(type, data, opts.id)] });
  }

  async runJob(name: string): Promise<unknown> {
    if (!this.registered.jobs.includes(name)) throw new Error(`${this.manifest.slug} has no job ${name}`);
    const result = await this.call({
      kind: "job",
      name,
      args: [{ id: randomUUID(), trigger: "manual", scheduled_for: null }],
      timeoutMs: this.manifest.resources.job_timeout_ms,
    });
    return result.value;
  }

  async transform(webhook: string, type: string, data: unknown = {}): Promise<unknown> {
    const def = this.install.version.webhooks.find((w) => w.name === webhook);
    if (!def) throw new Error(`${this.manifest.slug} has no webhook ${webhook}`);
    const event = this.event(type, data);
    if (!def.transform) return event;
    return (await this.call({ kind: "transform", name: `${def.transform.file}#${def.transform.fn}`, args: [event] })).value;
  }

  async lifecycle(name: Parameters<LoadedPlugin["lifecycle"]>[0], arg?: unknown): Promise<void> {
    if (!this.registered.lifecycle.includes(name)) return;
    await this.call({ kind: "lifecycle", name, args: arg === undefined ? [] : [arg] });
  }

  close(): Promise<void> {
    return this.sandbox.close();
  }

  // What the plugin threw arrives as the plugin threw it: same name and message (its stack is in ctx.logs).
  private async call(req: Parameters<Invoker["invoke"]>[1]): Promise<InvokeResult> {
    try {
      return await this.invoker.invoke(this.install, req);
    } catch (err) {
      if (!(err instanceof PluginFailure)) throw err;
      const thrown = new Error(err.record.message);
      thrown.name = err.record.name;
      throw Object.assign(thrown, { status: err.record.status, details: err.record.details });
    }
  }

  private event(type: string, data: unknown, id: string = randomUUID()) {
    return { id, type, tenant: this.context.tenant, data, occurred_at: new Date().toISOString() };
  }
}

function rawText(body: unknown): string | null {
  if (body === undefined || body === null) return null;
  return typeof body === "string" ? body : JSON.stringify(body);
}
