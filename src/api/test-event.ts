import type { RequestHandler } from "express";
import { z } from "zod";
import { AppError } from "../errors.ts";
import { isValidEventType } from "../events/event-types.ts";
import type { Services } from "../services.ts";
import { hookRunView } from "./events-router.ts";
import { tenantOf } from "./plugins-router.ts";
import { zodDetails } from "./zod-details.ts";

export const Body = z.object({
  event_type: z.string().refine(isValidEventType, "must look like noun.verb (lower-case, dotted)"),
  event_data: z.unknown().optional(),
});

const WAIT_LIMIT_MS = 60_000;

/**
 * POST /api/plugins/test-event {event_type, event_data}: fires an event at this tenant's
 * plugins. 202 with the event id and hook count; `?wait=true` waits for every hook run to end
 * (success, last failed attempt or skip) and answers 200 with each outcome.
 */
export function testEventHandler(s: Services): RequestHandler {
  return async (req, res) => {
    const parsed = Body.safeParse(req.body);
    if (!parsed.success) throw new AppError("invalid_request", 'Send {"event_type": "auth.user.created", "event_data": {…}}', zodDetails(parsed.error));
    const published = await s.events.publish(tenantOf(req), { type: parsed.data.event_type, data: parsed.data.event_data ?? {}, source: "test" });
    if (req.query.wait !== "true") {
      res.status(202).json({ event: { id: published.event.id }, hooks: published.hookRuns.length, webhooks: published.deliveries.length });
      return;
    }
    const ids = published.hookRuns.map((r) => r.id);
    const deadline = Date.now() + WAIT_LIMIT_MS;
    let runs = await s.db.prisma.hookRun.findMany({ where: { id: { in: ids } }, include: { install: { select: { slug: true } } } });
    while (runs.some((r) => r.status === "pending") && Date.now() < deadline && !req.socket.destroyed) {
      await new Promise((r) => setTimeout(r, 25));
      runs = await s.db.prisma.hookRun.findMany({ where: { id: { in: ids } }, include: { install: { select: { slug: true } } } });
    }
    res.status(200).json({
      event: published.event,
      complete: runs.every((r) => r.status !== "pending"),
      hooks: runs.map(hookRunView),
      // Deliveries are not waited for (their retries can take hours): follow them in …/deliveries.
      deliveries: published.deliveries.map((d) => ({ id: d.id, webhook: d.webhook, plugin_id: d.installId })),
    });
  };
}
