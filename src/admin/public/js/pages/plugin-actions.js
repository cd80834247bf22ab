// @ts-check
import { api, seg } from "../api.js";
import { announce, busy, confirmDialog, h, messageOf } from "../dom.js";

/**
 * Enable/disable, roll back and uninstall buttons for one plugin, each confirmed first.
 * `after` gets the plugin as it is now (null once uninstalled).
 * @param {any} plugin @param {(plugin: any | null) => void} after
 */
export function pluginActions(plugin, after) {
  const path = `/api/plugins/${seg(plugin.id)}`;
  /** @param {string} label @param {string} cls @param {() => Promise<void>} work */
  const button = (label, cls, work) => {
    const b = /** @type {HTMLButtonElement} */ (h("button", { type: "button", class: cls, "aria-label": `${label} ${plugin.name}` }, label));
    b.addEventListener("click", () =>
      busy(b, async () => {
        try {
          await work();
        } catch (err) {
          announce(messageOf(err), "error");
        }
      }),
    );
    return b;
  };

  const enabled = plugin.status !== "disabled";
  const toggle = button(enabled ? "Disable" : "Enable", "secondary", async () => {
    if (enabled) {
      const ok = await confirmDialog({ title: `Disable ${plugin.name}?`, body: h("p", null, "Its hooks, routes and jobs stop until you enable it again. Data and settings are kept."), confirm: "Disable" });
      if (!ok) return;
    }
    const { plugin: p } = await api("POST", `${path}/${enabled ? "disable" : "enable"}`);
    announce(`${p.name} is ${p.status}.`);
    after(p);
  });

  const rollback = plugin.has_previous_version
    ? button("Roll back", "secondary", async () => {
        const ok = await confirmDialog({ title: `Roll back ${plugin.name}?`, body: h("p", null, `Version ${plugin.version} is replaced by the version installed before it.`), confirm: "Roll back" });
        if (!ok) return;
        const { plugin: p, rolled_back_from } = await api("POST", `${path}/rollback`);
        announce(`${p.name} rolled back from ${rolled_back_from} to ${p.version}.`);
        after(p);
      })
    : null;

  const uninstall = button("Uninstall", "danger", async () => {
    const data = await confirmDialog({
      title: `Uninstall ${plugin.name}?`,
      body: [
        h("p", null, "Its hooks, routes and jobs stop at once."),
        h("p", null, h("label", { class: "check" }, h("input", { type: "checkbox", name: "purge", value: "true" }), " Also delete its data, secrets and files (cannot be undone)")),
      ],
      confirm: "Uninstall",
      danger: true,
    });
    if (!data) return;
    const purge = data.get("purge") === "true";
    await api("DELETE", `${path}?purge=${purge}`);
    announce(`${plugin.name} uninstalled${purge ? " and its data deleted" : ""}.`);
    after(null);
  });

  return h("div", { class: "actions" }, toggle, rollback, uninstall);
}
