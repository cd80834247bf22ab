// @ts-check
import { ApiError, api, seg } from "../api.js";
import { announce, badge, busy, duration, errorPanel, h, json, messageOf, replace, showError, table, time } from "../dom.js";
import { pollUntil } from "../poll.js";

const UNFINISHED = new Set(["queued", "running"]);

/** Jobs: schedule, next and last run, run-now with its result, and run history. @param {import("./plugin.js").Tab} tab */
export async function renderJobs({ plugin, panel, signal }) {
  const base = `/api/plugins/${seg(plugin.id)}/jobs`;
  const { jobs } = await api("GET", base);
  if (signal.aborted) return;
  if (jobs.length === 0) {
    replace(panel, h("h2", { id: "panel-title" }, "Jobs"), h("p", { class: "empty" }, "This plugin has no jobs."));
    return;
  }
  replace(panel, h("h2", { id: "panel-title" }, "Jobs"), jobs.map((/** @type {any} */ j) => jobCard(j)));

  /** @param {any} job */
  function jobCard(job) {
    const path = `${base}/${seg(job.name)}`;
    const titleId = `job-${job.name}`;
    const latest = h("div", { class: "run-result", "aria-live": "polite" });
    const history = h("div");
    const lastRun = h("dd", null, lastRunText(job.last_run));
    const run = /** @type {HTMLButtonElement} */ (h("button", { type: "button", class: "primary", "aria-label": `Run now: ${job.name}` }, "Run now"));
    run.addEventListener("click", () => busy(run, () => runNow(path, latest, history, lastRun)));
    const card = h(
      "section",
      { class: "card", "aria-labelledby": titleId },
      h("div", { class: "title-row" }, h("h3", { id: titleId }, job.name), run),
      h(
        "dl",
        { class: "facts" },
        h("dt", null, "Schedule"),
        h("dd", null, h("code", null, job.schedule), ` (${job.timezone})`),
        h("dt", null, "Next run"),
        h("dd", null, job.next_run ? time(job.next_run) : plugin.status === "enabled" ? "—" : "none while the plugin is not enabled"),
        h("dt", null, "Last run"),
        lastRun,
      ),
      latest,
      h("h4", null, "History"),
      history,
    );
    loadHistory(path, history).catch((err) => showError(history, err));
    return card;
  }

  /** @param {string} path @param {HTMLElement} latest @param {HTMLElement} history @param {HTMLElement} lastRun */
  async function runNow(path, latest, history, lastRun) {
    replace(latest, h("p", { class: "muted" }, "Starting…"));
    try {
      const { run } = await api("POST", `${path}/run-now`);
      replace(latest, h("p", { class: "muted" }, "Running…"));
      const final = await pollUntil(
        async () => (await api("GET", `${path}/runs/${seg(run.id)}`)).run,
        (r) => !UNFINISHED.has(r.status),
        { signal },
      );
      if (signal.aborted) return;
      if (UNFINISHED.has(final.status)) {
        replace(latest, h("p", null, "The run is still ", final.status, "; its outcome will be in the history."));
        return;
      }
      replace(latest, h("h4", null, "This run"), runDetail(final));
      replace(lastRun, lastRunText(final));
      announce(`Job run ${final.status}.`, final.status === "succeeded" ? "ok" : "error");
    } catch (err) {
      const running = err instanceof ApiError && err.code === "job_running";
      replace(latest, errorPanel(running ? "A run of this job is still going; wait for it to finish." : messageOf(err)));
      return;
    }
    await loadHistory(path, history).catch((err) => showError(history, err));
  }

  /** @param {string} path @param {HTMLElement} into */
  async function loadHistory(path, into) {
    const { runs } = await api("GET", `${path}/runs?limit=10`);
    if (signal.aborted) return;
    replace(
      into,
      table({
        caption: "Recent runs",
        hideCaption: true,
        head: ["Status", "Trigger", "Started", "Duration", "Outcome"],
        empty: "No runs yet.",
        rows: runs.map((/** @type {any} */ r) => [badge(r.status), r.trigger, time(r.started_at ?? r.created_at), duration(r.duration_ms), outcome(r)]),
      }),
    );
  }
}

/** @param {{ status: string, finished_at: string | null } | null} run */
function lastRunText(run) {
  return run ? [badge(run.status), " ", time(run.finished_at)] : h("span", { class: "muted" }, "never");
}

/** @param {any} r */
function outcome(r) {
  if (r.error) return h("details", null, h("summary", null, "Error"), h("pre", { class: "error-text" }, r.error));
  if (r.result !== null || (r.logs && r.logs.length)) return h("details", null, h("summary", null, "Result"), runDetail(r));
  return h("span", { class: "muted" }, "—");
}

/** @param {any} r */
function runDetail(r) {
  return h(
    "div",
    { class: "run-detail" },
    h("p", null, badge(r.status), r.duration_ms !== null ? ` in ${r.duration_ms} ms` : ""),
    r.error ? h("pre", { class: "error-text" }, r.error) : null,
    r.result !== null ? [h("p", { class: "small muted" }, "Result"), json(r.result)] : null,
    r.logs?.length ? [h("p", { class: "small muted" }, "Logs"), h("pre", { class: "logs" }, r.logs.map((/** @type {any} */ l) => (typeof l === "string" ? l : `${l.level ?? ""} ${l.message ?? JSON.stringify(l)}`)).join("\n"))] : null,
  );
}
