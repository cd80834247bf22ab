import type { RequestHandler } from "express";
import { AppError } from "../errors.ts";
import type { Services } from "../services.ts";
import { tenantOf } from "./plugins-router.ts";

/** GET /api/plugins/:id/logs?limit=100&before=<id>&level=error — newest first. */
export function pluginLogsHandler(s: Services): RequestHandler {
  return async (req, res) => {
    const install = await s.installService.get(tenantOf(req), String(req.params.id));
    const limit = Math.min(500, Math.max(1, Number(req.query.limit ?? 100) || 100));
    const before = req.query.before === undefined ? undefined : String(req.query.before);
    if (before !== undefined && !/^\d{1,18}$/.test(before)) throw new AppError("invalid_request", "before must be a log id");
    const level = req.query.level === undefined ? undefined : String(req.query.level);
    await s.recorder.flush();
    const rows = await s.db.prisma.pluginLog.findMany({
      where: { installId: install.id, ...(before ? { id: { lt: BigInt(before) } } : {}), ...(level ? { level } : {}) },
      orderBy: { id: "desc" },
      take: limit,
      include: { invocation: { select: { id: true, kind: true, name: true, status: true } } },
    });
    res.json({
      logs: rows.map((r) => ({
        id: r.id.toString(),
        level: r.level,
        message: r.message,
        fields: r.fields,
        at: r.createdAt.toISOString(),
        invocation: r.invocation,
      })),
      next_before: rows.length === limit ? rows[rows.length - 1].id.toString() : null,
    });
  };
}
