// @ts-check
import { api, seg } from "../api.js";
import { field, h, messageOf, replace } from "../dom.js";

const LEVELS = ["", "debug", "info", "warn", "error"];
const TAIL_EVERY_MS = 1500;
const KEEP_LINES = 1000;

/**
 * The plugin's log, oldest at the top, followed live: every 1.5 s the page asks for lines newer
 * than the last it has (`?after=`). Polling works the same whichever process wrote the line.
 * @param {import("./plugin.js").Tab} tab
 */
export async function renderLogs({ plugin, panel, signal }) {
  const base = `/api/plugins/${seg(plugin.id)}/logs`;
  const lines = h("ol", { class: "log-lines", role: "log", "aria-label": `Log of ${plugin.name}`, tabindex: 0 });
  const state = h("p", { class: "small muted", "aria-live": "off" });
  const level = /** @type {HTMLSelectElement} */ (h("select", { name: "level" }, LEVELS.map((l) => h("option", { value: l }, l || "all"))));
  // A toggle: its pressed state says whether the tail is paused; the label stays the same.
  const pause = /** @type {HTMLButtonElement} */ (h("button", { type: "button", class: "secondary", "aria-pressed": "false" }, "Pause"));
  let lastId = "0";
  let paused = false;
  let timer = 0;
  // Bumped by every reload: a tail answer that was asked for under the previous filter is dropped.
  let generation = 0;

  level.addEventListener("change", () => {
    reload().catch((err) => {
      state.textContent = `Could not load the log: ${messageOf(err)}`;
    });
  });
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    state.textContent = paused ? "Paused." : "Following new lines.";
  });
  signal.addEventListener("abort", () => clearTimeout(timer));

  replace(panel, h("h2", { id: "panel-title" }, "Logs"), h("div", { class: "toolbar" }, field({ id: "log-level", label: "Level", control: level }), pause), state, lines);

  const query = () => (level.value ? `&level=${level.value}` : "");

  async function reload() {
    const mine = ++generation;
    const { logs } = await api("GET", `${base}?limit=200${query()}`);
    if (signal.aborted || mine !== generation) return;
    replace(lines);
    lastId = logs.length ? logs[0].id : lastId;
    add(logs.reverse());
    if (!logs.length) state.textContent = "No log lines yet. New ones appear here as they are written.";
    else state.textContent = "Following new lines.";
  }

  /** @param {any[]} logs oldest first */
  function add(logs) {
    const stick = lines.scrollTop + lines.clientHeight >= lines.scrollHeight - 8;
    for (const l of logs) {
      lines.appendChild(
        h(
          "li",
          { class: `log log-${l.level}` },
          h("time", { datetime: l.at }, new Date(l.at).toLocaleTimeString()),
          h("span", { class: "level" }, l.level),
          h("span", { class: "message" }, l.message),
          l.fields && Object.keys(l.fields).length ? h("code", { class: "fields" }, JSON.stringify(l.fields)) : null,
          l.invocation ? h("span", { class: "via small muted" }, `${l.invocation.kind} ${l.invocation.name}`) : null,
        ),
      );
      lastId = l.id;
    }
    while (lines.childElementCount > KEEP_LINES) lines.firstElementChild?.remove();
    if (stick) lines.scrollTop = lines.scrollHeight;
  }

  async function tail() {
    if (signal.aborted) return;
    if (!paused) {
      try {
        const asked = generation;
        const { logs } = await api("GET", `${base}?after=${lastId}&limit=500${query()}`);
        if (signal.aborted) return;
        if (asked !== generation) logs.length = 0;
        if (logs.length) {
          if (lines.querySelector(".log") === null) state.textContent = "Following new lines.";
          add(logs);
        }
      } catch (err) {
        state.textContent = `Could not fetch new lines: ${messageOf(err)}. Retrying.`;
      }
    }
    timer = window.setTimeout(tail, TAIL_EVERY_MS);
  }

  await reload();
  timer = window.setTimeout(tail, TAIL_EVERY_MS);
}
