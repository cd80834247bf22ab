import type { CallScope } from "./call-scope.ts";
import { parseRequest } from "./http-args.ts";
import { exchange, type HttpResult } from "./http-exchange.ts";

// ctx.http: outbound HTTP on behalf of a plugin. The handler has already checked the
// `outbound_http` permission; here every argument is checked (http-args.ts), then each hop
// must pass the egress guard and the manifest's http_allowlist (http-exchange.ts).

/** ctx.http.fetch(url, init?): init is { method?, headers?, body? }. */
export async function httpFetch(scope: CallScope, args: unknown[]): Promise<HttpResult> {
  const [url, init] = args;
  return exchange(scope, "fetch", parseRequest("http.fetch", url, init));
}

/** ctx.http.get(url, init?): a GET; init may carry headers. */
export async function httpGet(scope: CallScope, args: unknown[]): Promise<HttpResult> {
  const [url, init] = args;
  return exchange(scope, "get", parseRequest("http.get", url, init, { method: "GET" }));
}

/** ctx.http.post(url, body?, init?): a POST; an object or array body is sent as JSON. */
export async function httpPost(scope: CallScope, args: unknown[]): Promise<HttpResult> {
  const [url, body, init] = args;
  return exchange(scope, "post", parseRequest("http.post", url, init, { method: "POST", body: { value: body } }));
}
