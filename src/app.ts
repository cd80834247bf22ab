import express, { type ErrorRequestHandler, type Express } from "express";
import { eventsRouter } from "./api/events-router.ts";
import { extRouter } from "./api/ext-router.ts";
import { filesRouter } from "./api/files-router.ts";
import { healthRouter } from "./api/health-router.ts";
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
  app.use(healthRouter(s));
  app.use("/api/tenants", tenantsRouter(s));
  app.use("/api/plugins", pluginsRouter(s));
  app.use("/api/events", eventsRouter(s));
  app.use("/api/users", usersRouter(s));
  app.use("/api/files", filesRouter(s));
  app.use(extRouter(s));
  app.use((req, _res, next) => next(new AppError("not_found", `No route ${req.method} ${req.path}`)));
  app.use(errorHandler(s));
  return app;
}

function errorHandler(s: Services): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const http = errorToHttp(err);
    const where = { method: req.method, path: req.path, status: http.status, code: http.body.error.code };
    if (http.status >= 500) s.logger.error({ ...where, err }, "request failed");
    else s.logger.info(where, "request refused");
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(http.status).set(http.headers).json(http.body);
  };
}
