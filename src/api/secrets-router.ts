import express, { Router } from "express";
import { z } from "zod";
import { AppError } from "../errors.ts";
import { requiredSecrets } from "../packaging/manifest-schema.ts";
import type { Services } from "../services.ts";
import { audit } from "./audit-actor.ts";
import { jsonBody } from "./json-body.ts";
import { cascadeOptions, tenantOf } from "./plugins-router.ts";

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
    res.json({ secrets: await s.secrets.list(i.id), declared: i.version.manifest.secrets, required: requiredSecrets(i.version.manifest), missing: i.missing.secrets });
  });
  router.put("/:name", jsonBody("128kb"), async (req, res) => {
    const n = name(req);
    const parsed = Body.safeParse(req.body);
    if (!parsed.success) throw new AppError("invalid_request", 'Send {"value": "<the secret>"}', parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })));
    const i = await install(req);
    await s.secrets.put(i.id, n, parsed.data.value);
    // The name only: the value must never reach the audit log.
    await audit(req, s, { action: "secret.set", install: i, target: { type: "secret", id: n }, details: { name: n } });
    await enableIfConfigured(req, s, i.id);
    res.status(204).end();
  });
  // A required secret of an enabled install: it stops (needs_configuration); `?cascade=true` as on a disable.
  router.delete("/:name", async (req, res) => {
    const n = name(req);
    const i = await install(req);
    const { install: after, stopped } = await s.installService.deleteSecret(tenantOf(req), i.id, n, cascadeOptions(s, req));
    await audit(req, s, { action: "secret.deleted", install: i, target: { type: "secret", id: n }, details: { name: n, ...(stopped ? { status: after.status } : {}) } });
    res.status(204).end();
  });
  return router;
}

/** A needs_configuration install whose last missing value was just set enables itself; audited as an enable. */
export async function enableIfConfigured(req: express.Request, s: Services, installId: string): Promise<void> {
  const { install, enabled } = await s.installService.configurationChanged(tenantOf(req), installId);
  if (!enabled) return;
  await audit(req, s, { action: "plugin.enabled", install, details: { version: install.version.version, status: install.status, reason: "configured" } });
}
