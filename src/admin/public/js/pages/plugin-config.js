// @ts-check
import { ApiError, api, seg } from "../api.js";
import { announce, busy, field, h, messageOf, replace, setFieldError } from "../dom.js";

/**
 * The configuration form, generated from the manifest's `configuration` schema (types string,
 * integer, number, boolean; min, max, enum, required, default). The platform's own check is the
 * one that counts: its answer names each field, and each problem is shown on its field. Here the
 * form only reads values (a blank field means "not set": the default applies).
 * @param {import("./plugin.js").Tab} tab
 */
export async function renderConfig({ plugin, panel, changed }) {
  const path = `/api/plugins/${seg(plugin.id)}/config`;
  const { config, configuration } = await api("GET", path);
  const keys = Object.keys(configuration ?? {});
  if (keys.length === 0) {
    replace(panel, h("h2", { id: "panel-title" }, "Configuration"), h("p", { class: "empty" }, "This plugin has no settings."));
    return;
  }
  /** @type {Map<string, { control: HTMLInputElement | HTMLSelectElement, spec: any }>} */
  const controls = new Map();
  const fields = keys.map((key) => {
    const spec = configuration[key];
    const control = controlFor(key, spec, config[key]);
    controls.set(key, { control, spec });
    const hint = [spec.description ? sentence(spec.description) : null, rulesOf(spec), spec.default !== undefined ? `Default: ${JSON.stringify(spec.default)}.` : null].filter(Boolean).join(" ");
    const label = `${key}${spec.required && spec.default === undefined ? " (required)" : ""}`;
    return field({ id: `config-${key}`, label, control, hint });
  });
  const status = h("div", { "aria-live": "polite" });
  const save = /** @type {HTMLButtonElement} */ (h("button", { type: "submit", class: "primary" }, "Save configuration"));
  const form = h(
    "form",
    {
      novalidate: true,
      onsubmit: (/** @type {SubmitEvent} */ e) => {
        e.preventDefault();
        void busy(save, submit);
      },
    },
    fields,
    h("div", { class: "actions" }, save),
    status,
  );
  replace(panel, h("h2", { id: "panel-title" }, "Configuration"), form);

  async function submit() {
    replace(status);
    /** @type {Record<string, unknown>} */
    const values = {};
    /** @type {Array<{ path: string, message: string }>} */
    const unreadable = [];
    for (const [key, { control, spec }] of controls) {
      setFieldError(control, null);
      const value = readValue(control, spec);
      if (value === UNREADABLE) unreadable.push({ path: key, message: "must be a number" });
      else values[key] = value;
    }
    if (unreadable.length) return showProblems(unreadable, "Some values need fixing.");
    try {
      await api("PUT", path, values);
      replace(status, h("p", { class: "success" }, "Saved."));
      announce(`Configuration of ${plugin.name} saved.`);
      await changed();
    } catch (err) {
      showProblems(err instanceof ApiError && Array.isArray(err.details) ? err.details : [], messageOf(err));
    }
  }

  /** @param {Array<{ path: string, message: string }>} problems @param {string} message */
  function showProblems(problems, message) {
    for (const p of problems) {
      const c = controls.get(p.path);
      if (c) setFieldError(c.control, `${p.path} ${p.message}`);
    }
    replace(status, h("p", { class: "error-text", role: "alert" }, message));
    problems.map((p) => controls.get(p.path)?.control).find(Boolean)?.focus();
  }
}

/** @param {string} key @param {any} spec @param {unknown} current */
function controlFor(key, spec, current) {
  if (spec.enum || spec.type === "boolean") {
    const choices = spec.enum ?? [true, false];
    // A blank choice: "not set", so the default applies (or the server says it is required).
    const blank = h("option", { value: "" }, spec.default !== undefined ? `(default: ${String(spec.default)})` : "(not set)");
    const options = choices.map((/** @type {unknown} */ v) => h("option", { value: JSON.stringify(v), selected: JSON.stringify(v) === JSON.stringify(current) }, String(v)));
    return /** @type {HTMLSelectElement} */ (h("select", { name: key }, blank, options));
  }
  const value = current ?? "";
  if (spec.type === "integer" || spec.type === "number") {
    return /** @type {HTMLInputElement} */ (h("input", { type: "number", name: key, value, min: spec.min, max: spec.max, step: spec.type === "integer" ? 1 : "any", inputmode: spec.type === "integer" ? "numeric" : "decimal" }));
  }
  return /** @type {HTMLInputElement} */ (h("input", { type: "text", name: key, value, autocomplete: "off" }));
}

/** An author's description ends like a sentence before the hints that follow it. @param {string} text */
function sentence(text) {
  return /[.!?]$/.test(text.trim()) ? text.trim() : `${text.trim()}.`;
}

/** @param {any} spec */
function rulesOf(spec) {
  const parts = [];
  if (spec.type === "integer") parts.push("A whole number");
  else if (spec.type === "number") parts.push("A number");
  if (spec.min !== undefined) parts.push(`at least ${spec.min}`);
  if (spec.max !== undefined) parts.push(`at most ${spec.max}`);
  return parts.length ? `${parts.join(", ")}.` : null;
}

const UNREADABLE = Symbol("unreadable");

/**
 * The field's value as the API takes it: null for "not set", typed for selects and numbers.
 * @param {HTMLInputElement | HTMLSelectElement} control @param {any} spec
 */
function readValue(control, spec) {
  // A number field holding "abc" reports an empty value; validity tells the two apart.
  if (control instanceof HTMLInputElement && control.validity.badInput) return UNREADABLE;
  if (control.value.trim() === "") return null;
  if (control instanceof HTMLSelectElement) return JSON.parse(control.value);
  if (spec.type === "integer" || spec.type === "number") return Number(control.value);
  return control.value;
}
