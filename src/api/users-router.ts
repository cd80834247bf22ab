import { Router } from "express";
import { z } from "zod";
import { authenticate, requireRole, requireTenant } from "../auth/authenticate.ts";
import { AppError } from "../errors.ts";
import type { Services } from "../services.ts";
import { jsonBody } from "./json-body.ts";
import { tenantOf } from "./plugins-router.ts";
import { zodDetails } from "./zod-details.ts";

export const NewUser = z.object({
  email: z.string().email().max(320),
  name: z.string().max(200).nullable().optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});
export const UserPatch = NewUser.partial().refine((v) => Object.keys(v).length > 0, "send at least one field");

type UserRow = { id: string; email: string; name: string | null; data: unknown; createdAt: Date; updatedAt: Date };
const view = (u: UserRow) => ({ id: u.id, email: u.email, name: u.name, data: u.data, created_at: u.createdAt.toISOString(), updated_at: u.updatedAt.toISOString() });

// A host change and its event are one transaction; waiting for PGlite's single connection counts.
const TX_OPTIONS = { maxWait: 30_000, timeout: 30_000 };

/**
 * The host's users: each change raises auth.user.created|updated|deleted with the user. The row and
 * the event commit together (or neither does), so a hook never misses a committed change and a
 * refused event leaves no change behind; the work is handed to the executor after the commit.
 */
export function usersRouter(s: Services): Router {
  const router = Router();
  const prisma = s.db.prisma;
  router.use(authenticate({ jwtSecret: s.config.jwtSecret, findTenant: s.tenants.find }), requireTenant);
  const json = jsonBody("64kb");
  const find = async (tenantId: string, id: string) => {
    const row = /^[0-9a-f-]{36}$/i.test(id) ? await prisma.user.findFirst({ where: { id, tenantId } }) : null;
    if (!row) throw new AppError("not_found", "No such user");
    return row;
  };
  const conflict = (err: { code?: string }) => {
    if (err.code === "P2002") throw new AppError("invalid_request", "A user with that email exists");
    throw err;
  };

  router.post("/", requireRole("admin"), json, async (req, res) => {
    const parsed = NewUser.safeParse(req.body);
    if (!parsed.success) throw new AppError("invalid_request", 'Send {"email", "name"?, "data"?}', zodDetails(parsed.error));
    const tenant = tenantOf(req);
    const { user, published, handOff } = await prisma
      .$transaction(async (tx) => {
        const user = await tx.user.create({ data: { tenantId: tenant.id, email: parsed.data.email, name: parsed.data.name ?? null, data: (parsed.data.data ?? {}) as object } });
        return { user, ...(await s.events.publishWithin(tx, tenant, { type: "auth.user.created", data: { user: view(user) }, source: "host" })) };
      }, TX_OPTIONS)
      .catch(conflict);
    await handOff();
    res.status(201).json({ user: view(user), event: { id: published.event.id, hooks: published.hookRuns.length } });
  });
  router.get("/", requireRole("admin", "member"), async (req, res) => {
    const rows = await prisma.user.findMany({ where: { tenantId: tenantOf(req).id }, orderBy: { createdAt: "asc" }, take: 500 });
    res.json({ users: rows.map(view) });
  });
  router.get("/:id", requireRole("admin", "member"), async (req, res) => {
    res.json({ user: view(await find(tenantOf(req).id, String(req.params.id))) });
  });
  router.patch("/:id", requireRole("admin"), json, async (req, res) => {
    const parsed = UserPatch.safeParse(req.body);
    if (!parsed.success) throw new AppError("invalid_request", "Send the fields to change", zodDetails(parsed.error));
    const tenant = tenantOf(req);
    const before = await find(tenant.id, String(req.params.id));
    const { data, ...rest } = parsed.data;
    const { user, published, handOff } = await prisma
      .$transaction(async (tx) => {
        const user = await tx.user.update({ where: { id: before.id }, data: { ...rest, ...(data ? { data: data as object } : {}) } });
        const event = { type: "auth.user.updated", data: { user: view(user), changes: Object.keys(parsed.data) }, source: "host" };
        return { user, ...(await s.events.publishWithin(tx, tenant, event)) };
      }, TX_OPTIONS)
      .catch(conflict);
    await handOff();
    res.json({ user: view(user), event: { id: published.event.id, hooks: published.hookRuns.length } });
  });
  router.delete("/:id", requireRole("admin"), async (req, res) => {
    const tenant = tenantOf(req);
    const user = await find(tenant.id, String(req.params.id));
    const { published, handOff } = await prisma.$transaction(async (tx) => {
      await tx.user.delete({ where: { id: user.id } });
      return s.events.publishWithin(tx, tenant, { type: "auth.user.deleted", data: { user: view(user) }, source: "host" });
    }, TX_OPTIONS);
    await handOff();
    res.json({ user: view(user), event: { id: published.event.id, hooks: published.hookRuns.length } });
  });
  return router;
}
