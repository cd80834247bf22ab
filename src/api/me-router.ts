import { Router } from "express";
import { authenticate, requireRole } from "../auth/authenticate.ts";
import { AppError } from "../errors.ts";
import type { Services } from "../services.ts";

/**
 * GET /api/me: who the token says the caller is, and the tenant the request acts on, so a client
 * (the admin UI) can check a pasted token and pick its screens without trying admin-only calls.
 */
export function meRouter(s: Services): Router {
  const router = Router();
  // Any real role: a member may ask who it is, and a platform_admin needs no tenant to ask.
  router.use(authenticate({ jwtSecret: s.config.jwtSecret, findTenant: s.tenants.find }), requireRole("admin", "member", "platform_admin"));
  router.get("/", (req, res) => {
    const auth = req.auth;
    // why: requireRole already refused these; the check narrows the type to a caller with a token.
    if (!auth || auth.role === "anonymous") throw new AppError("missing_token");
    const tenant = auth.tenant ? { id: auth.tenant.id, slug: auth.tenant.slug, name: auth.tenant.name } : null;
    res.json({ role: auth.role, user_id: auth.userId, tenant });
  });
  return router;
}
