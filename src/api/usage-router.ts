import { Router, type Request } from "express";
import { z } from "zod";
import { dbUsage } from "../capabilities/db-quota.ts";
import { quotasOf } from "../capabilities/quotas.ts";
import { AppError } from "../errors.ts";
import type { ActiveInstall } from "../plugins/active-install.ts";
import type { Services } from "../services.ts";
import { tenantOf } from "./plugins-router.ts";
import { zodDetails } from "./zod-details.ts";

export const Query = z.strictObject({ days: z.coerce.number().int().min(1).max(366).default(30) });

/** /api/plugins/:id/usage: the install's ctx calls by method and outcome, route calls by outcome, and LLM tokens, per day. */
export function usageRouter(s: Services): Router {
  const router = Router({ mergeParams: true });
  router.get("/", async (req: Request<{ id: string }>, res) => {
    const install = await s.installService.get(tenantOf(req), String(req.params.id));
    const parsed = Query.safeParse(req.query);
    if (!parsed.success) throw new AppError("invalid_request", "Bad query parameters", zodDetails(parsed.error));
    await s.usage.flush();
    const since = new Date(Date.now() - (parsed.data.days - 1) * 86_400_000).toISOString().slice(0, 10);
    const rows = await s.db.sql.query<{ day: string; metric: string; value: string | number }>(
      `SELECT to_char(day, 'YYYY-MM-DD') AS day, metric, value FROM usage_counters
       WHERE install_id = $1::uuid AND day >= $2::date ORDER BY day DESC, metric`,
      [install.id, since],
    );
    const totals: Record<string, number> = {};
    for (const r of rows) totals[r.metric] = (totals[r.metric] ?? 0) + Number(r.value);
    res.json({ usage: rows.map((r) => ({ day: r.day, metric: r.metric, value: Number(r.value) })), totals, quotas: await quotasNow(s, install) });
  });
  return router;
}

/** Where the install stands against each storage quota (resources.max_db_documents, …), now. */
async function quotasNow(s: Services, install: ActiveInstall) {
  const limits = quotasOf(install.version.manifest.resources, s.config.limits);
  const [db, files] = await Promise.all([dbUsage(s.db.sql, install.tenantId, install.slug), s.files.usage(install.tenantId, install.id)]);
  return {
    db_documents: { used: db.documents, limit: limits.dbDocuments },
    db_bytes: { used: db.bytes, limit: limits.dbBytes },
    files: { used: files.files, limit: limits.files },
    file_bytes: { used: files.bytes, limit: limits.fileBytes },
  };
}
