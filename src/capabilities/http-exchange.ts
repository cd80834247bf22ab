import { request, type Dispatcher } from "undici";
import { checkUrl, hostAllowed, isEgressRefused } from "../net/egress-guard.ts";
import type { CallScope } from "./call-scope.ts";
import { CapabilityError } from "./capability-error.ts";
import type { OutboundRequest } from "./http-args.ts";

// One ctx.http exchange: every hop is checked (URL, then allowlist), sent through the
// egress-guarded dispatcher (which checks the address actually connected to), redirects are
// followed here so each Location goes through the same checks, and the answer is read with a
// size cap under one deadline for the whole exchange.

export const MAX_REDIRECTS = 5;
const USER_AGENT = "SBH-Plugins/1";
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
// A redirect's own body is read (so the connection can be reused) up to this much, then dropped.
const REDIRECT_BODY_LIMIT = 64 * 1024;
// Headers that describe a body: gone with the body when a redirect turns the request into a GET.
const BODY_HEADERS = ["content-type", "content-encoding", "content-language", "content-location"];
// Credentials meant for one origin are not handed to another one a redirect points at.
const CREDENTIAL_HEADERS = ["authorization", "cookie", "proxy-authorization"];

/** The plain data sent back to the isolate; runtime.js wraps it into a fetch-like response. */
export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: string;
  url: string;
  redirected: boolean;
}

interface Limits {
  dispatcher: Dispatcher;
  allowPrivate: boolean;
  timeoutMs: number;
  maxResponseBytes: number;
}

/** Runs `req` for ctx.http.<cap>; failures become CapabilityErrors and are logged for the author. */
export async function exchange(scope: CallScope, cap: string, req: OutboundRequest): Promise<HttpResult> {
  const limits: Limits = scope.deps.http;
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), limits.timeoutMs);
  try {
    return await follow(scope, cap, req, limits, deadline.signal);
  } catch (err) {
    const failure = toCapabilityError(cap, err, deadline.signal.aborted, limits.timeoutMs);
    scope.log("warn", failure.message, { method: `http.${cap}`, error: failure.name, url: forLog(req.url) });
    throw failure;
  } finally {
    clearTimeout(timer);
  }
}

async function follow(scope: CallScope, cap: string, first: OutboundRequest, limits: Limits, signal: AbortSignal): Promise<HttpResult> {
  let req = first;
  for (let redirects = 0; ; redirects++) {
    const url = checkHop(scope, cap, req.url, limits.allowPrivate);
    const res = await send(req, url, limits, signal);
    const next = redirectFrom(res, req, url);
    if (next === undefined) {
      const body = await readBody(cap, res, limits.maxResponseBytes);
      return { status: res.statusCode, headers: flattenHeaders(res.headers), body, url: withoutFragment(url), redirected: redirects > 0 };
    }
    await res.body.dump({ limit: REDIRECT_BODY_LIMIT }).catch(() => undefined);
    if (redirects + 1 > MAX_REDIRECTS) {
      throw new CapabilityError(`ctx.http.${cap}: more than ${MAX_REDIRECTS} redirects (last one to ${next.url.slice(0, 200)})`, "too_many_redirects", "TooManyRedirects");
    }
    req = next;
  }
}

// The order matters: checkUrl parses (WHATWG) and refuses IP literals and credentials before
// the allowlist compares the parsed hostname, so `good.com@evil.com` never matches good.com.
function checkHop(scope: CallScope, cap: string, raw: string, allowPrivate: boolean): URL {
  const url = checkUrl(raw, { allowPrivate });
  if (!hostAllowed(url.hostname, scope.manifest.http_allowlist ?? [])) {
    throw new CapabilityError(
      `ctx.http.${cap}: host "${url.hostname}" is not allowed; add it to "http_allowlist" in plugin.json`,
      "host_not_allowed",
      "HostNotAllowed",
    );
  }
  return url;
}

function send(req: OutboundRequest, url: URL, limits: Limits, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
  const headers = new Map(req.headers);
  if (!headers.has("user-agent")) headers.set("user-agent", USER_AGENT);
  return request(url, {
    method: req.method as Dispatcher.HttpMethod,
    // undici takes a flat [name, value, name, value, ...] list.
    headers: [...headers].flat(),
    body: req.body,
    dispatcher: limits.dispatcher,
    signal,
    headersTimeout: limits.timeoutMs,
    bodyTimeout: limits.timeoutMs,
  });
}

/** The next hop of a redirect (fetch semantics), or undefined when `res` is the answer. */
function redirectFrom(res: Dispatcher.ResponseData, req: OutboundRequest, from: URL): OutboundRequest | undefined {
  if (!REDIRECT_STATUSES.has(res.statusCode)) return undefined;
  const location = firstHeader(res.headers.location);
  // A 3xx without Location is an answer like any other (fetch does the same).
  if (location === undefined) return undefined;
  let to: URL;
  try {
    to = new URL(location, from);
  } catch {
    throw new RedirectBroken(`redirect to an invalid Location: ${JSON.stringify(location.slice(0, 200))}`);
  }
  const headers = new Map(req.headers);
  let { method, body } = req;
  // 301/302/303 re-ask with GET and no body; 307/308 repeat the request as it was.
  if (res.statusCode <= 303 && method !== "GET" && method !== "HEAD") {
    method = "GET";
    body = undefined;
    for (const h of BODY_HEADERS) headers.delete(h);
  }
  if (to.origin !== from.origin) for (const h of CREDENTIAL_HEADERS) headers.delete(h);
  return { url: to.href, method, headers, ...(body !== undefined ? { body } : {}) };
}

class RedirectBroken extends Error {}

async function readBody(cap: string, res: Dispatcher.ResponseData, max: number): Promise<string> {
  const tooLarge = () => new CapabilityError(`ctx.http.${cap}: the response is larger than ${max} bytes`, "response_too_large", "ResponseTooLarge");
  // A declared length over the cap is refused before a byte is read.
  const declared = Number(firstHeader(res.headers["content-length"]));
  if (Number.isFinite(declared) && declared > max) {
    res.body.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      res.body.destroy();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  // Invalid UTF-8 becomes U+FFFD, as Response.text() does.
  return new TextDecoder("utf-8").decode(Buffer.concat(chunks));
}

// Response.url never carries the fragment (it is not sent to the server either).
function withoutFragment(url: URL): string {
  const copy = new URL(url);
  copy.hash = "";
  return copy.href;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

// Lower-case names (undici already lower-cases them); repeated headers joined with ", " as
// Headers.get() does. A null prototype, so a header named "__proto__" stays a header.
function flattenHeaders(raw: Dispatcher.ResponseData["headers"]): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

function toCapabilityError(cap: string, err: unknown, timedOut: boolean, timeoutMs: number): CapabilityError {
  if (err instanceof CapabilityError) return err;
  const refused = isEgressRefused(err);
  if (refused) return new CapabilityError(`ctx.http.${cap} refused: ${refused.message}`, "egress_refused", "EgressRefused");
  if (timedOut || isTimeout(err)) {
    return new CapabilityError(`ctx.http.${cap}: no complete answer within ${timeoutMs} ms`, "timeout", "Timeout");
  }
  return new CapabilityError(`ctx.http.${cap} failed: ${describeNetworkError(err)}`, "network_error", "NetworkError");
}

function isTimeout(err: unknown): boolean {
  const e = err as { name?: string; code?: string };
  return e?.name === "TimeoutError" || e?.code === "UND_ERR_HEADERS_TIMEOUT" || e?.code === "UND_ERR_BODY_TIMEOUT" || e?.code === "UND_ERR_CONNECT_TIMEOUT";
}

// "ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9"; with Happy Eyeballs the cause can be an
// AggregateError whose first error says more than its empty message.
function describeNetworkError(err: unknown): string {
  if (err instanceof RedirectBroken) return err.message;
  const e = err as { code?: string; message?: string; cause?: unknown; errors?: unknown[] };
  const inner = (e?.cause ?? (Array.isArray(e?.errors) ? e.errors[0] : undefined)) as { code?: string; message?: string } | undefined;
  const code = inner?.code ?? e?.code;
  const message = inner?.message || e?.message || String(err);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

// Logs keep the origin and path: a query string may carry a token the plugin read from secrets.
function forLog(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.origin}${u.pathname}`;
  } catch {
    return raw.slice(0, 200);
  }
}
