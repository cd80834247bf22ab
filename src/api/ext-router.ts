import { Router, type Request, type Response } from "express";
import { authenticate } from "../auth/authenticate.ts";
import { AppError, errorToHttp } from "../errors.ts";
import { needsConfigurationError } from "../plugins/missing-values.ts";
import { isPluginHttpError, RefusedAnswer, ROUTE_ANSWER_HEADERS, routeAnswer, routeErrorAnswer, type RouteMount } from "../plugins/route-answer.ts";
import type { Services } from "../services.ts";
import { pluginBodyReader, type PluginBody } from "./json-body.ts";

// Request headers the plugin never sees: credentials of the caller.
const HIDDEN_REQUEST_HEADERS = new Set(["authorization", "cookie", "proxy-authorization"]);

/** `ANY /ext/<slug>/<path>` (tenant from X-Tenant-Slug or the token) and `/t/<tenant>/ext/<slug>/<path>`. */
export function extRouter(s: Services): Router {
  const router = Router();
  const auth = authenticate({ jwtSecret: s.config.jwtSecret, findTenant: s.tenants.find }, { optional: true });
  const readBody = pluginBodyReader("1mb");
  const handler = (req: Request, res: Response) => serve(s, req, res, readBody);
  router.all(["/ext/:slug", "/ext/:slug/{*rest}"], auth, handler);
  router.all(["/t/:tenant/ext/:slug", "/t/:tenant/ext/:slug/{*rest}"], auth, handler);
  return router;
}

async function serve(s: Services, req: Request, res: Response, readBody: (req: Request, res: Response) => Promise<PluginBody>): Promise<void> {
  const caller = req.auth!;
  const tenant = caller.tenant;
  if (!tenant) {
    if (caller.role === "anonymous" && caller.tokenError) throw caller.tokenError;
    throw new AppError("missing_token", "Send a Bearer token, or name the tenant (X-Tenant-Slug or /t/<tenant>/ext/…) for public routes");
  }
  const slug = String(req.params.slug);
  const install = await s.installs.find(tenant, slug);
  // Said, not hidden as a 404: the caller (often the admin trying it out) learns what to set.
  if (install?.status === "needs_configuration" && install.slug === slug) throw needsConfigurationError(slug, install.missing);
  if (!install || install.status !== "enabled" || install.slug !== slug) {
    throw new AppError("plugin_not_found", `No enabled plugin "${slug}" for tenant ${tenant.slug}`);
  }
  // The raw path, split before decoding, so "a%2Fb" stays one segment and "%25" decodes once.
  const segments = req.path.split("/").filter((x) => x !== "");
  const viaTenantPath = segments[0] === "t";
  const rawSegments = segments.slice(viaTenantPath ? 4 : 2);
  const path = "/" + rawSegments.join("/");
  // The caller's mount, which the plugin's redirects must stay under (kept raw, trailing slash included).
  const mount: RouteMount = {
    slug,
    tenant: tenant.slug,
    prefix: viaTenantPath ? `/t/${tenant.slug}/ext/${slug}` : `/ext/${slug}`,
    path: "/" + req.path.split("/").slice(viaTenantPath ? 5 : 3).join("/"),
  };
  const found = install.routes.match(req.method, rawSegments);
  if (!found) throw new AppError("route_not_found", `Plugin "${slug}" has no route ${path}`);
  if ("methodNotAllowed" in found) {
    throw new AppError("method_not_allowed", `${path} accepts ${found.methodNotAllowed.join(", ")}`, null, {
      headers: { Allow: found.methodNotAllowed.join(", ") },
    });
  }
  const { route, params, index } = found.match;
  if (route.auth !== "public") {
    if (caller.role === "anonymous") throw caller.tokenError ?? new AppError("missing_token");
    if (route.auth === "admin" && caller.role !== "admin" && caller.role !== "platform_admin") throw new AppError("forbidden");
  }
  const limit = install.version.manifest.resources.rate_limit;
  const wait = await s.rateLimits.take("route", install.id, { points: limit.calls, durationSeconds: limit.period_seconds });
  if (wait > 0) {
    throw new AppError("rate_limited", `Plugin "${slug}" allows ${limit.calls} calls per ${limit.period_seconds} s`, null, {
      headers: { "Retry-After": String(wait) },
    });
  }
  const { body, raw } = await readBody(req, res);
  const request = {
    method: req.method,
    path,
    params,
    query: req.query,
    headers: visibleHeaders(req),
    body,
    // Only for routes that ask (route option rawBody): it would double what crosses to the sandbox.
    ...(route.rawBody === true ? { rawBody: raw } : {}),
  };
  // Every call that reached the plugin is counted per install and day by the status it answered
  // (usage_counters `route.<status>`): most leave no invocation row (see Invoker).
  const answered = (status: number) => s.usage.add(install.tenantId, install.id, `route.${status}`);
  try {
    const result = await s.invoker.invoke(install, {
      kind: "route",
      name: String(index),
      label: `${req.method} ${route.path}`,
      args: [request],
      userId: caller.role === "anonymous" ? null : caller.userId,
    });
    const answer = routeAnswer(result, mount);
    answered(answer.status);
    res.status(answer.status).set(answer.headers).set(ROUTE_ANSWER_HEADERS).json(answer.body);
  } catch (err) {
    if (err instanceof RefusedAnswer) {
      s.recorder.log(install.id, { level: "error", message: `route ${req.method} ${route.path} answer refused: ${err.reason}`, fields: null, at: new Date().toISOString() });
    }
    // The plugin's HttpError is its answer; other failures go to the error middleware (logged).
    if (!isPluginHttpError(err)) {
      answered(errorToHttp(err).status);
      throw err;
    }
    const answer = routeErrorAnswer(err);
    answered(answer.status);
    res.status(answer.status).set(ROUTE_ANSWER_HEADERS).json(answer.body);
  }
}

function visibleHeaders(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (!HIDDEN_REQUEST_HEADERS.has(k) && v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}
