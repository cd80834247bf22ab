// @ts-check
import { api, seg } from "../api.js";
import { announce, busy, confirmDialog, h, keepFocus, messageOf, replace, setFieldError, showError, table, time } from "../dom.js";

/**
 * Secrets are write-only: the page shows names and update times, and a value field that is
 * always empty. Declared secrets (the manifest's `secrets`) are listed even before they are set.
 * @param {import("./plugin.js").Tab} tab
 */
export async function renderSecrets({ plugin, panel, signal, changed }) {
  const base = `/api/plugins/${seg(plugin.id)}/secrets`;
  const list = h("div");
  replace(
    panel,
    h("h2", { id: "panel-title" }, "Secrets"),
    h("p", { class: "hint" }, "Values are write-only: once saved, nobody can read them here or through the API, only the plugin can."),
    list,
    addForm(),
  );

  const refresh = () => keepFocus(list, load).catch((err) => showError(list, err));

  async function load() {
    const { secrets, declared, required = [] } = await api("GET", base);
    if (signal.aborted) return;
    /** @type {Map<string, string | null>} */
    const rows = new Map(declared.map((/** @type {string} */ n) => [n, null]));
    for (const s of secrets) rows.set(s.name, s.updated_at);
    replace(
      list,
      table({
        caption: "Secrets",
        hideCaption: true,
        head: ["Name", "State", "New value", ""],
        empty: "This plugin declares no secrets. You can still set one below.",
        rows: [...rows].map(([name, updatedAt]) => {
          const id = `secret-${name}`;
          const input = /** @type {HTMLInputElement} */ (h("input", { type: "password", id, autocomplete: "new-password", spellcheck: "false", placeholder: updatedAt ? "•••••• (set)" : "not set" }));
          const save = /** @type {HTMLButtonElement} */ (h("button", { type: "submit", class: "primary" }, "Save"));
          const form = h(
            "form",
            {
              class: "inline",
              onsubmit: (/** @type {SubmitEvent} */ e) => {
                e.preventDefault();
                void busy(save, () => put(name, input));
              },
            },
            h("label", { for: id, class: "visually-hidden" }, `New value for ${name}`),
            input,
            save,
          );
          const del = updatedAt
            ? h("button", { type: "button", class: "danger", "aria-label": `Delete ${name}`, onclick: () => remove(name) }, "Delete")
            : null;
          return [
            h("code", null, name),
            updatedAt
              ? h("span", null, "set ", time(updatedAt))
              : required.includes(name)
                ? h("span", { class: "warn-text" }, "not set (required)")
                : h("span", { class: "muted" }, declared.includes(name) ? "not set (declared)" : "not set"),
            form,
            del,
          ];
        }),
      }),
    );
  }

  /**
   * Saves one value; true when saved. A refusal is shown on `nameField` when the name was the
   * problem, else announced.
   * @param {string} name @param {HTMLInputElement} input @param {HTMLInputElement} [nameField]
   */
  async function put(name, input, nameField) {
    if (input.value === "") {
      input.focus();
      announce(`Type a value for ${name} first.`, "error");
      return false;
    }
    try {
      await api("PUT", `${base}/${seg(name)}`, { value: input.value });
    } catch (err) {
      if (nameField) {
        setFieldError(nameField, messageOf(err));
        nameField.focus();
      } else announce(messageOf(err), "error");
      return false;
    }
    input.value = "";
    announce(`Secret ${name} saved.`);
    await refresh();
    await changed();
    return true;
  }

  /** @param {string} name */
  async function remove(name) {
    const ok = await confirmDialog({ title: `Delete secret ${name}?`, body: h("p", null, "The plugin will no longer be able to read it."), confirm: "Delete", danger: true });
    if (!ok) return;
    try {
      await api("DELETE", `${base}/${seg(name)}`);
      announce(`Secret ${name} deleted.`);
      await refresh();
      await changed();
    } catch (err) {
      announce(messageOf(err), "error");
    }
  }

  function addForm() {
    const name = /** @type {HTMLInputElement} */ (h("input", { type: "text", id: "new-secret-name", autocomplete: "off", spellcheck: "false", "aria-describedby": "new-secret-name-error" }));
    const value = /** @type {HTMLInputElement} */ (h("input", { type: "password", id: "new-secret-value", autocomplete: "new-password" }));
    const save = /** @type {HTMLButtonElement} */ (h("button", { type: "submit", class: "secondary" }, "Add secret"));
    return h(
      "form",
      {
        class: "card",
        "aria-labelledby": "add-secret-title",
        onsubmit: (/** @type {SubmitEvent} */ e) => {
          e.preventDefault();
          setFieldError(name, null);
          if (name.value.trim() === "") {
            setFieldError(name, "Give the secret a name, like API_KEY.");
            name.focus();
            return;
          }
          void busy(save, async () => {
            if (await put(name.value.trim(), value, name)) name.value = "";
          });
        },
      },
      h("h3", { id: "add-secret-title" }, "Add a secret"),
      h("div", { class: "field" }, h("label", { for: "new-secret-name" }, "Name"), name, h("p", { class: "field-error", id: "new-secret-name-error", hidden: true })),
      h("div", { class: "field" }, h("label", { for: "new-secret-value" }, "Value"), value),
      h("div", { class: "actions" }, save),
    );
  }

  await load();
}
