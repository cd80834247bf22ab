import { Router } from "express";
import type { Services } from "../services.ts";

/** /api/plugins/:id/emails: mail the plugin sent (or kept in the outbox when no SMTP_URL is set). */
export function emailsRouter(_s: Services): Router {
  const router = Router({ mergeParams: true });
  return router;
}
