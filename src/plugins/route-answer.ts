import { errorToHttp } from "../errors.ts";
import { PluginFailure, type InvokeResult } from "./invoker.ts";

// Headers a plugin may not set: they would break framing, let a plugin route plant cookies on
// the platform's own origin, or lift the page policy below.
const FORBIDDEN_HEADERS = new Set([
  "set-cookie",
  "content-length",
  "transfer-encoding",
  "connection",
  "content-encoding",
  "host",
  "keep-alive",
  "upgrade",
  "trailer",
  "content-security-policy",
  "content-security-policy-report-only",
  "x-content-type-options",
]);

/**
 * Sent with every plugin route answer. Routes share the platform's origin with the admin UI,
 * whose token sits in that origin's sessionStorage: whatever Content-Type a plugin claims, a
 * browser that opens its answer as a page must not run script there (`sandbox` gives the page
 * an opaque origin and no scripts), nor guess a type.
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

/** A handler's return value (or `json(body, status, headers)`) as the HTTP answer. */
export function routeAnswer(result: Pick<InvokeResult, "value" | "response">): RouteAnswer {
  const status = result.response?.status ?? 200;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.response?.headers ?? {})) {
    if (/^[A-Za-z0-9-]{1,64}$/.test(name) && !FORBIDDEN_HEADERS.has(name.toLowerCase()) && ["string", "number"].includes(typeof value)) {
      headers[name] = String(value).replace(/[\r\n]/g, " ");
    }
  }
  return { status: Number.isInteger(status) && status >= 200 && status <= 599 ? status : 200, headers, body: result.value };
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
