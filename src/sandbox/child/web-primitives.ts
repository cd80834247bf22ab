import { randomFillSync, randomUUID, timingSafeEqual, webcrypto } from "node:crypto";

/**
 * The sandbox process's side of the isolate's Web globals (src/sandbox/isolate/web/): the few
 * things an isolate cannot do by itself, done with Node's own implementations. Every isolate's
 * runtime holds one function as a Reference ($2) in its closure: `isolatePrimitive`, these
 * operations plus that isolate's own timers.
 *
 * Whatever calls it is treated as hostile: plugin code can reach the runtime's internals, the
 * Reference included, and call it with any values and any transfer options. So each operation
 * checks the type and size of every argument, none throws (a host error would carry its stack,
 * with host paths, into the isolate: a refusal is `null`), and every answer is a fresh value of
 * exactly its own size (isolated-vm copies a view's whole ArrayBuffer, so a pooled Buffer would
 * carry other data along).
 *
 * Synchronous operations run on this process's main thread, which all its isolates share, so
 * each is cheap and bounded. Digests and HMACs, whose cost grows with their input, go through
 * Node's webcrypto: its work runs on libuv's thread pool.
 */
export type WebPrimitive = (op: unknown, a?: unknown, b?: unknown, c?: unknown, d?: unknown) => unknown;

/** Web Crypto's cap on getRandomValues, and on the random bytes of one generated key. */
export const MAX_RANDOM_BYTES = 65_536;
/** Chromium's limit on a URL's length; longer input is not a URL (url.parse answers null). */
export const MAX_URL_CHARS = 2 * 1024 * 1024;

const HASHES = new Set(["SHA-1", "SHA-256", "SHA-384", "SHA-512"]);
// The order the isolate reads them in (HREF … HASH in web/url.js).
const URL_PARTS = ["href", "origin", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"] as const;
const URL_SETTERS = new Set(["protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"]);

/** Bytes from the isolate: a copied Uint8Array over plain (not shared) memory. */
function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array && !(v.buffer instanceof SharedArrayBuffer);
}

function isUrlText(v: unknown): v is string {
  return typeof v === "string" && v.length <= MAX_URL_CHARS;
}

function urlParts(url: URL): string[] {
  return URL_PARTS.map((name) => url[name]);
}

function parseUrl(input: unknown, base: unknown): string[] | null {
  if (!isUrlText(input) || (base !== undefined && !isUrlText(base))) return null;
  try {
    return urlParts(new URL(input, base));
  } catch {
    return null;
  }
}

function setUrl(href: unknown, component: unknown, value: unknown): string[] | null {
  if (!isUrlText(href) || typeof component !== "string" || !URL_SETTERS.has(component) || !isUrlText(value)) return null;
  try {
    const url = new URL(href);
    (url as unknown as Record<string, string>)[component] = value;
    // A setter may lengthen the URL (percent-encoding): the isolate never gets one over the cap.
    return url.href.length <= MAX_URL_CHARS ? urlParts(url) : null;
  } catch {
    return null;
  }
}

function randomBytes(n: unknown): ArrayBuffer | null {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > MAX_RANDOM_BYTES) return null;
  const out = new ArrayBuffer(n);
  randomFillSync(new Uint8Array(out));
  return out;
}

function equalBytes(a: unknown, b: unknown): boolean | null {
  if (!isBytes(a) || !isBytes(b) || a.byteLength !== b.byteLength) return null;
  return timingSafeEqual(a, b);
}

async function digest(hash: unknown, data: unknown): Promise<ArrayBuffer | null> {
  if (typeof hash !== "string" || !HASHES.has(hash) || !isBytes(data)) return null;
  return webcrypto.subtle.digest(hash, data);
}

async function hmacKey(hash: unknown, key: unknown, usage: "sign" | "verify"): Promise<webcrypto.CryptoKey | null> {
  if (typeof hash !== "string" || !HASHES.has(hash) || !isBytes(key) || key.byteLength === 0) return null;
  return webcrypto.subtle.importKey("raw", key, { name: "HMAC", hash }, false, [usage]);
}

async function hmacSign(hash: unknown, key: unknown, data: unknown): Promise<ArrayBuffer | null> {
  if (!isBytes(data)) return null;
  const k = await hmacKey(hash, key, "sign");
  return k && webcrypto.subtle.sign("HMAC", k, data);
}

async function hmacVerify(hash: unknown, key: unknown, signature: unknown, data: unknown): Promise<boolean | null> {
  if (!isBytes(signature) || !isBytes(data)) return null;
  const k = await hmacKey(hash, key, "verify");
  return k && webcrypto.subtle.verify("HMAC", k, signature, data);
}

const refused = () => null;

/** The one function every isolate's runtime gets: `op` names the primitive. */
export const webPrimitive: WebPrimitive = (op, a, b, c, d) => {
  try {
    switch (op) {
      case "url.parse": return parseUrl(a, b);
      case "url.set": return setUrl(a, b, c);
      case "crypto.random": return randomBytes(a);
      case "crypto.randomUUID": return randomUUID();
      case "crypto.timingSafeEqual": return equalBytes(a, b);
      case "crypto.digest": return digest(a, b).catch(refused);
      case "crypto.hmacSign": return hmacSign(a, b, c).catch(refused);
      case "crypto.hmacVerify": return hmacVerify(a, b, c, d).catch(refused);
      default: return null;
    }
  } catch {
    return null;
  }
};

/** How many timers one call may have pending (web/timers.js says the same). */
export const MAX_TIMERS_PER_CALL = 1000;
/** The shortest interval: what browsers clamp nested timers to. */
export const MIN_INTERVAL_MS = 4;
const MAX_TIMER_ID = 2 ** 31 - 1;

interface PendingTimer {
  /** When it is due (Date.now() time); Infinity when that is past the call's deadline. */
  at: number;
  /** An interval's period, 0 for a timeout. */
  every: number;
}

interface CallClock {
  deadline: number;
  timers: Map<number, PendingTimer>;
  /** The one process timer of this call, armed for its earliest timer, and when it wakes. */
  wake: NodeJS.Timeout | null;
  wakeAt: number;
}

/**
 * The clock of one isolate's timers (web/timers.js). The isolate has no event loop: this keeps
 * each call's pending timers and, when some are due, `fire`s them back into the isolate, in
 * the order they fell due, with the call's token. Timers live inside their call: `begin` and
 * `end` bracket it (PluginIsolate.call), `end` cancels whatever is left, and a timer is
 * accepted only for a call this isolate is running, whatever token or id the isolate claims.
 * A timer due at or after the call's deadline is counted but never fires: the call times out first.
 *
 * A call has one process timer, for its earliest timer, and what is due when it wakes goes into
 * the isolate in one hand-off: a call's thousand 4 ms intervals cost this process's main thread,
 * which every isolate shares, a few hundred wake-ups a second, not a quarter of a million.
 */
export class CallTimers {
  private readonly calls = new Map<string, CallClock>();

  constructor(private readonly fire: (token: string, ids: number[], remainingMs: number) => void) {}

  begin(token: string, timeoutMs: number): void {
    this.calls.set(token, { deadline: Date.now() + timeoutMs, timers: new Map(), wake: null, wakeAt: Infinity });
  }

  end(token: string): void {
    const call = this.calls.get(token);
    if (!call) return;
    this.calls.delete(token);
    if (call.wake) clearTimeout(call.wake);
  }

  /** Ends every call: the isolate is gone. */
  endAll(): void {
    for (const token of [...this.calls.keys()]) this.end(token);
  }

  /** true, "limit" (too many pending), or null (not a call of this isolate, or bad input). */
  set(token: unknown, id: unknown, delay: unknown, repeat: boolean): true | "limit" | null {
    if (typeof token !== "string" || !isTimerId(id) || typeof delay !== "number" || !(delay >= 0)) return null;
    const call = this.calls.get(token);
    if (!call) return null;
    call.timers.delete(id);
    if (call.timers.size >= MAX_TIMERS_PER_CALL) return "limit";
    const every = repeat ? Math.max(delay, MIN_INTERVAL_MS) : 0;
    const at = this.dueAt(call, Date.now() + (repeat ? every : delay));
    call.timers.set(id, { at, every });
    if (at < call.wakeAt) this.armAt(token, call, at);
    return true;
  }

  /** true when it cancelled a timer, false for an unknown id, null for a call not of this isolate. */
  clear(token: unknown, id: unknown): boolean | null {
    if (typeof token !== "string" || !isTimerId(id)) return null;
    const call = this.calls.get(token);
    if (!call) return null;
    // The call's process timer may now wake for nothing; it then re-arms for the next one.
    return call.timers.delete(id);
  }

  private dueAt(call: CallClock, at: number): number {
    return at >= call.deadline ? Infinity : at;
  }

  /** Makes the call's process timer wake for its earliest timer. */
  private arm(token: string, call: CallClock): void {
    let next = Infinity;
    for (const t of call.timers.values()) if (t.at < next) next = t.at;
    if (next !== call.wakeAt) this.armAt(token, call, next);
  }

  private armAt(token: string, call: CallClock, next: number): void {
    if (call.wake) clearTimeout(call.wake);
    call.wake = null;
    call.wakeAt = next;
    if (next === Infinity) return;
    call.wake = setTimeout(() => this.wakeUp(token, call), Math.max(0, next - Date.now()));
    // The call's own deadline keeps the process busy; its timers need not.
    call.wake.unref();
  }

  private wakeUp(token: string, call: CallClock): void {
    call.wake = null;
    call.wakeAt = Infinity;
    if (this.calls.get(token) !== call) return;
    const now = Date.now();
    const due: [number, number][] = [];
    for (const [id, t] of call.timers) {
      if (t.at > now) continue;
      due.push([t.at, id]);
      if (t.every === 0) call.timers.delete(id);
      else t.at = this.dueAt(call, Math.max(t.at + t.every, now + 1));
    }
    this.arm(token, call);
    if (due.length === 0) return;
    // In the order they fell due; ids (creation order) break ties, as browsers do.
    due.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    this.fire(token, due.map((d) => d[1]), call.deadline - now);
  }
}

function isTimerId(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v > 0 && v <= MAX_TIMER_ID;
}

/** The web primitives of one isolate: the shared ones, and its own timers. */
export function isolatePrimitive(timers: CallTimers): WebPrimitive {
  return (op, a, b, c, d) => {
    try {
      switch (op) {
        case "timer.timeout": return timers.set(a, b, c, false);
        case "timer.interval": return timers.set(a, b, c, true);
        case "timer.clear": return timers.clear(a, b);
        default: return webPrimitive(op, a, b, c, d);
      }
    } catch {
      return null;
    }
  };
}
