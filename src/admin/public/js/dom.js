// @ts-check
// DOM helpers. Every string from the API (plugin names, log lines, payloads) goes into text
// nodes or attributes, never into markup: plugins are untrusted authors.

/**
 * Builds an element. `attrs`: `class`, `on<event>` listeners, booleans (present when true),
 * anything else as an attribute; null/undefined/false skip. Children: nodes, strings, arrays, null.
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value" && "value" in el) /** @type {HTMLInputElement} */ (el).value = String(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** @param {Node} el @param {any[]} children */
function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. @param {Element} el @param {...any} children */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** "3 min ago", with the exact time in a title. @param {string | null | undefined} iso */
export function time(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const d = new Date(iso);
  return h("time", { datetime: iso, title: d.toLocaleString() }, relative(d));
}

/** @param {Date} d */
function relative(d) {
  const s = Math.round((d.getTime() - Date.now()) / 1000);
  const abs = Math.abs(s);
  const fmt = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  if (abs < 60) return fmt.format(s, "second");
  if (abs < 3600) return fmt.format(Math.round(s / 60), "minute");
  if (abs < 86400) return fmt.format(Math.round(s / 3600), "hour");
  return fmt.format(Math.round(s / 86400), "day");
}

/** A coloured word for a status; the word itself carries the meaning, colour only repeats it. @param {string | null | undefined} status */
export function badge(status) {
  const s = status ?? "unknown";
  return h("span", { class: `badge badge-${s.replace(/[^a-z_]/g, "")}` }, s.replace(/_/g, " "));
}

/** Pretty JSON in a <pre>. @param {unknown} value */
export function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

const MAX_TOASTS = 2;

/** Says something to screen readers and shows it briefly. @param {string} message @param {"ok" | "error"} [kind] */
export function announce(message, kind = "ok") {
  const region = document.getElementById("announcer");
  if (!region) return;
  const note = h("p", { class: `toast toast-${kind}` }, message);
  region.appendChild(note);
  // A burst of actions should not pile notes over the page: the newest few are enough.
  while (region.childElementCount > MAX_TOASTS) region.firstElementChild?.remove();
  setTimeout(() => note.remove(), kind === "error" ? 10000 : 5000);
}

/**
 * A modal confirmation (native <dialog>: focus is trapped and Escape cancels).
 * Resolves with the form's values when confirmed, or null.
 * @param {{ title: string, body: any, confirm: string, danger?: boolean }} opts
 * @returns {Promise<FormData | null>}
 */
export function confirmDialog(opts) {
  return new Promise((resolve) => {
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const form = h(
      "form",
      { method: "dialog" },
      h("h2", { id: titleId }, opts.title),
      h("div", { class: "dialog-body" }, opts.body),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit", value: "cancel", class: "secondary" }, "Cancel"),
        h("button", { type: "submit", value: "confirm", class: opts.danger ? "danger" : "primary" }, opts.confirm),
      ),
    );
    const dialog = /** @type {HTMLDialogElement} */ (h("dialog", { "aria-labelledby": titleId }, form));
    document.body.appendChild(dialog);
    dialog.addEventListener("close", () => {
      const ok = dialog.returnValue === "confirm";
      const data = new FormData(/** @type {HTMLFormElement} */ (form));
      dialog.remove();
      resolve(ok ? data : null);
    });
    dialog.showModal();
  });
}

/**
 * Marks a button busy while `work` runs and ignores it meanwhile, so a double click does not send
 * twice. It is not `disabled`: a disabled button drops keyboard focus, and the admin would land
 * at the top of the page after every action.
 * @param {HTMLButtonElement} button @param {() => Promise<unknown>} work
 */
export async function busy(button, work) {
  if (button.getAttribute("aria-disabled") === "true") return;
  button.setAttribute("aria-disabled", "true");
  button.setAttribute("aria-busy", "true");
  try {
    await work();
  } finally {
    button.removeAttribute("aria-disabled");
    button.removeAttribute("aria-busy");
  }
}

/** A labelled field: label, control, hint and an error slot tied to the control by ids.
 * @param {{ id: string, label: string, control: HTMLElement, hint?: string | null }} opts */
export function field(opts) {
  const hintId = `${opts.id}-hint`;
  const errorId = `${opts.id}-error`;
  opts.control.id = opts.id;
  opts.control.setAttribute("aria-describedby", [opts.hint ? hintId : null, errorId].filter(Boolean).join(" "));
  return h(
    "div",
    { class: "field" },
    h("label", { for: opts.id }, opts.label),
    opts.control,
    opts.hint ? h("p", { class: "hint", id: hintId }, opts.hint) : null,
    h("p", { class: "field-error", id: errorId, hidden: true }),
  );
}

/** Shows or clears the error of a field made by `field`. @param {HTMLElement} control @param {string | null} message */
export function setFieldError(control, message) {
  const slot = document.getElementById(`${control.id}-error`);
  if (message) control.setAttribute("aria-invalid", "true");
  else control.removeAttribute("aria-invalid");
  if (!slot) return;
  slot.textContent = message ?? "";
  slot.hidden = !message;
}

/** A table with a caption (visually hidden when `hideCaption`). Rows are arrays of cells.
 * @param {{ caption: string, head: string[], rows: any[][], empty: string, hideCaption?: boolean }} opts */
export function table(opts) {
  if (opts.rows.length === 0) return h("p", { class: "empty" }, opts.empty);
  // Wide tables scroll inside their own box on a narrow screen instead of widening the page.
  const head = h("thead", null, h("tr", null, opts.head.map((c) => h("th", { scope: "col" }, c))));
  const body = h("tbody", null, opts.rows.map((r) => h("tr", null, r.map((c) => h("td", null, c)))));
  const caption = h("caption", { class: opts.hideCaption ? "visually-hidden" : null }, opts.caption);
  return h("div", { class: "table-scroll" }, h("table", null, caption, head, body));
}

/** The message to show for a failure. @param {unknown} err */
export function messageOf(err) {
  return err instanceof Error ? err.message : String(err);
}

/** A failure, announced at once to screen readers. @param {...any} children */
export function errorPanel(...children) {
  return h("div", { class: "error-panel", role: "alert" }, children);
}

/** Shows a failure in place of `into`'s content. @param {Element} into @param {unknown} err */
export function showError(into, err) {
  replace(into, errorPanel(messageOf(err)));
}

/** The API's problem list (`details: [{path, message}]`), one item per field. @param {unknown} details */
export function problemList(details) {
  if (!Array.isArray(details) || details.length === 0) return null;
  return h(
    "ul",
    { class: "problems", "aria-label": "Problems found" },
    details.map((/** @type {{path?: string, message?: string}} */ d) => h("li", null, h("code", null, d.path || "(package)"), " ", d.message ?? "")),
  );
}

/** "12 ms", or a dash when there is no duration (not run yet). @param {number | null | undefined} ms */
export function duration(ms) {
  return ms === null || ms === undefined ? "—" : `${ms} ms`;
}

/**
 * Runs `render`, which rebuilds `container`, and puts keyboard focus back on the control that had
 * it (found again by its accessible label or id), so a keyboard user is not thrown to the top.
 * @param {Element} container @param {() => Promise<void> | void} render
 */
export async function keepFocus(container, render) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? (active.getAttribute("aria-label") ?? (active.id || null)) : null;
  await render();
  if (!key) return;
  const again = [...container.querySelectorAll("[aria-label], [id]")].find((el) => el.getAttribute("aria-label") === key || el.id === key);
  if (again instanceof HTMLElement) {
    again.focus();
    return;
  }
  // The control is gone (its row was removed): the section's heading is the nearest landmark.
  const heading = container.closest("section")?.querySelector("h2, h3");
  if (heading instanceof HTMLElement) {
    heading.tabIndex = -1;
    heading.focus();
  }
}