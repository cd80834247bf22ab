import { Router, type Request } from "express";
import { z } from "zod";
import { AppError } from "../errors.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import type { Services } from "../services.ts";
import { audit } from "./audit-actor.ts";
import { tenantOf } from "./plugins-router.ts";
import { zodDetails } from "./zod-details.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const ListQuery = z.strictObject({
  status: z.enum(["pending", "delivered", "failed", "skipped"]).optional(),
  event: z.string().max(200).optional(),
  webhook: z.string().max(100).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  before: z.iso.datetime({ offset: true }).optional(),
});

/** /api/plugins/:id/deliveries: webhook deliveries of an install, their attempts, and replay. */
export function deliveriesRouter(s: Services): Router {
  const router = Router({ mergeParams: true });
  const prisma = s.db.prisma;
  const install = (req: Request) => s.installService.get(tenantOf(req), String(req.params.id));
  const delivery = async (req: Request) => {
    const i = await install(req);
    const id = String(req.params.deliveryId);
    const row = UUID.test(id) ? await prisma.webhookDelivery.findFirst({ where: { id, installId: i.id } }) : null;
    if (!row) throw new AppError("not_found", "No such delivery for this plugin");
    return { install: i, row };
  };

  router.get("/", async (req, res) => {
    const i = await install(req);
    const parsed = ListQuery.safeParse(req.query);
    if (!parsed.success) throw new AppError("invalid_request", "Bad query parameters", zodDetails(parsed.error));
    const q = parsed.data;
    const where: Prisma.WebhookDeliveryWhereInput = {
      installId: i.id,
      ...(q.status ? { status: q.status } : {}),
      ...(q.event ? { eventType: q.event } : {}),
      ...(q.webhook ? { webhook: q.webhook } : {}),
      ...(q.before ? { createdAt: { lt: new Date(q.before) } } : {}),
    };
    const rows = await prisma.webhookDelivery.findMany({ where, orderBy: [{ createdAt: "desc" }, { id: "desc" }], take: q.limit });
    res.json({ deliveries: rows.map(deliveryView), next_before: rows.length === q.limit ? rows[rows.length - 1].createdAt.toISOString() : null });
  });

  router.get("/:deliveryId", async (req, res) => {
    const { row } = await delivery(req);
    const attempts = await prisma.webhookAttempt.findMany({ where: { deliveryId: row.id }, orderBy: { id: "asc" } });
    res.json({ delivery: { ...deliveryView(row), payload: parsePayload(row.payload) }, attempts: attempts.map(attemptView) });
  });

  router.post("/:deliveryId/retry", async (req, res) => {
    const { install: i, row } = await delivery(req);
    if (row.status === "pending") throw new AppError("delivery_pending", undefined, { delivery: deliveryView(row) });
    const def = i.version.webhooks.find((w) => w.name === row.webhook);
    const replayed = await s.deliveries.replay(i.id, row.id, def?.retry.max_attempts ?? row.maxAttempts);
    if (!replayed) throw new AppError("delivery_pending", "Another retry of this delivery started first");
    const details = { delivery_id: row.id, webhook: row.webhook, event_type: row.eventType, event_id: row.eventId };
    await audit(req, s, { action: "delivery.replayed", install: i, target: { type: "delivery", id: row.id }, details });
    const item = { kind: "delivery" as const, id: row.id };
    await s.executor.enqueue(item, { dedupeKey: `delivery-${row.id}-${row.attempts}-replay` }).catch((err: unknown) => {
      s.logger.warn({ err, delivery: row.id }, "enqueue failed; the outbox sweep will retry");
    });
    const fresh = await prisma.webhookDelivery.findUniqueOrThrow({ where: { id: row.id } });
    res.status(202).json({ delivery: deliveryView(fresh) });
  });
  return router;
}

type DeliveryRow = Prisma.WebhookDeliveryGetPayload<object>;
type AttemptRow = Prisma.WebhookAttemptGetPayload<object>;

export function deliveryView(d: DeliveryRow) {
  return {
    id: d.id,
    webhook: d.webhook,
    event_id: d.eventId,
    event_type: d.eventType,
    status: d.status,
    attempts: d.attempts,
    max_attempts: d.maxAttempts,
    next_attempt_at: d.status === "pending" ? d.nextAttemptAt.toISOString() : null,
    last_status_code: d.lastStatusCode,
    error: d.error,
    created_at: d.createdAt.toISOString(),
    finished_at: d.finishedAt?.toISOString() ?? null,
  };
}

function attemptView(a: AttemptRow) {
  return {
    attempt: a.attempt,
    started_at: a.startedAt.toISOString(),
    duration_ms: a.durationMs,
    status_code: a.statusCode,
    error: a.error,
    response: a.response,
  };
}

function parsePayload(payload: string | null): unknown {
  if (payload === null) return null;
  try {
    return JSON.parse(payload);
  } catch {
    return payload;
  }
}
