import { InvalidArgument } from "./capability-error.ts";

// What plugin code may ask ctx.http for, checked before anything leaves the host. Arguments
// arrive as parsed JSON, so the checks are about shape and size, and about headers that would
// let a plugin rewrite the request framing (request smuggling) or the destination.

export const MAX_URL_BYTES = 8 * 1024;
export const MAX_BODY_BYTES = 1024 * 1024;
const MAX_HEADERS = 64;
const MAX_HEADER_BYTES = 16 * 1024;

const METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]);
const INIT_KEYS = new Set(["method", "headers", "body"]);

// Hop-by-hop and framing headers belong to the connection, which the platform owns; `host`
// would name a destination the allowlist never saw. accept-encoding: bodies are handed over as
// text and never decompressed, so asking for gzip would only produce garbage.
const REFUSED_HEADERS: Readonly<Record<string, string>> = {
  host: "the host comes from the URL",
  connection: "connections are managed by the platform",
  "keep-alive": "connections are managed by the platform",
  "proxy-connection": "connections are managed by the platform",
  upgrade: "connections are managed by the platform",
  te: "connections are managed by the platform",
  trailer: "the body is sent whole",
  "transfer-encoding": "the body is sent whole",
  "content-length": "the length is computed from the body",
  expect: "100-continue is not supported",
  "accept-encoding": "responses are returned as text and are not decompressed",
};

// RFC 9110 token: this also keeps CR, LF, spaces and colons out of names.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Field values: no CR, LF or NUL (a CRLF would start a header of the plugin's choosing).
const BAD_VALUE_CHAR = /[\r\n\0]/;

/** One validated request: method upper-case, header names lower-case, body already encoded. */
export interface OutboundRequest {
  url: string;
  method: string;
  headers: Map<string, string>;
  body?: string;
}

/** What a shortcut fixes: ctx.http.get fixes GET, ctx.http.post fixes POST and the body. */
export interface Fixed {
  method?: string;
  body?: { value: unknown };
}

/** Checks `url` and `init` as a plugin passed them to ctx.http.<cap>; throws InvalidArgument. */
export function parseRequest(cap: string, url: unknown, init: unknown, fixed: Fixed = {}): OutboundRequest {
  const bad = (message: string) => new InvalidArgument(cap, message);
  const target = parseUrl(url, bad);
  const options = parseInit(init, bad);
  const method = parseMethod(options.method, fixed.method, bad);
  const headers = parseHeaders(options.headers, bad);
  if (fixed.body && options.body !== undefined) throw bad("pass the body as the second argument, not in init");
  const bodyValue = fixed.body ? fixed.body.value : options.body;
  const body = encodeBody(bodyValue, headers, bad);
  // fetch refuses these too: a body on GET/HEAD is dropped or misread by servers and proxies.
  if (body !== undefined && (method === "GET" || method === "HEAD")) throw bad(`a ${method} request cannot have a body`);
  return { url: target, method, headers, ...(body !== undefined ? { body } : {}) };
}

type Bad = (message: string) => InvalidArgument;

function parseUrl(url: unknown, bad: Bad): string {
  if (typeof url !== "string") throw bad("url must be a string");
  if (Buffer.byteLength(url) > MAX_URL_BYTES) throw bad(`url is longer than ${MAX_URL_BYTES} bytes`);
  // Only the syntax here; scheme, credentials and address are the egress guard's to refuse.
  if (!URL.canParse(url)) throw bad(`url is not an absolute URL: ${JSON.stringify(url.slice(0, 200))}`);
  return url;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function parseInit(init: unknown, bad: Bad): { method?: unknown; headers?: unknown; body?: unknown } {
  if (init === undefined || init === null) return {};
  if (!isPlainObject(init)) throw bad("init must be an object like { method, headers, body }");
  // An option the platform would silently ignore (redirect, signal, credentials, ...) is
  // better refused: the author then knows it has no effect.
  for (const key of Object.keys(init)) {
    if (!INIT_KEYS.has(key)) throw bad(`init.${key} is not supported (only method, headers and body)`);
  }
  return { method: init.method, headers: init.headers, body: init.body };
}

function parseMethod(method: unknown, fixed: string | undefined, bad: Bad): string {
  if (method === undefined || method === null) return fixed ?? "GET";
  if (typeof method !== "string" || !METHODS.has(method.toUpperCase())) {
    throw bad(`init.method must be one of ${[...METHODS].join(", ")}`);
  }
  const upper = method.toUpperCase();
  if (fixed && upper !== fixed) throw bad(`init.method must be ${fixed} here; use ctx.http.fetch for ${upper}`);
  return upper;
}

function parseHeaders(headers: unknown, bad: Bad): Map<string, string> {
  // A Map, not an object: a header named "__proto__" must stay a header.
  const out = new Map<string, string>();
  if (headers === undefined || headers === null) return out;
  if (!isPlainObject(headers)) throw bad("init.headers must be an object of header name → string value");
  const entries = Object.entries(headers);
  if (entries.length > MAX_HEADERS) throw bad(`at most ${MAX_HEADERS} headers`);
  let size = 0;
  for (const [name, value] of entries) {
    if (!HEADER_NAME.test(name)) throw bad(`header name ${JSON.stringify(name.slice(0, 100))} is not a valid HTTP header name`);
    const lower = name.toLowerCase();
    const refused = REFUSED_HEADERS[lower];
    if (refused !== undefined) throw bad(`header "${lower}" may not be set: ${refused}`);
    if (typeof value !== "string") throw bad(`header "${lower}" must be a string`);
    if (BAD_VALUE_CHAR.test(value)) throw bad(`header "${lower}" contains CR, LF or NUL`);
    if (out.has(lower)) throw bad(`header "${lower}" is given twice (names are case-insensitive)`);
    size += lower.length + Buffer.byteLength(value);
    if (size > MAX_HEADER_BYTES) throw bad(`headers are larger than ${MAX_HEADER_BYTES} bytes`);
    out.set(lower, value);
  }
  return out;
}

// A string is sent as is; an object or array as JSON (the common case of calling an API).
function encodeBody(value: unknown, headers: Map<string, string>, bad: Bad): string | undefined {
  if (value === undefined || value === null) return undefined;
  let text: string;
  if (typeof value === "string") {
    text = value;
  } else if (typeof value === "object") {
    text = JSON.stringify(value);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  } else {
    throw bad("body must be a string, or an object or array to send as JSON");
  }
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw bad(`body is larger than ${MAX_BODY_BYTES} bytes`);
  return text;
}
