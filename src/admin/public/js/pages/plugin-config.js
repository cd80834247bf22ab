// @ts-check
import { ApiError, api, seg } from "../api.js";
import { announce, busy, field, h, messageOf, replace, setFieldError } from "../dom.js";

/**
 * The configuration form, generated from the manifest's `configuration` schema (types string,
 * integer, number, boolean; min, max, enum, required). The same rules are checked here first,
 * field by field, and the API's answer is mapped back onto the fields.
 * @param {import("./plugin.js").Tab} tab
 */
export async function renderConfig({ plugin, panel }) {
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
    const hint = [spec.description, rulesOf(spec), spec.default !== undefined ? `Default: ${JSON.stringify(spec.default)}.` : null].filter(Boolean).join(" ");
    const label = `${key}${spec.required ? " (required)" : ""}`;
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
    let firstBad = null;
    for (const [key, { control, spec }] of controls) {
      const { value, problem } = readValue(control, spec);
      setFieldError(control, problem);
      if (problem) firstBad ??= control;
      values[key] = value;
    }
    if (firstBad) {
      replace(status, h("p", { class: "error-text", role: "alert" }, "Some values need fixing."));
      firstBad.focus();
      return;
    }
    try {
      await api("PUT", path, values);
      replace(status, h("p", { class: "success" }, "Saved."));
      announce(`Configuration of ${plugin.name} saved.`);
    } catch (err) {
      const details = err instanceof ApiError && Array.isArray(err.details) ? err.details : [];
      for (const d of details) {
        const c = controls.get(d.path);
        if (c) setFieldError(c.control, `${d.path} ${d.message}`);
      }
      replace(status, h("p", { class: "error-text", role: "alert" }, messageOf(err)));
      const first = details.map((d) => controls.get(d.path)?.control).find(Boolean);
      first?.focus();
    }
  }
}

/** @param {string} key @param {any} spec @param {unknown} current */
function controlFor(key, spec, current) {
  const value = current ?? "";
  if (spec.enum) {
    const options = spec.required ? [] : [h("option", { value: "" }, "(default)")];
    for (const v of spec.enum) options.push(h("option", { value: JSON.stringify(v), selected: JSON.stringify(v) === JSON.stringify(current) }, String(v)));
    return /** @type {HTMLSelectElement} */ (h("select", { name: key }, options));
  }
  if (spec.type === "boolean") {
    // Three states for an optional flag: unset (the default applies), true, false.
    const options = [
      spec.required ? null : h("option", { value: "" }, "(default)"),
      h("option", { value: "true", selected: current === true }, "true"),
      h("option", { value: "false", selected: current === false }, "false"),
    ];
    return /** @type {HTMLSelectElement} */ (h("select", { name: key }, options));
  }
  if (spec.type === "integer" || spec.type === "number") {
    return /** @type {HTMLInputElement} */ (h("input", { type: "number", name: key, value, min: spec.min, max: spec.max, step: spec.type === "integer" ? 1 : "any", inputmode: spec.type === "integer" ? "numeric" : "decimal" }));
  }
  return /** @type {HTMLInputElement} */ (h("input", { type: "text", name: key, value, autocomplete: "off" }));
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

/**
 * The field's value as the API wants it (null = unset) and why it is not acceptable, mirroring
 * the platform's own check (src/packaging/config-field.ts).
 * @param {HTMLInputElement | HTMLSelectElement} control @param {any} spec
 * @returns {{ value: unknown, problem: string | null }}
 */
function readValue(control, spec) {
  // A number field holding "abc" reports an empty value; validity tells the two apart.
  if (control instanceof HTMLInputElement && control.validity.badInput) return { value: null, problem: "must be a number" };
  const raw = control.value.trim();
  if (raw === "") return { value: null, problem: spec.required ? "is required" : null };
  let value;
  if (spec.enum) value = JSON.parse(raw);
  else if (spec.type === "boolean") value = raw === "true";
  else if (spec.type === "integer" || spec.type === "number") {
    value = Number(raw);
    if (!Number.isFinite(value)) return { value: raw, problem: "must be a number" };
    if (spec.type === "integer" && !Number.isSafeInteger(value)) return { value, problem: "must be a whole number" };
    if (spec.min !== undefined && value < spec.min) return { value, problem: `must be at least ${spec.min}` };
    if (spec.max !== undefined && value > spec.max) return { value, problem: `must be at most ${spec.max}` };
  } else value = control.value;
  return { value, problem: null };
}
