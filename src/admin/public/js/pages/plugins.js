// @ts-check
import { api, seg } from "../api.js";
import { badge, h, keepFocus, replace, showError, table, time } from "../dom.js";
import { healthBadge, missingText, permissions } from "../plugin-facts.js";
import { pluginActions } from "./plugin-actions.js";
import { uploadBox } from "./upload.js";

/** #/plugins: every install of the tenant, and the upload box. @param {import("../main.js").Page} page */
export async function renderPlugins({ main, signal }) {
  document.title = "Plugins · SBH admin";
  const list = h("div", { id: "plugin-list" }, h("p", { class: "muted" }, "Loading plugins…"));
  const refresh = () => keepFocus(list, load).catch((err) => showError(list, err));
  replace(main, h("h1", null, "Plugins"), uploadBox({ onInstalled: refresh }), h("section", { "aria-labelledby": "installed-title" }, h("h2", { id: "installed-title" }, "Installed"), list));

  async function load() {
    const { plugins } = await api("GET", "/api/plugins");
    if (signal.aborted) return;
    replace(
      list,
      table({
        caption: "Installed plugins",
        hideCaption: true,
        head: ["Plugin", "Version", "Status", "Health", "Permissions", "Updated", "Actions"],
        empty: "No plugins are installed yet. Upload a ZIP above.",
        rows: plugins.map((/** @type {any} */ p) => [
          h("div", null, h("a", { href: `#/plugins/${seg(p.id)}` }, p.name), h("div", { class: "muted small" }, p.slug)),
          p.version,
          [
            badge(p.status),
            p.error ? h("div", { class: "small error-text" }, p.error) : null,
            missingText(p) ? h("div", { class: "small" }, missingText(p)) : null,
          ],
          healthBadge(p.health),
          permissions(p.permissions),
          time(p.updated_at),
          pluginActions(p, refresh),
        ]),
      }),
    );
  }
  await load();
}
