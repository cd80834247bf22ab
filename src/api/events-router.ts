import { Router, type RequestHandler } from "express";
import { z } from "zod";
import { authenticate, requireRole, requireTenant } from "../auth/authenticate.ts";
import { AppError } from "../errors.ts";
import { eventView } from "../events/event-service.ts";
import { isValidEventType } from "../events/event-types.ts";
import type { Services } from "../services.ts";
import { jsonBody } from "./json-body.ts";
import { tenantOf } from "./plugins-router.ts";
import { zodDetails } from "./zod-details.ts";

export const Publish = z.object({ type: z.string().refine(isValidEventType, "must look like noun.verb (lower-case, dotted)"), data: z.unknown().optional() });

/**
 * /api/events: the host application publishes its own domain events (any type, system
 * prefixes included: the host is trusted), and admins see what happened, with each hook's outcome.
 */
export function eventsRouter(s: Services): Router {
  const router = Router();
  router.use(authenticate({ jwtSecret: s.config.jwtSecret, findTenant: s.tenants.find }), requireRole("admin"), requireTenant);

  // The tenant's publish rate is checked before the body is read: a flood costs a counter, not a parse.
  const limited: RequestHandler = (req, _res, next) => {
    s.rateLimits.take("host-events", tenantOf(req).id, { points: s.config.hostEventRate, durationSeconds: 1 }).then((wait) => {
      if (wait === 0) return next();
      s.metrics.eventsRefused.inc();
      next(new AppError("rate_limited", `This tenant may publish at most ${s.config.hostEventRate} events per second`, null, { headers: { "Retry-After": String(wait) } }));
    }, next);
  };
  router.post("/", limited, jsonBody("512kb"), async (req, res) => {
    const parsed = Publish.safeParse(req.body);
    if (!parsed.success) throw new AppError("invalid_request", 'Send {"type": "build.completed", "data": {…}}', zodDetails(parsed.error));
    const published = await s.events.publish(tenantOf(req), { type: parsed.data.type, data: parsed.data.data ?? {}, source: "api" });
    res.status(202).json({ event: published.event, hooks: published.hookRuns.length });
  });

  router.get("/", async (req, res) => {
    const limit = Math.min(200, Math.max(1, Number(req.query.limit ?? 50) || 50));
    const type = req.query.type === undefined ? undefined : String(req.query.type);
    const tenant = tenantOf(req);
    const rows = await s.db.prisma.event.findMany({
      where: { tenantId: tenant.id, ...(type ? { type } : {}) },
      orderBy: { occurredAt: "desc" },
      take: limit,
      include: { hookRuns: { include: { install: { select: { slug: true } } } } },
    });
    res.json({
      events: rows.map((e) => ({ ...eventView(e, tenant.slug), hooks: e.hookRuns.map(hookRunView) })),
    });
  });

  router.get("/:id", async (req, res) => {
    const tenant = tenantOf(req);
    const id = String(req.params.id);
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw new AppError("not_found", "No such event");
    const e = await s.db.prisma.event.findFirst({
      where: { id, tenantId: tenant.id },
      include: { hookRuns: { include: { install: { select: { slug: true } } } } },
    });
    if (!e) throw new AppError("not_found", "No such event");
    res.json({ event: { ...eventView(e, tenant.slug), hooks: e.hookRuns.map(hookRunView) } });
  });
  return router;
}

export function hookRunView(r: {
  id: string;
  installId: string;
  status: string;
  attempts: number;
  maxAttempts: number;
  durationMs: number | null;
  error: string | null;
  nextAttemptAt: Date;
  finishedAt: Date | null;
  install?: { slug: string } | null;
}) {
  return {
    id: r.id,
    plugin: r.install?.slug ?? null,
    install_id: r.installId,
    status: r.status,
    attempts: r.attempts,
    max_attempts: r.maxAttempts,
    duration_ms: r.durationMs,
    error: r.error,
    next_attempt_at: r.status === "pending" ? r.nextAttemptAt.toISOString() : null,
    finished_at: r.finishedAt?.toISOString() ?? null,
  };
}
