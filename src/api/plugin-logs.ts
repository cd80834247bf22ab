import type { RequestHandler } from "express";
import { AppError } from "../errors.ts";
import type { Services } from "../services.ts";
import { tenantOf } from "./plugins-router.ts";

const LOG_ID = /^\d{1,18}$/;

/**
 * GET /api/plugins/:id/logs?limit=100&before=<id>&level=error — newest first; with
 * `after=<id>` instead of `before`, the lines newer than that id, oldest first (a live tail).
 */
export function pluginLogsHandler(s: Services): RequestHandler {
  return async (req, res) => {
    const install = await s.installService.get(tenantOf(req), String(req.params.id));
    const limit = Math.min(500, Math.max(1, Number(req.query.limit ?? 100) || 100));
    const before = logId(req.query.before, "before");
    const after = logId(req.query.after, "after");
    // why: a window between two ids would need its own order and cursor; nobody needs it yet.
    if (before !== undefined && after !== undefined) throw new AppError("invalid_request", "Send before or after, not both");
    const level = req.query.level === undefined ? undefined : String(req.query.level);
    await s.recorder.flush();
    const idFilter = before !== undefined ? { id: { lt: before } } : after !== undefined ? { id: { gt: after } } : {};
    const rows = await s.db.prisma.pluginLog.findMany({
      where: { installId: install.id, ...idFilter, ...(level ? { level } : {}) },
      // A tail reads forward from the last line it saw, so that a page cut by `limit` leaves no gap.
      orderBy: { id: after !== undefined ? "asc" : "desc" },
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
      // A tail's next call passes its newest line's id as `after`; older pages are not its business.
      next_before: after === undefined && rows.length === limit ? rows[rows.length - 1].id.toString() : null,
    });
  };
}

function logId(value: unknown, name: string): bigint | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  if (!LOG_ID.test(text)) throw new AppError("invalid_request", `${name} must be a log id`);
  return BigInt(text);
}
