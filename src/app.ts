import express, { type ErrorRequestHandler, type Express, type Request, type RequestHandler } from "express";
import { adminUi } from "./admin/admin-ui.ts";
import { auditRouter } from "./api/audit-router.ts";
import { eventsRouter } from "./api/events-router.ts";
import { extRouter } from "./api/ext-router.ts";
import { filesRouter } from "./api/files-router.ts";
import { healthRouter } from "./api/health-router.ts";
import { meRouter } from "./api/me-router.ts";
import { serveOpenApi } from "./api/openapi.ts";
import { pluginsRouter } from "./api/plugins-router.ts";
import { tenantsRouter } from "./api/tenants-router.ts";
import { usersRouter } from "./api/users-router.ts";
import { AppError, errorToHttp } from "./errors.ts";
import type { Services } from "./services.ts";

/** The HTTP app. It never listens: main.ts does, and tests drive it directly. */
export function buildApp(s: Services): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("query parser", "simple");
  app.use(countRequests(s));
  app.use((_req, res, next) => {
    if (s.draining) res.setHeader("Connection", "close");
    next();
  });
  app.use(healthRouter(s));
  app.get("/openapi.json", serveOpenApi);
  app.use("/admin", adminUi());
  app.use("/api/me", meRouter(s));
  app.use("/api/tenants", tenantsRouter(s));
  app.use("/api/plugins", pluginsRouter(s));
  app.use("/api/events", eventsRouter(s));
  app.use("/api/users", usersRouter(s));
  app.use("/api/files", filesRouter(s));
  app.use("/api/audit", auditRouter(s));
  app.use(extRouter(s));
  app.use((req, _res, next) => next(new AppError("not_found", `No route ${req.method} ${req.path}`)));
  app.use(errorHandler(s));
  return app;
}

// Labelled by route pattern, never by raw path, so the number of series stays bounded.
function countRequests(s: Services): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      const route = routeLabel(req);
      s.metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
      s.metrics.httpDuration.observe({ method: req.method, route }, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  };
}

// Express forgets the mount path of nested routers by the time a response finishes, so the
// pattern is rebuilt from the URL: under /api, every other segment from the third is an id.
const LITERAL_SEGMENTS = new Set(["upload", "test-event"]);
function routeLabel(req: Request): string {
  const path = req.originalUrl.split("?")[0];
  if (/^\/(t\/[^/]+\/)?ext(\/|$)/.test(path)) return "/ext/:slug/*";
  // The admin UI is static files behind a plain middleware (no req.route): one series for all of
  // it. Case-insensitive like Express's own mount, so /Admin/ is not counted as unmatched.
  if (/^\/admin(\/|$)/i.test(path)) return "/admin";
  if (!req.route) return "unmatched";
  const segments = path.split("/").slice(1);
  if (segments[0] !== "api") return path;
  return "/" + segments.map((seg, i) => (i >= 2 && i % 2 === 0 && !LITERAL_SEGMENTS.has(seg) ? ":id" : seg)).join("/");
}

function errorHandler(s: Services): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const http = errorToHttp(err);
    const where = { method: req.method, path: req.path, status: http.status, code: http.body.error.code };
    // A paused plugin's 503 is a refusal, not a failure: a storm of them must not become a storm
    // of error logs with stacks (the pause itself is logged once, by the plugin's own log).
    if (http.status >= 500 && where.code !== "plugin_paused") s.logger.error({ ...where, err }, "request failed");
    else s.logger.info(where, "request refused");
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(http.status).set(http.headers).json(http.body);
  };
}
