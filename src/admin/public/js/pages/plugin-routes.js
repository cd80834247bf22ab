// @ts-check
import { authHeaders } from "../api.js";
import { busy, errorPanel, field, h, messageOf, replace, setFieldError, table } from "../dom.js";

const WITH_BODY = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The plugin's routes, and a "try it" form that calls one with your token. @param {import("./plugin.js").Tab} tab */
export function renderRoutes({ plugin, panel, tenant }) {
  if (plugin.routes.length === 0) {
    replace(panel, h("h2", { id: "panel-title" }, "Routes"), h("p", { class: "empty" }, "This plugin has no routes."));
    return;
  }
  const method = /** @type {HTMLSelectElement} */ (h("select", { name: "method" }));
  const path = /** @type {HTMLInputElement} */ (h("input", { type: "text", name: "path", spellcheck: "false", autocomplete: "off" }));
  const body = /** @type {HTMLTextAreaElement} */ (h("textarea", { name: "body", rows: 5, spellcheck: "false", placeholder: '{"key": "value"}' }));
  const sendToken = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", id: "try-token", checked: true }));
  const send = /** @type {HTMLButtonElement} */ (h("button", { type: "submit", class: "primary" }, "Send"));
  const answer = h("div", { id: "try-answer", "aria-live": "polite" });

  /** @param {any} route */
  const pick = (route) => {
    replace(method, route.methods.map((/** @type {string} */ m) => h("option", { value: m }, m)));
    path.value = route.path;
    sendToken.checked = route.auth !== "public";
    path.focus();
    // Put the caret on the first `:param`, the part that needs filling in.
    const at = route.path.indexOf(":");
    if (at >= 0) path.setSelectionRange(at, route.path.indexOf("/", at) === -1 ? route.path.length : route.path.indexOf("/", at));
  };

  const form = h(
    "form",
    {
      class: "card",
      "aria-labelledby": "try-title",
      novalidate: true,
      onsubmit: (/** @type {SubmitEvent} */ e) => {
        e.preventDefault();
        void busy(send, call);
      },
    },
    h("h3", { id: "try-title" }, "Try it"),
    h("div", { class: "row" }, field({ id: "try-method", label: "Method", control: method }), field({ id: "try-path", label: "Path", control: path, hint: "Replace :params with values; add ?query as needed." })),
    field({ id: "try-body", label: "JSON body (POST, PUT, PATCH, DELETE)", control: body }),
    h("p", null, h("label", { class: "check", for: "try-token" }, sendToken, " Send my admin token")),
    h("div", { class: "actions" }, send),
    answer,
  );

  replace(
    panel,
    h("h2", { id: "panel-title" }, "Routes"),
    table({
      caption: "Routes",
      hideCaption: true,
      head: ["Path", "Methods", "Who may call", ""],
      empty: "",
      rows: plugin.routes.map((/** @type {any} */ r) => [
        h("code", null, r.path),
        r.methods.join(", "),
        r.auth,
        h("button", { type: "button", class: "secondary", "aria-label": `Try it: ${r.path}`, onclick: () => pick(r) }, "Try it"),
      ]),
    }),
    form,
  );
  pick(plugin.routes[0]);

  async function call() {
    setFieldError(path, null);
    setFieldError(body, null);
    // Resolved as the browser will send it, so /ext/<slug>/../../api/… cannot pass for a route.
    const target = new URL(path.value, location.origin);
    const prefix = `/ext/${plugin.slug}`;
    if (target.origin !== location.origin || (target.pathname !== prefix && !target.pathname.startsWith(`${prefix}/`))) {
      setFieldError(path, `The path must start with ${prefix}/.`);
      path.focus();
      return;
    }
    // Without a token the tenant is named by header, as a public caller would.
    /** @type {Record<string, string>} */
    const headers = sendToken.checked ? authHeaders() : { "x-tenant-slug": tenant };
    // Never followed: a redirect would carry the admin's token to wherever it leads.
    /** @type {RequestInit} */
    const init = { method: method.value, headers, redirect: "manual" };
    if (WITH_BODY.has(method.value) && body.value.trim() !== "") {
      try {
        JSON.parse(body.value);
      } catch (err) {
        setFieldError(body, `Not valid JSON: ${messageOf(err)}`);
        body.focus();
        return;
      }
      headers["content-type"] = "application/json";
      init.body = body.value;
    }
    const started = performance.now();
    try {
      const res = await fetch(target.pathname + target.search, init);
      if (res.type === "opaqueredirect") {
        // The browser hides a redirect's status and Location from the page that did not follow it.
        replace(
          answer,
          h("p", null, h("strong", { class: "warn-text" }, "Redirect (3xx), not followed"), ` · ${Math.round(performance.now() - started)} ms`),
          h(
            "p",
            { class: "notice" },
            "The route answered with a redirect. Try it does not follow redirects, so your token goes nowhere else; the browser does not show the page where it leads (its Location). Call the route with curl -i to see it.",
          ),
        );
        return;
      }
      const text = await res.text();
      const ms = Math.round(performance.now() - started);
      let shown = text;
      try {
        shown = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        // Not JSON: show the text as it came.
      }
      replace(
        answer,
        h("p", null, h("strong", { class: res.ok ? "ok-text" : "error-text" }, `HTTP ${res.status}`), ` · ${ms} ms · ${res.headers.get("content-type") ?? "no content type"}`),
        h("pre", { class: "json", "aria-label": "Response body" }, shown || "(empty body)"),
      );
    } catch (err) {
      replace(answer, errorPanel(messageOf(err)));
    }
  }
}
