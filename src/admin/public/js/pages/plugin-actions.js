// @ts-check
import { api, seg } from "../api.js";
import { announce, busy, confirmDialog, h, messageOf } from "../dom.js";

/**
 * Enable/disable, roll back and uninstall buttons for one plugin, each confirmed first (the
 * button stays usable while its dialog is open, so focus can return to it). `after` gets the
 * plugin as it is now (null once uninstalled).
 * @param {any} plugin @param {(plugin: any | null) => void} after
 */
export function pluginActions(plugin, after) {
  const path = `/api/plugins/${seg(plugin.id)}`;
  /**
   * @param {string} label @param {string} cls
   * @param {(() => Promise<FormData | null>) | null} ask resolves null when the admin cancels
   * @param {(answers: FormData | null) => Promise<void>} work
   */
  const button = (label, cls, ask, work) => {
    const b = /** @type {HTMLButtonElement} */ (h("button", { type: "button", class: cls, "aria-label": `${label} ${plugin.name}` }, label));
    b.addEventListener("click", async () => {
      const answers = ask ? await ask() : null;
      if (ask && !answers) return;
      await busy(b, async () => {
        try {
          await work(answers);
        } catch (err) {
          announce(messageOf(err), "error");
        }
      });
    });
    return b;
  };

  /** @param {"enable" | "disable"} verb */
  const toggle = (verb) =>
    button(
      verb === "enable" ? "Enable" : "Disable",
      "secondary",
      verb === "disable" ? () => confirmDialog({ title: `Disable ${plugin.name}?`, body: h("p", null, "Its hooks, routes and jobs stop until you enable it again. Data and settings are kept."), confirm: "Disable" }) : null,
      async () => {
        const { plugin: p } = await api("POST", `${path}/${verb}`);
        announce(`${p.name} is ${p.status}.`);
        after(p);
      },
    );

  const rollback = plugin.has_previous_version
    ? button(
        "Roll back",
        "secondary",
        () => confirmDialog({ title: `Roll back ${plugin.name}?`, body: h("p", null, `Version ${plugin.version} is replaced by the version installed before it.`), confirm: "Roll back" }),
        async () => {
          const { plugin: p, rolled_back_from } = await api("POST", `${path}/rollback`);
          announce(`${p.name} rolled back from ${rolled_back_from} to ${p.version}.`);
          after(p);
        },
      )
    : null;

  const uninstall = button(
    "Uninstall",
    "danger",
    () =>
      confirmDialog({
        title: `Uninstall ${plugin.name}?`,
        body: [
          h("p", null, "Its hooks, routes and jobs stop at once."),
          h("p", null, h("label", { class: "check" }, h("input", { type: "checkbox", name: "purge", value: "true" }), " Also delete its data, secrets and files (cannot be undone)")),
        ],
        confirm: "Uninstall",
        danger: true,
      }),
    async (answers) => {
      const purge = answers?.get("purge") === "true";
      await api("DELETE", `${path}?purge=${purge}`);
      announce(`${plugin.name} uninstalled${purge ? " and its data deleted" : ""}.`);
      after(null);
    },
  );

  // A plugin whose onEnable failed is enabled but "failed": it can be retried or switched off.
  // One that needs configuration enables itself once configured; the admin can only switch it off.
  const toggles =
    plugin.status === "enabled" || plugin.status === "needs_configuration"
      ? [toggle("disable")]
      : plugin.status === "disabled"
        ? [toggle("enable")]
        : [toggle("enable"), toggle("disable")];
  return h("div", { class: "actions" }, toggles, rollback, uninstall);
}
