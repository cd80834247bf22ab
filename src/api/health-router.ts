import { Router } from "express";
import { AppError } from "../errors.ts";
import type { Services } from "../services.ts";

/** Liveness (the process answers), readiness (database, Redis when used, sandbox processes) and metrics. */
export function healthRouter(s: Services): Router {
  const router = Router();
  router.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  router.get("/readyz", async (_req, res) => {
    const checks: Record<string, string> = {};
    try {
      await s.db.sql.query("SELECT 1");
      checks.database = "ok";
    } catch {
      checks.database = "unreachable";
    }
    // Scaled mode: the queue is Redis; asking its depth is a round trip to it.
    if (s.executor.engine === "bullmq") {
      checks.redis = await Promise.race([
        s.executor.depth().then(() => "ok", () => "unreachable"),
        new Promise<string>((r) => setTimeout(() => r("unreachable"), 2000).unref()),
      ]);
    }
    const sandbox = s.sandbox.stats();
    checks.sandbox = sandbox.processes > 0 ? "ok" : "down";
    if (s.draining) checks.shutdown = "draining";
    const ready = Object.values(checks).every((v) => v === "ok");
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "not_ready", checks, sandbox });
  });
  // Prometheus scrapes this; with METRICS_TOKEN set it must send it as a Bearer token.
  router.get("/metrics", async (req, res) => {
    const token = s.config.metricsToken;
    if (token && req.headers.authorization !== `Bearer ${token}`) {
      if (!req.headers.authorization) throw new AppError("missing_token", "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>");
      throw new AppError("invalid_token", "That is not the METRICS_TOKEN");
    }
    res.type(s.metrics.registry.contentType).send(await s.metrics.registry.metrics());
  });
  return router;
}
