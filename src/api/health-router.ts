import { Router } from "express";
import type { Services } from "../services.ts";

/** Liveness (the process answers) and readiness (database and sandbox processes work). */
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
    const sandbox = s.sandbox.stats();
    checks.sandbox = sandbox.processes > 0 ? "ok" : "down";
    const ready = Object.values(checks).every((v) => v === "ok");
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "not_ready", checks, sandbox });
  });
  return router;
}
