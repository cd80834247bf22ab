import { AppError, errorToHttp } from "../errors.ts";
import { PluginFailure, type InvokeResult } from "./invoker.ts";

// Routes answer on the platform's own origin, where the admin UI keeps its token. So a plugin's
// response headers are an allowlist: besides these, only its own `X-…` headers pass. Everything
// else is dropped: cookies (Set-Cookie), the page policy (CSP, CORS `Access-Control-*`,
// `Cross-Origin-*`, `Permissions-Policy`), transport pins (HSTS, Alt-Svc), `Clear-Site-Data` (would
// wipe the admin's session), `Refresh`, credential prompts (WWW-Authenticate), `Link` (preloads
// and, in some browsers, style sheets), and the framing of the answer (Content-Length,
// Transfer-Encoding, Connection…). `Location` is allowed only as checked by redirectTarget.
const ALLOWED_HEADERS = new Set([
  "content-type",
  "cache-control",
  "etag",
  "last-modified",
  "expires",
  "vary",
  "content-language",
  "content-disposition",
  "retry-after",
]);

// `X-` headers that browsers, proxies or web servers act on: framing and sniffing policy, and the
// internal redirects of a fronting nginx (X-Accel-*), Apache or lighttpd (X-Sendfile), which would
// serve files the platform never meant to.
const DENIED_X_HEADERS =
  /^x-(frame-options|content-type-options|xss-protection|powered-by|dns-prefetch-control|permitted-cross-domain-policies|download-options|ua-compatible|content-security-policy(-report-only)?|webkit-csp|sendfile|lighttpd-send-file|accel-.*|forwarded-.*|real-ip|original-url|rewrite-url)$/;

/** Whether a plugin route may set the response header `name` (any case). Location is checked apart. */
export function isAllowedAnswerHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return ALLOWED_HEADERS.has(lower) || (lower.startsWith("x-") && !DENIED_X_HEADERS.test(lower));
}

/**
 * Sent with every plugin route answer. Whatever Content-Type a plugin claims, a browser that
 * opens its answer as a page must not run script on the platform's origin (`sandbox` gives the
 * page an opaque origin and no scripts), nor guess a type.
 */
export const ROUTE_ANSWER_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": "sandbox",
  "X-Content-Type-Options": "nosniff",
};

/** What a route call answers over HTTP: /ext serves it, the test harness returns it. */
export interface RouteAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Where a route call came in: redirects may only lead back under the plugin's own path. */
export interface RouteMount {
  /** The plugin's slug and the caller's tenant slug: `/ext/<slug>` and `/t/<tenant>/ext/<slug>` are the plugin's own. */
  slug: string;
  tenant: string;
  /** How the caller reached the plugin: `/ext/<slug>` or `/t/<tenant>/ext/<slug>`. */
  prefix: string;
  /** The requested path under the prefix, raw (`/orders/7/`): relative redirects resolve against it. */
  path: string;
}

/** An answer the platform will not send (a redirect off the plugin's path): 500, the reason goes to the plugin's log. */
export class RefusedAnswer extends AppError {
  constructor(readonly reason: string) {
    super("plugin_bad_response", "The plugin's answer was refused; the reason is in the plugin's logs");
  }
}

/**
 * A handler's return value (or `json(body, status, headers)`) as the HTTP answer: headers outside
 * the allowlist dropped, a Location resolved and checked (RefusedAnswer when it leads off the
 * plugin's own path).
 */
export function routeAnswer(result: Pick<InvokeResult, "value" | "response">, mount: RouteMount): RouteAnswer {
  const status = result.response?.status ?? 200;
  const headers: Record<string, string> = {};
  for (const [name, raw] of Object.entries(result.response?.headers ?? {})) {
    if (!/^[A-Za-z0-9-]{1,64}$/.test(name) || !["string", "number"].includes(typeof raw)) continue;
    if (name.toLowerCase() === "location") {
      headers[name] = redirectTarget(String(raw), mount);
      continue;
    }
    if (!isAllowedAnswerHeader(name)) continue;
    // Control characters (a CR LF would split the header) become spaces; what Latin-1 cannot carry is dropped.
    const value = String(raw).replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, " ");
    if (!/[^\u0000-\u00ff]/.test(value)) headers[name] = value;
  }
  return { status: Number.isInteger(status) && status >= 200 && status <= 599 ? status : 200, headers, body: result.value };
}

// Only to resolve and compare paths; never sent.
const ORIGIN = "http://platform.invalid";

/**
 * Where a plugin's Location may send the browser: a relative URL (`./other`, `../x`, `?page=2`) or
 * an absolute path under the plugin's own `/ext/<slug>/` (or `/t/<tenant>/ext/<slug>/`), resolved
 * against the request and sent as an absolute path under the caller's mount. Anything else (an
 * absolute URL, `//host`, another path of the platform such as `/api/…`, `..` climbing out,
 * backslashes or control characters that browsers read as `/` or skip) refuses the answer: the
 * caller may hold a token, and a same-origin redirect would be followed with it.
 */
export function redirectTarget(location: string, mount: RouteMount): string {
  const shown = JSON.stringify(location.length > 200 ? `${location.slice(0, 200)}…` : location);
  if (/[\\\u0000-\u0020\u007f]/.test(location)) throw new RefusedAnswer(`Location ${shown} contains a backslash, a space or a control character`);
  if (/^[a-z][a-z0-9+.-]*:/i.test(location) || location.startsWith("//")) {
    throw new RefusedAnswer(`Location ${shown} leaves the plugin: redirect only to a relative URL or a path under ${mount.prefix}/`);
  }
  let target: URL;
  try {
    target = new URL(location, ORIGIN + mount.prefix + (mount.path.startsWith("/") ? mount.path : `/${mount.path}`));
  } catch {
    throw new RefusedAnswer(`Location ${shown} is not a URL`);
  }
  if (target.origin === ORIGIN) {
    for (const own of [`/ext/${mount.slug}`, `/t/${mount.tenant}/ext/${mount.slug}`]) {
      if (target.pathname === own || target.pathname.startsWith(`${own}/`)) return mount.prefix + target.pathname.slice(own.length) + target.search + target.hash;
    }
  }
  throw new RefusedAnswer(`Location ${shown} leads to ${target.pathname}, outside the plugin's own ${mount.prefix}/`);
}

/** A thrown HttpError(status, message) answers like the platform's own errors; anything else as errorToHttp says. */
export function routeErrorAnswer(err: unknown): RouteAnswer {
  if (err instanceof PluginFailure && err.record.name === "HttpError") {
    const status = err.record.status ?? 500;
    if (Number.isInteger(status) && status >= 400 && status <= 599) {
      return { status, headers: {}, body: { error: { code: codeForStatus(status), message: err.record.message, details: err.record.details ?? null } } };
    }
  }
  return errorToHttp(err);
}

/** Whether the error is the plugin's own HttpError (answered as such) rather than a failure. */
export function isPluginHttpError(err: unknown): boolean {
  if (!(err instanceof PluginFailure) || err.record.name !== "HttpError") return false;
  const status = err.record.status ?? 500;
  return Number.isInteger(status) && status >= 400 && status <= 599;
}

// A plugin's HttpError(404, "…") answers like the platform's own errors do.
export function codeForStatus(status: number): string {
  const named: Record<number, string> = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 410: "gone", 422: "unprocessable", 429: "rate_limited", 503: "unavailable",
  };
  return named[status] ?? (status < 500 ? "client_error" : "plugin_error");
}
