import { Router } from "express";
import multer from "multer";
import { authenticate, requireRole, requireTenant } from "../auth/authenticate.ts";
import { AppError } from "../errors.ts";
import type { Published } from "../events/event-service.ts";
import type { Services } from "../services.ts";
import { tenantOf } from "./plugins-router.ts";

const MAX_FILE_BYTES = 25 * 1024 * 1024;

/**
 * The host's tenant files: upload raises files.uploaded, delete files.deleted. Members may read.
 * The file's row and its event commit in one transaction (or neither does); the work is handed to
 * the executor after the commit.
 */
export function filesRouter(s: Services): Router {
  const router = Router();
  router.use(authenticate({ jwtSecret: s.config.jwtSecret, findTenant: s.tenants.find }), requireTenant);
  const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: MAX_FILE_BYTES, files: 1, fields: 5 } });

  router.post(
    "/",
    requireRole("admin"),
    (req, res, next) =>
      upload.single("file")(req, res, (err?: unknown) => {
        if (err instanceof multer.MulterError && err.code === "LIMIT_FILE_SIZE") next(new AppError("payload_too_large", `Files are at most ${MAX_FILE_BYTES} bytes`));
        else if (err instanceof multer.MulterError) next(new AppError("invalid_request", err.message));
        else next(err);
      }),
    async (req, res) => {
      if (!req.file) throw new AppError("missing_file", "Send the file in the multipart field `file`");
      const tenant = tenantOf(req);
      const logical = typeof req.body?.path === "string" && req.body.path ? req.body.path : req.file.originalname;
      let event: { published: Published; handOff(): Promise<void> } | undefined;
      const { file, created } = await s.files.put(tenant.id, logical, req.file.buffer, req.file.mimetype || "application/octet-stream", {
        inTransaction: async (tx, written) => {
          event = await s.events.publishWithin(tx, tenant, { type: "files.uploaded", data: { file: written.file, replaced: !written.created }, source: "host" });
        },
      });
      await event!.handOff();
      res.status(created ? 201 : 200).json({ file, event: { id: event!.published.event.id } });
    },
  );
  router.get("/", requireRole("admin", "member"), async (req, res) => {
    res.json({ files: await s.files.list(tenantOf(req).id, typeof req.query.prefix === "string" ? req.query.prefix : "") });
  });
  router.get("/:id", requireRole("admin", "member"), async (req, res) => {
    res.json({ file: await s.files.get(tenantOf(req).id, String(req.params.id)) });
  });
  router.get("/:id/content", requireRole("admin", "member"), async (req, res) => {
    const tenant = tenantOf(req);
    const file = await s.files.get(tenant.id, String(req.params.id));
    // Stored types come from users and plugins: never let a browser render one on this origin.
    res
      .type(file.content_type)
      .set({ "X-Content-Type-Options": "nosniff", "Content-Disposition": "attachment", "Content-Security-Policy": "sandbox" })
      .send(await s.files.content(tenant.id, file.id));
  });
  router.delete("/:id", requireRole("admin"), async (req, res) => {
    const tenant = tenantOf(req);
    let event: { published: Published; handOff(): Promise<void> } | undefined;
    const file = await s.files.delete(tenant.id, String(req.params.id), {
      inTransaction: async (tx, removed) => {
        event = await s.events.publishWithin(tx, tenant, { type: "files.deleted", data: { file: removed }, source: "host" });
      },
    });
    await event!.handOff();
    res.json({ file, event: { id: event!.published.event.id } });
  });
  return router;
}
