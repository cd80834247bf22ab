import { Router, type Request } from "express";
import multer from "multer";
import { authenticate, requireRole, requireTenant } from "../auth/authenticate.ts";
import { AppError } from "../errors.ts";
import type { CascadeDisabled, CascadeOptions } from "../plugins/dependency-guard.ts";
import { pluginView } from "../plugins/plugin-view.ts";
import type { Services } from "../services.ts";
import { audit } from "./audit-actor.ts";
import { deliveriesRouter } from "./deliveries-router.ts";
import { emailsRouter } from "./emails-router.ts";
import { usageRouter } from "./usage-router.ts";
import { jobsRouter } from "./jobs-router.ts";
import { jsonBody } from "./json-body.ts";
import { pluginLogsHandler } from "./plugin-logs.ts";
import { enableIfConfigured, secretsRouter } from "./secrets-router.ts";
import { testEventHandler } from "./test-event.ts";

/** Tenant admins' plugin API under /api/plugins. Members get 403. */
export function pluginsRouter(s: Services): Router {
  const router = Router();
  const cascadeOf = (req: Request) => cascadeOptions(s, req);
  router.use(authenticate({ jwtSecret: s.config.jwtSecret, findTenant: s.tenants.find }), requireRole("admin"), requireTenant);

  const upload = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: s.config.upload.maxBytes, files: 1, fields: 10, fieldSize: 64 * 1024 },
  });
  router.post("/upload", (req, res, next) => upload.single("file")(req, res, (err?: unknown) => next(multerError(err))), async (req, res) => {
    if (!req.file) throw new AppError("missing_file");
    const result = await s.upload(tenantOf(req), req.file.buffer, cascadeOf(req));
    s.logger.info({ tenant: tenantOf(req).slug, plugin: result.install.slug, version: result.install.version.version, created: result.created }, "plugin uploaded");
    const version = result.install.version.version;
    await audit(req, s, result.created
      ? { action: "plugin.installed", install: result.install, details: { version } }
      : { action: "plugin.upgraded", install: result.install, details: { version, previous_version: result.previousVersion ?? null } });
    if (result.created) res.status(201).json({ plugin: pluginView(result.install) });
    else res.status(200).json({ plugin: pluginView(result.install), previous_version: result.previousVersion });
  });

  router.post("/test-event", jsonBody("512kb"), testEventHandler(s));
  router.get("/", async (req, res) => {
    const installs = await s.installs.list(tenantOf(req));
    res.json({ plugins: installs.map(pluginView) });
  });
  router.get("/:id", async (req, res) => {
    res.json({ plugin: pluginView(await s.installService.get(tenantOf(req), String(req.params.id))) });
  });
  router.post("/:id/enable", async (req, res) => {
    const install = await s.installService.setStatus(tenantOf(req), String(req.params.id), "enabled");
    // status "failed" when onEnable threw: the admin still enabled it, and the entry says how it went.
    await audit(req, s, { action: "plugin.enabled", install, details: { version: install.version.version, status: install.status } });
    res.json({ plugin: pluginView(install) });
  });
  router.post("/:id/disable", async (req, res) => {
    const install = await s.installService.setStatus(tenantOf(req), String(req.params.id), "disabled", cascadeOf(req));
    await audit(req, s, { action: "plugin.disabled", install, details: { version: install.version.version } });
    res.json({ plugin: pluginView(install) });
  });
  router.post("/:id/rollback", async (req, res) => {
    const { install, from } = await s.installService.rollback(tenantOf(req), String(req.params.id), cascadeOf(req));
    await audit(req, s, { action: "plugin.rolled_back", install, details: { from, to: install.version.version } });
    res.json({ plugin: pluginView(install), rolled_back_from: from });
  });
  router.delete("/:id", async (req, res) => {
    const purge = flag(req, "purge");
    const removed = await s.installService.uninstall(tenantOf(req), String(req.params.id), { purge, ...cascadeOf(req) });
    await audit(req, s, { action: "plugin.uninstalled", install: removed, details: { version: removed.version.version, purge } });
    res.status(204).end();
  });
  router.get("/:id/config", async (req, res) => {
    const install = await s.installService.get(tenantOf(req), String(req.params.id));
    res.json({ config: install.config, configuration: install.version.manifest.configuration });
  });
  router.put("/:id/config", jsonBody("256kb"), async (req, res) => {
    const before = await s.installService.get(tenantOf(req), String(req.params.id));
    const install = await s.installService.setConfig(tenantOf(req), before.id, req.body);
    // Config values are not secret, so the entry keeps the whole new config and which keys changed.
    const changed = [...new Set([...Object.keys(before.config), ...Object.keys(install.config)])]
      .filter((k) => JSON.stringify(before.config[k]) !== JSON.stringify(install.config[k]))
      .sort();
    await audit(req, s, { action: "config.changed", install, details: { config: install.config, changed } });
    await enableIfConfigured(req, s, install.id);
    res.json({ config: install.config });
  });
  router.get("/:id/logs", pluginLogsHandler(s));

  router.use("/:id/secrets", secretsRouter(s));
  router.use("/:id/jobs", jobsRouter(s));
  router.use("/:id/deliveries", deliveriesRouter(s));
  router.use("/:id/usage", usageRouter(s));
  router.use("/:id/emails", emailsRouter(s));
  return router;
}

// `?cascade=true` on disable, uninstall, rollback, upload and a required secret's delete: enabled
// plugins that depend on the one changed are disabled first (dependents of dependents too), each
// audited with its reason, as it happens, so the entries stay even if the change itself then fails.
export function cascadeOptions(s: Services, req: Request): CascadeOptions {
  const cascade = flag(req, "cascade");
  return {
    cascade,
    onDisabled: async (d: CascadeDisabled) => {
      s.logger.info({ tenant: tenantOf(req).slug, plugin: d.install.slug, cause: d.cause }, "dependent plugin disabled by cascade");
      await audit(req, s, {
        action: "plugin.disabled",
        install: d.install,
        details: { version: d.install.version.version, cascade_from: d.cause, requires: d.requires, range: d.range, reason: d.reason },
      });
    },
  };
}

export function tenantOf(req: Request): { id: string; slug: string; name: string } {
  return req.auth!.tenant!;
}

/** A true/false query parameter (absent: false); anything else is a 400. */
function flag(req: Request, name: string): boolean {
  const value = req.query[name];
  if (value === undefined) return false;
  if (value !== "true" && value !== "false") throw new AppError("invalid_request", `${name} must be true or false`);
  return value === "true";
}

// multer's own errors carry codes like LIMIT_FILE_SIZE; turn them into the registry's.
function multerError(err: unknown): unknown {
  if (!(err instanceof multer.MulterError)) return err;
  if (err.code === "LIMIT_FILE_SIZE") return new AppError("payload_too_large", "The plugin ZIP is larger than the upload limit");
  if (err.code === "LIMIT_UNEXPECTED_FILE") return new AppError("missing_file", `Send exactly one file, in the multipart field \`file\` (got "${err.field}")`);
  return new AppError("invalid_request", err.message);
}
