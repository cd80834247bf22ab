// @ts-check
import { ApiError, api } from "../api.js";
import { badge, busy, duration, errorPanel, field, h, json, messageOf, problemList, replace, setFieldError, showError, table, time } from "../dom.js";

/** #/events: recent events with each hook's outcome, a type filter, and a test event. @param {import("../main.js").Page} page */
export async function renderEvents({ main, signal }) {
  document.title = "Events · SBH admin";
  const list = h("div", { id: "event-list" });
  const filter = /** @type {HTMLInputElement} */ (h("input", { type: "search", name: "type", list: "event-types", spellcheck: "false", autocomplete: "off", placeholder: "e.g. auth.user.created" }));
  const types = h("datalist", { id: "event-types" });
  const apply = /** @type {HTMLButtonElement} */ (h("button", { type: "submit", class: "secondary" }, "Filter"));
  const refresh = () => load().catch((err) => showError(list, err));
  replace(
    main,
    h("h1", null, "Events"),
    testEventForm(refresh),
    h(
      "section",
      { "aria-labelledby": "recent-title" },
      h("h2", { id: "recent-title" }, "Recent events"),
      h(
        "form",
        {
          class: "toolbar",
          role: "search",
          onsubmit: (/** @type {SubmitEvent} */ e) => {
            e.preventDefault();
            void busy(apply, refresh);
          },
        },
        field({ id: "event-filter", label: "Event type", control: filter }),
        types,
        apply,
      ),
      list,
    ),
  );

  async function load() {
    const type = filter.value.trim();
    const { events } = await api("GET", `/api/events?limit=50${type ? `&type=${encodeURIComponent(type)}` : ""}`);
    if (signal.aborted) return;
    const seen = new Set([...types.querySelectorAll("option")].map((o) => o.getAttribute("value")));
    for (const e of events) {
      if (seen.has(e.type)) continue;
      seen.add(e.type);
      types.appendChild(h("option", { value: e.type }));
    }
    replace(
      list,
      table({
        caption: "Recent events",
        hideCaption: true,
        head: ["When", "Type", "Source", "Hooks", "Data"],
        empty: type ? `No ${type} events.` : "No events yet. Send a test event above.",
        rows: events.map((/** @type {any} */ e) => [time(e.occurred_at), h("code", null, e.type), e.source, hookSummary(e.hooks), h("details", null, h("summary", null, "Data"), json(e.data))]),
      }),
    );
  }
  await load();
}

/** @param {any[]} hooks */
function hookSummary(hooks) {
  if (!hooks.length) return h("span", { class: "muted" }, "none");
  return h("ul", { class: "plain" }, hooks.map((r) => h("li", null, h("code", null, r.plugin ?? r.install_id), " ", badge(r.status))));
}

/** @param {() => void} sent */
function testEventForm(sent) {
  const type = /** @type {HTMLInputElement} */ (h("input", { type: "text", name: "event_type", value: "auth.user.created", spellcheck: "false", autocomplete: "off", list: "event-types" }));
  const data = /** @type {HTMLTextAreaElement} */ (h("textarea", { name: "event_data", rows: 6, spellcheck: "false" }, JSON.stringify({ user: { id: "u_1", email: "ada@example.com" } }, null, 2)));
  const send = /** @type {HTMLButtonElement} */ (h("button", { type: "submit", class: "primary" }, "Send test event"));
  const outcome = h("div", { id: "test-event-outcome", "aria-live": "polite" });

  async function submit() {
    setFieldError(type, null);
    let payload = {};
    try {
      payload = data.value.trim() ? JSON.parse(data.value) : {};
      setFieldError(data, null);
    } catch (err) {
      setFieldError(data, `Not valid JSON: ${messageOf(err)}`);
      data.focus();
      return;
    }
    replace(outcome, h("p", { class: "muted" }, "Sent; waiting for every hook to finish…"));
    try {
      const answer = await api("POST", "/api/plugins/test-event?wait=true", { event_type: type.value, event_data: payload });
      replace(
        outcome,
        h("h3", null, "Outcome"),
        h("p", null, `Event `, h("code", null, answer.event.id), answer.complete ? "" : " (some hooks are still retrying)"),
        table({
          caption: "Hook outcomes",
          head: ["Plugin", "Status", "Attempts", "Duration", "Error"],
          empty: "No enabled plugin has a hook for this event.",
          rows: answer.hooks.map((/** @type {any} */ r) => [h("code", null, r.plugin), badge(r.status), `${r.attempts} / ${r.max_attempts}`, duration(r.duration_ms), r.error ? h("span", { class: "error-text" }, r.error) : "—"]),
        }),
        answer.deliveries.length ? h("p", null, `${answer.deliveries.length} webhook ${answer.deliveries.length === 1 ? "delivery" : "deliveries"} queued; follow them in the plugin's Webhooks tab.`) : null,
      );
      sent();
    } catch (err) {
      // The platform checks the event type; its problem is shown on the field it names.
      const details = err instanceof ApiError && Array.isArray(err.details) ? err.details : [];
      const onType = details.find((d) => d.path === "event_type");
      if (onType) {
        setFieldError(type, onType.message);
        type.focus();
      }
      replace(outcome, errorPanel(h("p", null, messageOf(err)), problemList(details)));
    }
  }

  return h(
    "form",
    {
      class: "card",
      "aria-labelledby": "test-event-title",
      novalidate: true,
      onsubmit: (/** @type {SubmitEvent} */ e) => {
        e.preventDefault();
        void busy(send, submit);
      },
    },
    h("h2", { id: "test-event-title" }, "Send a test event"),
    h("p", { class: "hint" }, "Fires the event at this tenant's plugins, as the host application would, and shows each hook's outcome."),
    field({ id: "test-event-type", label: "Event type", control: type }),
    field({ id: "test-event-data", label: "Event data (JSON)", control: data }),
    h("div", { class: "actions" }, send),
    outcome,
  );
}
