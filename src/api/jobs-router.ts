import { Router, type Request } from "express";
import { AppError } from "../errors.ts";
import { jobRunView } from "../jobs/job-service.ts";
import { nextRun } from "../jobs/next-run.ts";
import type { Services } from "../services.ts";
import { audit } from "./audit-actor.ts";
import { tenantOf } from "./plugins-router.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** /api/plugins/:id/jobs: schedules with next and last run, run-now, run history. */
export function jobsRouter(s: Services): Router {
  const router = Router({ mergeParams: true });
  const prisma = s.db.prisma;
  const install = (req: Request) => s.installService.get(tenantOf(req), String(req.params.id));
  const declared = async (req: Request) => {
    const i = await install(req);
    const name = String(req.params.name);
    const job = i.version.manifest.jobs.find((j) => j.name === name);
    if (!job) throw new AppError("job_not_found", `Plugin "${i.slug}" has no job "${name}"`);
    return { install: i, job };
  };

  router.get("/", async (req, res) => {
    const i = await install(req);
    const jobs = await Promise.all(
      i.version.manifest.jobs.map(async (j) => {
        const last = await prisma.jobRun.findFirst({ where: { installId: i.id, jobName: j.name }, orderBy: { createdAt: "desc" } });
        const tz = j.timezone ?? "UTC";
        return {
          name: j.name,
          schedule: j.schedule,
          timezone: tz,
          next_run: i.status === "enabled" ? (nextRun(j.schedule, tz)?.toISOString() ?? null) : null,
          last_run: last ? { id: last.id, status: last.status, trigger: last.trigger, finished_at: last.finishedAt?.toISOString() ?? null } : null,
        };
      }),
    );
    res.json({ jobs });
  });

  router.post("/:name/run-now", async (req, res) => {
    const { install: i, job } = await declared(req);
    const { run, started } = await s.jobs.trigger(i, job.name, "manual");
    if (!started) throw new AppError("job_running", run.error ?? undefined, { run: jobRunView(run) });
    await audit(req, s, { action: "job.run_now", install: i, target: { type: "job", id: job.name }, details: { job: job.name, run_id: run.id } });
    res.status(202).json({ run: { id: run.id, status: run.status } });
  });

  router.get("/:name/runs", async (req, res) => {
    const { install: i, job } = await declared(req);
    const limit = Math.min(100, Math.max(1, Number(req.query.limit ?? 20) || 20));
    const before = req.query.before === undefined ? undefined : String(req.query.before);
    if (before !== undefined && Number.isNaN(Date.parse(before))) throw new AppError("invalid_request", "before must be a created_at time from a previous page");
    const rows = await prisma.jobRun.findMany({
      where: { installId: i.id, jobName: job.name, ...(before ? { createdAt: { lt: new Date(before) } } : {}) },
      orderBy: { createdAt: "desc" },
      take: limit,
    });
    res.json({ runs: rows.map(jobRunView), next_before: rows.length === limit ? rows[rows.length - 1].createdAt.toISOString() : null });
  });

  router.get("/:name/runs/:runId", async (req, res) => {
    const { install: i, job } = await declared(req);
    const runId = String(req.params.runId);
    const row = UUID.test(runId) ? await prisma.jobRun.findFirst({ where: { id: runId, installId: i.id, jobName: job.name } }) : null;
    if (!row) throw new AppError("not_found", "No such run");
    res.json({ run: jobRunView(row) });
  });
  return router;
}
