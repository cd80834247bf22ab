// @ts-check
import { ApiError, api, seg } from "../api.js";
import { announce, badge, busy, duration, errorPanel, field, h, json, messageOf, replace, showError, table, time } from "../dom.js";
import { pollUntil } from "../poll.js";

const STATUSES = ["", "pending", "delivered", "failed", "skipped"];

/** Webhook deliveries, newest first, filtered by status. @param {import("./plugin.js").Tab} tab */
export async function renderDeliveries({ plugin, panel, signal }) {
  const base = `#/plugins/${seg(plugin.id)}/deliveries`;
  const list = h("div");
  const status = /** @type {HTMLSelectElement} */ (h("select", { name: "status" }, STATUSES.map((s) => h("option", { value: s }, s || "any"))));
  const refresh = () => load().catch((err) => showError(list, err));
  status.addEventListener("change", refresh);
  const refreshButton = /** @type {HTMLButtonElement} */ (h("button", { type: "button", class: "secondary" }, "Refresh"));
  refreshButton.addEventListener("click", () => busy(refreshButton, refresh));
  replace(
    panel,
    h("h2", { id: "panel-title" }, "Webhook deliveries"),
    h("div", { class: "toolbar" }, field({ id: "delivery-status", label: "Status", control: status }), refreshButton),
    list,
  );

  async function load() {
    const q = status.value ? `?status=${status.value}` : "";
    const { deliveries } = await api("GET", `/api/plugins/${seg(plugin.id)}/deliveries${q}`);
    if (signal.aborted) return;
    replace(
      list,
      table({
        caption: "Webhook deliveries",
        hideCaption: true,
        head: ["Delivery", "Webhook", "Event", "Status", "Attempts", "Last answer", "Created"],
        empty: status.value ? `No ${status.value} deliveries.` : "No deliveries yet. They appear when an event a webhook listens to happens.",
        rows: deliveries.map((/** @type {any} */ d) => [
          h("a", { href: `${base}/${seg(d.id)}`, "aria-label": `Delivery ${d.id}` }, h("code", null, d.id.slice(0, 8))),
          d.webhook,
          h("code", null, d.event_type),
          badge(d.status),
          `${d.attempts} / ${d.max_attempts}`,
          d.last_status_code ?? (d.error ? h("span", { class: "error-text small" }, d.error) : "—"),
          time(d.created_at),
        ]),
      }),
    );
  }
  await load();
}

/** One delivery: its payload, every attempt, and replay. @param {import("./plugin.js").Tab} tab @param {string} id */
export async function renderDelivery({ plugin, panel, signal }, id) {
  const path = `/api/plugins/${seg(plugin.id)}/deliveries/${seg(id)}`;
  const body = h("div");
  const replay = /** @type {HTMLButtonElement} */ (h("button", { type: "button", class: "primary" }, "Replay"));
  const result = h("div", { "aria-live": "polite" });
  replay.addEventListener("click", () => busy(replay, doReplay));
  replace(
    panel,
    h("p", { class: "crumbs" }, h("a", { href: `#/plugins/${seg(plugin.id)}/deliveries` }, "Deliveries"), " / ", h("code", null, id)),
    h("div", { class: "title-row" }, h("h2", { id: "panel-title" }, "Delivery"), replay),
    h("p", { class: "hint" }, "Replay sends the same body with the same webhook-id again, as a fresh round of attempts."),
    result,
    body,
  );

  /** @param {any} answer */
  function show({ delivery: d, attempts }) {
    replay.disabled = d.status === "pending";
    replace(
      body,
      h(
        "dl",
        { class: "facts" },
        h("dt", null, "Status"),
        h("dd", { id: "delivery-status-value" }, badge(d.status)),
        h("dt", null, "Webhook"),
        h("dd", null, d.webhook),
        h("dt", null, "Event"),
        h("dd", null, h("code", null, d.event_type), " ", h("code", { class: "small muted" }, d.event_id)),
        h("dt", null, "Attempts"),
        h("dd", null, `${d.attempts} of ${d.max_attempts}`),
        d.next_attempt_at ? [h("dt", null, "Next attempt"), h("dd", null, time(d.next_attempt_at))] : null,
        d.error ? [h("dt", null, "Error"), h("dd", { class: "error-text" }, d.error)] : null,
      ),
      h("h3", null, "Attempts"),
      table({
        caption: "Attempts",
        hideCaption: true,
        head: ["#", "Started", "Answer", "Duration", "Response"],
        empty: "No attempt yet.",
        rows: attempts.map((/** @type {any} */ a) => [
          String(a.attempt),
          time(a.started_at),
          a.status_code ? h("span", { class: a.status_code < 300 ? "ok-text" : "error-text" }, `HTTP ${a.status_code}`, a.error ? ` · ${a.error}` : "") : h("span", { class: "error-text" }, a.error ?? "—"),
          duration(a.duration_ms),
          a.response ? h("details", null, h("summary", null, "Body"), h("pre", null, a.response)) : "—",
        ]),
      }),
      h("h3", null, "Payload"),
      json(d.payload),
    );
  }

  async function load() {
    return api("GET", path);
  }

  async function doReplay() {
    try {
      await api("POST", `${path}/retry`);
      replace(result, h("p", { class: "muted" }, "Replaying…"));
      const answer = await pollUntil(load, (a) => a.delivery.status !== "pending", { signal });
      if (signal.aborted) return;
      show(answer);
      const status = answer.delivery.status;
      if (status === "pending") {
        replace(result, h("p", null, "The replay is still being attempted; its attempts appear below as they happen."));
        return;
      }
      replace(result, h("p", { class: status === "delivered" ? "success" : "error-text" }, `Replay ${status}.`));
      announce(`Replay ${status}.`, status === "delivered" ? "ok" : "error");
    } catch (err) {
      const pending = err instanceof ApiError && err.code === "delivery_pending";
      replace(result, errorPanel(pending ? "This delivery is still being attempted; replay it once it has finished." : messageOf(err)));
    }
  }

  const first = await load();
  if (!signal.aborted) show(first);
}
