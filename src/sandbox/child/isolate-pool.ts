import { loadBudgetMs, type CallMessage, type CallOutcome, type LogLine, type PluginCode } from "../protocol.ts";
import { CompileCache } from "./compile-cache.ts";
import { PluginIsolate, type CapRelay, type LogSink } from "./plugin-isolate.ts";

export interface PoolOptions {
  idleMs: number;
  maxIsolates: number;
  /** Called only for a call the requesting isolate is running (token checked by the pool). */
  relay: (token: string, method: unknown, argsJson: unknown) => Promise<string>;
  sink: (token: string, line: LogLine, chars: number) => void;
  onCatastrophe: (message: string) => void;
  /** The in-isolate runtime's source (tests hand in a deliberately compromised one). */
  runtimeSource?: string;
}

// A spare isolate boots off the request path; should that ever stall, it is dropped, not waited on.
const SPARE_BOOT_MS = 2000;

const NOT_YOUR_CALL = JSON.stringify({ ok: false, error: { name: "CallEnded", message: "the call this ctx request belongs to has ended" } });

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
  /**
   * The isolate each running call was given to, by call token. Plugin code may reach anything
   * inside its own isolate, the runtime's relays included, so a ctx request or log line is
   * honoured only when the token names a call its own isolate is running: guessing or replaying
   * another call's token from another isolate gets nothing.
   */
  private readonly running = new Map<string, PluginIsolate>();
  /**
   * One booted isolate with no plugin in it, sized as the last cold start asked: the next cold
   * start of that size takes it and only loads the plugin, then a new spare boots after the
   * answer is sent. Creating the isolate, its context and the runtime is most of a cold start;
   * done ahead, it stays off the request path. No plugin code has run in a spare, so handing it
   * to any tenant shares nothing.
   */
  private spare: { memoryMb: number; ready: Promise<PluginIsolate | null> } | null = null;
  evicted = 0;
  /** Cold starts that found a booted spare (the rest booted their own isolate). */
  spareHits = 0;

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
    const cold = !this.isolates.has(msg.key);
    try {
      iso = await this.acquire(msg, code);
    } catch (err) {
      if (cold) this.refillSpare(msg.memoryMb);
      return loadFailure(err);
    }
    const outcome = await this.runOn(iso, msg);
    if (iso.disposed) this.forget(msg.key, iso);
    // Once this call has its answer (the spare boots in a later turn): the next cold start's.
    if (cold) this.refillSpare(msg.memoryMb);
    return outcome;
  }

  private async runOn(iso: PluginIsolate, msg: CallMessage): Promise<CallOutcome> {
    this.running.set(msg.token, iso);
    try {
      return await iso.call(msg.token, msg.kind, msg.name, msg.argsJson, msg.infoJson, msg.timeoutMs);
    } finally {
      this.running.delete(msg.token);
    }
  }

  /** The relay and log sink one isolate is built with, bound to the calls it runs. */
  private boundTo(iso: PluginIsolate): { relay: CapRelay; sink: LogSink } {
    return {
      relay: (token, method, argsJson) =>
        typeof token === "string" && this.running.get(token) === iso ? this.opts.relay(token, method, argsJson) : Promise.resolve(NOT_YOUR_CALL),
      sink: (token, line, chars) => {
        if (typeof token === "string" && this.running.get(token) === iso) this.opts.sink(token, line, chars);
      },
    };
  }

  /**
   * Loads the plugin within its load budget (booting the isolate first unless it is a spare).
   * Compiling has no timeout of its own in isolated-vm, so the whole load races a deadline: a
   * package that loads too slowly times out its own call (and counts against its install) rather
   * than outliving the host's watchdog.
   */
  private async loadInto(iso: PluginIsolate, code: PluginCode, timeoutMs: number): Promise<void> {
    await withinBudget(loadBudgetMs(timeoutMs), async (budget) => {
      if (!iso.blank) await this.bootInto(iso, budget);
      await iso.loadPlugin(code, this.cache, budget);
    });
  }

  private bootInto(iso: PluginIsolate, budgetMs: number): Promise<void> {
    const { relay, sink } = this.boundTo(iso);
    return iso.boot(this.cache, relay, sink, budgetMs, this.opts.runtimeSource);
  }

  /** The spare if it is of this size and booted, else a new isolate (booted by loadInto). */
  private async isolateFor(memoryMb: number): Promise<PluginIsolate> {
    const spare = this.spare;
    if (spare && spare.memoryMb === memoryMb) {
      this.spare = null;
      const iso = await spare.ready;
      if (iso?.blank) {
        this.spareHits++;
        return iso;
      }
      iso?.dispose();
    }
    return new PluginIsolate(memoryMb, this.opts.onCatastrophe);
  }

  /** Boots a spare of this size once the current turn (the answer that used the last one) is done. */
  private refillSpare(memoryMb: number): void {
    if (this.spare?.memoryMb === memoryMb) return;
    const replaced = this.spare;
    replaced?.ready.then((iso) => iso?.dispose(), () => {});
    const ready = new Promise<PluginIsolate | null>((resolve) => {
      setImmediate(() => {
        const iso = new PluginIsolate(memoryMb, this.opts.onCatastrophe);
        withinBudget(SPARE_BOOT_MS, (budget) => this.bootInto(iso, budget)).then(
          () => resolve(iso),
          () => {
            iso.dispose();
            resolve(null);
          },
        );
      });
    });
    this.spare = { memoryMb, ready };
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
    const iso = await this.isolateFor(msg.memoryMb);
    try {
      await this.loadInto(iso, code, msg.timeoutMs);
    } catch (err) {
      iso.dispose();
      throw err;
    }
    this.isolates.set(msg.key, { iso, versionId: msg.versionId });
    return iso;
  }

  private async runEphemeral(msg: CallMessage, code: PluginCode): Promise<CallOutcome> {
    const iso = await this.isolateFor(msg.memoryMb);
    try {
      await this.loadInto(iso, code, msg.timeoutMs);
      return await this.runOn(iso, msg);
    } catch (err) {
      return iso.disposed ? { status: "out_of_memory" } : loadFailure(err, iso);
    } finally {
      iso.dispose();
      // Inspection runs once per upload; its cached code would only crowd out warm plugins.
      this.cache.dropVersion(code.versionId);
      this.refillSpare(msg.memoryMb);
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
      // Idle, out of the map, so nothing reaches it: disposing (a millisecond or so of this
      // thread) waits until the cold start that needed the room has answered.
      const idle = oldest[1];
      setImmediate(() => idle.dispose());
      this.evicted++;
    }
  }

  private forget(key: string, iso: PluginIsolate): void {
    if (this.isolates.get(key)?.iso === iso) this.isolates.delete(key);
  }
}

/** Runs `work` with a deadline of `budgetMs`: past it, the promise rejects with "timed out". */
async function withinBudget(budgetMs: number, work: (budgetMs: number) => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`loading the plugin timed out after ${budgetMs} ms`)), budgetMs);
  });
  try {
    await Promise.race([work(budgetMs), deadline]);
  } finally {
    clearTimeout(timer);
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
