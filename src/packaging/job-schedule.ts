import cron from "node-cron";

// node-cron reads five fields (minute first) or six (second first). Five fields fire at most once
// a minute, and so do six whose seconds field is one fixed second ("30 */5 * * * *"). A repeating
// seconds field ("*", "*/5", "0,30", "0-59") fires several times a minute: every tick is a row, a
// queue entry and a sandbox call, so that much load from one tenant is for the operator to allow
// (PLUGIN_ALLOW_SECOND_SCHEDULES), not for a manifest to take.

/** Longer than any real schedule; keeps a hostile string out of the cron parser. */
export const MAX_SCHEDULE_LENGTH = 100;
const ONE_SECOND = /^\d{1,2}$/;

/** Why `expression` is not a schedule this platform runs, or undefined when it is one. */
export function scheduleProblem(expression: string, opts: { allowSecondSchedules: boolean }): string | undefined {
  if (expression.length > MAX_SCHEDULE_LENGTH) {
    return `is ${expression.length} characters long; a cron expression may have at most ${MAX_SCHEDULE_LENGTH}`;
  }
  if (!cron.validate(expression)) return "is not a valid cron expression (like 0 2 * * *)";
  if (opts.allowSecondSchedules) return undefined;
  // node-cron collapses runs of whitespace the same way before it counts the fields.
  const fields = expression.trim().split(/\s+/);
  if (fields.length === 6 && !ONE_SECOND.test(fields[0]!)) {
    return (
      `fires more often than once a minute (seconds field "${fields[0]}"); jobs may run at most once a minute: ` +
      `use five fields like "* * * * *", or one fixed second like "0 * * * * *"`
    );
  }
  return undefined;
}
