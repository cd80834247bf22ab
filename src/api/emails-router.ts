import { Router, type Request } from "express";
import { z } from "zod";
import { AppError } from "../errors.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import type { Services } from "../services.ts";
import { tenantOf } from "./plugins-router.ts";
import { zodDetails } from "./zod-details.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const ListQuery = z.strictObject({
  status: z.enum(["sent", "stored", "failed"]).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  before: z.iso.datetime({ offset: true }).optional(),
});

/**
 * /api/plugins/:id/emails: mail the plugin sent (or kept in the outbox when no SMTP_URL is set),
 * newest first. The list leaves the bodies out (up to 256 KiB each); one message has them.
 */
export function emailsRouter(s: Services): Router {
  const router = Router({ mergeParams: true });
  const prisma = s.db.prisma;
  // The install is looked up within the caller's tenant, so another tenant's id is a 404.
  const install = (req: Request) => s.installService.get(tenantOf(req), String(req.params.id));

  router.get("/", async (req, res) => {
    const i = await install(req);
    const parsed = ListQuery.safeParse(req.query);
    if (!parsed.success) throw new AppError("invalid_request", "Bad query parameters", zodDetails(parsed.error));
    const q = parsed.data;
    const where: Prisma.EmailMessageWhereInput = {
      installId: i.id,
      ...(q.status ? { status: q.status } : {}),
      ...(q.before ? { createdAt: { lt: new Date(q.before) } } : {}),
    };
    const rows = await prisma.emailMessage.findMany({
      where,
      omit: { text: true, html: true },
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      take: q.limit,
    });
    res.json({ emails: rows.map(emailView), next_before: rows.length === q.limit ? rows[rows.length - 1].createdAt.toISOString() : null });
  });

  router.get("/:emailId", async (req, res) => {
    const i = await install(req);
    const id = String(req.params.emailId);
    const row = UUID.test(id) ? await prisma.emailMessage.findFirst({ where: { id, installId: i.id } }) : null;
    if (!row) throw new AppError("not_found", "No such email for this plugin");
    res.json({ email: { ...emailView(row), text: row.text, html: row.html } });
  });
  return router;
}

type EmailRow = Omit<Prisma.EmailMessageGetPayload<object>, "text" | "html">;

function emailView(e: EmailRow) {
  return {
    id: e.id,
    to: e.recipients,
    subject: e.subject,
    status: e.status,
    message_id: e.messageId,
    error: e.error,
    created_at: e.createdAt.toISOString(),
  };
}
