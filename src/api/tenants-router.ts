import { Router } from "express";
import { z } from "zod";
import { authenticate, requireRole } from "../auth/authenticate.ts";
import { AppError } from "../errors.ts";
import { SLUG } from "../packaging/manifest-schema.ts";
import type { Services } from "../services.ts";
import { audit } from "./audit-actor.ts";
import { jsonBody } from "./json-body.ts";

export const NewTenant = z.object({
  slug: z.string().regex(SLUG, "must be lower-case letters, digits, - and _ (2 to 63 characters)"),
  name: z.string().min(1).max(200),
});

/** Platform admins create tenants: POST /api/tenants {slug, name}. */
export function tenantsRouter(s: Services): Router {
  const router = Router();
  router.use(authenticate({ jwtSecret: s.config.jwtSecret, findTenant: s.tenants.find }), requireRole("platform_admin"));
  router.post("/", jsonBody("16kb"), async (req, res) => {
    const parsed = NewTenant.safeParse(req.body);
    if (!parsed.success) {
      throw new AppError("invalid_request", "Send {\"slug\", \"name\"}", parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })));
    }
    const tenant = await s.db.prisma.tenant.create({ data: parsed.data }).catch((err: { code?: string }) => {
      if (err.code === "P2002") throw new AppError("tenant_exists", `Tenant "${parsed.data.slug}" exists`);
      throw err;
    });
    s.tenants.invalidate(tenant.slug);
    // The new tenant's own log starts with who created it (a platform admin, who has no tenant of its own).
    await audit(req, s, { action: "tenant.created", tenantId: tenant.id, target: { type: "tenant", id: tenant.id }, details: { slug: tenant.slug, name: tenant.name } });
    res.status(201).json({ tenant: { id: tenant.id, slug: tenant.slug, name: tenant.name, created_at: tenant.createdAt.toISOString() } });
  });
  router.get("/", async (_req, res) => {
    const rows = await s.db.prisma.tenant.findMany({ orderBy: { createdAt: "asc" } });
    res.json({ tenants: rows.map((t) => ({ id: t.id, slug: t.slug, name: t.name, created_at: t.createdAt.toISOString() })) });
  });
  return router;
}
