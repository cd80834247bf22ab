import express, { Router } from "express";
import { z } from "zod";
import { AppError } from "../errors.ts";
import type { Services } from "../services.ts";
import { audit } from "./audit-actor.ts";
import { jsonBody } from "./json-body.ts";
import { tenantOf } from "./plugins-router.ts";

const NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
export const Body = z.object({ value: z.string().max(64 * 1024) });

/** /api/plugins/:id/secrets: write-only values, names and update times readable. */
export function secretsRouter(s: Services): Router {
  const router = Router({ mergeParams: true });
  const install = (req: express.Request) => s.installService.get(tenantOf(req), String(req.params.id));
  const name = (req: express.Request) => {
    const n = String(req.params.name);
    if (!NAME.test(n)) throw new AppError("invalid_request", "A secret name is letters, digits and _ (like API_KEY)", { name: n });
    return n;
  };

  router.get("/", async (req, res) => {
    const i = await install(req);
    res.json({ secrets: await s.secrets.list(i.id), declared: i.version.manifest.secrets });
  });
  router.put("/:name", jsonBody("128kb"), async (req, res) => {
    const n = name(req);
    const parsed = Body.safeParse(req.body);
    if (!parsed.success) throw new AppError("invalid_request", 'Send {"value": "<the secret>"}', parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })));
    const i = await install(req);
    await s.secrets.put(i.id, n, parsed.data.value);
    // The name only: the value must never reach the audit log.
    await audit(req, s, { action: "secret.set", install: i, target: { type: "secret", id: n }, details: { name: n } });
    res.status(204).end();
  });
  router.delete("/:name", async (req, res) => {
    const n = name(req);
    const i = await install(req);
    if (!(await s.secrets.delete(i.id, n))) throw new AppError("secret_not_found", `No secret ${n} is set`);
    await audit(req, s, { action: "secret.deleted", install: i, target: { type: "secret", id: n }, details: { name: n } });
    res.status(204).end();
  });
  return router;
}
