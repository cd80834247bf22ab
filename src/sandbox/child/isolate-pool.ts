import type { CallMessage, CallOutcome, PluginCode } from "../protocol.ts";
import { CompileCache } from "./compile-cache.ts";
import { PluginIsolate, type CapRelay, type LogSink } from "./plugin-isolate.ts";

export interface PoolOptions {
  idleMs: number;
  maxIsolates: number;
  relay: CapRelay;
  sink: LogSink;
  onCatastrophe: (message: string) => void;
}

/**
 * Warm isolates of one sandbox process, one per install, plus the plugin code and V8 code
 * cache they are built from. Idle isolates are disposed; the least recently used go first
 * when the pool is full.
 */
export class IsolatePool {
  private readonly isolates = new Map<string, { iso: PluginIsolate; versionId: string }>();
  private readonly loading = new Map<string, Promise<PluginIsolate>>();
  private readonly code = new Map<string, PluginCode>();
  private readonly cache = new CompileCache();
  evicted = 0;

  constructor(private readonly opts: PoolOptions) {}

  get size(): number {
    return this.isolates.size;
  }

  rememberCode(code: PluginCode): void {
    this.code.delete(code.versionId);
    this.code.set(code.versionId, code);
    if (this.code.size > 2000) this.code.delete(this.code.keys().next().value as string);
  }

  async run(msg: CallMessage): Promise<CallOutcome> {
    const code = this.code.get(msg.versionId);
    if (!code) return { status: "need_code" };
    if (msg.ephemeral) return this.runEphemeral(msg, code);
    let iso: PluginIsolate;
    try {
      iso = await this.acquire(msg, code);
    } catch (err) {
      return loadFailure(err);
    }
    const outcome = await iso.call(msg.id, msg.kind, msg.name, msg.argsJson, msg.infoJson, msg.timeoutMs);
    if (iso.disposed) this.forget(msg.key, iso);
    return outcome;
  }

  /** Disposes every isolate whose key starts with the prefix (an install changed). */
  evict(keyPrefix: string): void {
    for (const [key, entry] of this.isolates) {
      if (key.startsWith(keyPrefix)) {
        this.isolates.delete(key);
        entry.iso.dispose();
        this.cache.dropVersion(entry.versionId);
      }
    }
  }

  sweep(now = Date.now()): void {
    for (const [key, { iso }] of this.isolates) {
      if (iso.inFlight === 0 && now - iso.lastUsed > this.opts.idleMs) {
        this.isolates.delete(key);
        iso.dispose();
        this.evicted++;
      }
    }
  }

  private async acquire(msg: CallMessage, code: PluginCode): Promise<PluginIsolate> {
    const entry = this.isolates.get(msg.key);
    if (entry && entry.versionId === msg.versionId && !entry.iso.disposed) return entry.iso;
    if (entry) {
      // A new version replaced this install's code: the old isolate goes once it is idle.
      this.isolates.delete(msg.key);
      if (entry.iso.inFlight === 0) entry.iso.dispose();
    }
    const pending = this.loading.get(msg.key);
    if (pending) return pending;
    const created = this.create(msg, code).finally(() => this.loading.delete(msg.key));
    this.loading.set(msg.key, created);
    return created;
  }

  private async create(msg: CallMessage, code: PluginCode): Promise<PluginIsolate> {
    this.makeRoom();
    const iso = new PluginIsolate(msg.key, msg.memoryMb, this.opts.onCatastrophe);
    try {
      await iso.load(code, this.cache, this.opts.relay, this.opts.sink, msg.timeoutMs);
    } catch (err) {
      iso.dispose();
      throw err;
    }
    this.isolates.set(msg.key, { iso, versionId: msg.versionId });
    return iso;
  }

  private async runEphemeral(msg: CallMessage, code: PluginCode): Promise<CallOutcome> {
    const iso = new PluginIsolate(msg.key, msg.memoryMb, this.opts.onCatastrophe);
    try {
      await iso.load(code, this.cache, this.opts.relay, this.opts.sink, msg.timeoutMs);
      return await iso.call(msg.id, msg.kind, msg.name, msg.argsJson, msg.infoJson, msg.timeoutMs);
    } catch (err) {
      return iso.disposed ? { status: "out_of_memory" } : loadFailure(err, iso);
    } finally {
      iso.dispose();
      // Inspection runs once per upload; its cached code would only crowd out warm plugins.
      this.cache.dropVersion(code.versionId);
    }
  }

  private makeRoom(): void {
    if (this.isolates.size < this.opts.maxIsolates) return;
    let oldest: [string, PluginIsolate] | undefined;
    for (const [key, { iso }] of this.isolates) {
      if (iso.inFlight === 0 && (!oldest || iso.lastUsed < oldest[1].lastUsed)) oldest = [key, iso];
    }
    if (oldest) {
      this.isolates.delete(oldest[0]);
      oldest[1].dispose();
      this.evicted++;
    }
  }

  private forget(key: string, iso: PluginIsolate): void {
    if (this.isolates.get(key)?.iso === iso) this.isolates.delete(key);
  }
}

function loadFailure(err: unknown, iso?: PluginIsolate): CallOutcome {
  if (iso) {
    const classified = iso.classify(err);
    if (classified.status !== "failed") return classified;
  }
  const message = err instanceof Error ? err.message : String(err);
  if (/timed out/i.test(message)) return { status: "timeout" };
  if (/memory limit/i.test(message)) return { status: "out_of_memory" };
  return { status: "failed", error: { name: "LoadError", message } };
}
