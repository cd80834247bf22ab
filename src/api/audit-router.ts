import { Router } from "express";
import { z } from "zod";
import { decodeCursor } from "../audit/audit-log.ts";
import { authenticate, requireRole, requireTenant } from "../auth/authenticate.ts";
import { AppError } from "../errors.ts";
import type { Services } from "../services.ts";
import { tenantOf } from "./plugins-router.ts";
import { zodDetails } from "./zod-details.ts";

export const Query = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  before: z
    .string()
    .transform((v, ctx) => decodeCursor(v) ?? (ctx.addIssue({ code: "custom", message: "must be an ISO time or the next_before of a previous page" }), z.NEVER))
    .optional(),
  action: z.string().min(1).max(100).optional(),
  plugin: z.string().min(1).max(100).optional(),
});

/** GET /api/audit: the tenant's audit log, newest first, for its admins (members get 403). */
export function auditRouter(s: Services): Router {
  const router = Router();
  router.use(authenticate({ jwtSecret: s.config.jwtSecret, findTenant: s.tenants.find }), requireRole("admin"), requireTenant);
  router.get("/", async (req, res) => {
    const parsed = Query.safeParse(req.query);
    if (!parsed.success) throw new AppError("invalid_request", "Bad query parameters", zodDetails(parsed.error));
    const { entries, nextBefore } = await s.audit.list(tenantOf(req).id, parsed.data);
    res.json({ entries, next_before: nextBefore });
  });
  return router;
}
