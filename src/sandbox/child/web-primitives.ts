import { randomFillSync, randomUUID, timingSafeEqual, webcrypto } from "node:crypto";

/**
 * The sandbox process's side of the isolate's Web globals (src/sandbox/isolate/web/): the few
 * things an isolate cannot do by itself, done with Node's own implementations. Every isolate's
 * runtime holds this function as a Reference ($2) in its closure.
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
