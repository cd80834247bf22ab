import { createTask } from "node-cron";

/** When a cron pattern fires next, in its time zone (computed, not read from a live task). */
export function nextRun(pattern: string, timezone = "UTC"): Date | null {
  const task = createTask(pattern, () => undefined, { timezone });
  try {
    return task.getNextRuns(1)[0] ?? null;
  } catch {
    return null;
  } finally {
    void task.destroy();
  }
}
