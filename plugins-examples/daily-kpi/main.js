import { HttpError, job, route } from "@sbh/sdk";
import { countRows } from "./counting.js";

const REPORTS = "reports/kpi-";

job("daily_kpi", async (ctx, run) => {
  const at = run.scheduled_for ? new Date(run.scheduled_for) : new Date();
  const date = at.toISOString().slice(0, 10);
  const dayBefore = new Date(at.getTime() - 24 * 3600 * 1000).toISOString();

  const users = await countRows(ctx, "users");
  const newUsers = await countRows(ctx, "users", { created_at: { $gte: dayBefore } });
  // why: the job's own reports live in the same storage; they are not the tenant's content.
  const files = (await ctx.files.list()).filter((f) => !f.path.startsWith(REPORTS));

  const kpi = {
    date,
    users: users.count,
    new_users_24h: newUsers.count,
    files: files.length,
    file_bytes: files.reduce((sum, f) => sum + f.size, 0),
    complete: users.complete && newUsers.complete,
    computed_at: new Date().toISOString(),
    trigger: run.trigger,
  };

  // One row per day: a second run the same day (run-now, a retry) replaces the numbers.
  const [existing] = await ctx.db.query("kpis", { date }, { limit: 1 });
  const row = existing ? await ctx.db.update("kpis", existing.id, kpi) : await ctx.db.insert("kpis", kpi);

  const report = `${REPORTS}${date}.json`;
  await ctx.files.upload(report, JSON.stringify(kpi, null, 2), { content_type: "application/json" });
  await ctx.emit("kpi.computed", { ...kpi, report });
  ctx.log.info("KPIs computed", { date, users: kpi.users, files: kpi.files });
  return { ...kpi, id: row.id, report };
});

// GET /ext/daily-kpi/latest → the newest day's row
route("/latest", async (ctx) => {
  const [latest] = await ctx.db.query("kpis", {}, { limit: 1, order_by: "-date" });
  if (!latest) throw new HttpError(404, "No KPIs yet: the daily_kpi job has not run");
  return latest;
});
