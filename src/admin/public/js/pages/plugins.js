// @ts-check
import { api, seg } from "../api.js";
import { badge, h, replace, table, time } from "../dom.js";
import { pluginActions } from "./plugin-actions.js";
import { uploadBox } from "./upload.js";

/** #/plugins: every install of the tenant, and the upload box. @param {import("../main.js").Page} page */
export async function renderPlugins({ main, signal }) {
  document.title = "Plugins · SBH admin";
  const list = h("div", { id: "plugin-list" }, h("p", { class: "muted" }, "Loading plugins…"));
  replace(main, h("h1", null, "Plugins"), uploadBox({ onInstalled: () => void refresh() }), h("section", { "aria-labelledby": "installed-title" }, h("h2", { id: "installed-title" }, "Installed"), list));

  async function refresh() {
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
          [badge(p.status), p.error ? h("div", { class: "small error-text" }, p.error) : null],
          healthBadge(p.health),
          permissions(p.permissions),
          time(p.updated_at),
          pluginActions(p, () => void refresh()),
        ]),
      }),
    );
  }
  await refresh();
}

/** @param {{ status: string, detail?: unknown } | null} health */
export function healthBadge(health) {
  if (!health) return h("span", { class: "muted" }, "not checked");
  const detail = healthDetail(health.detail);
  return h("span", null, badge(health.status), detail ? h("div", { class: "small muted" }, detail) : null);
}

/** What a health check said besides its status: a plugin may answer a string or an object. @param {unknown} detail */
export function healthDetail(detail) {
  if (detail === null || detail === undefined || detail === "") return null;
  if (typeof detail !== "object" || Array.isArray(detail)) return typeof detail === "string" ? detail : JSON.stringify(detail);
  // The status is already the badge; the rest reads as "reason: queue backlog · backlog: 1200".
  const rest = Object.entries(detail).filter(([k]) => k !== "status");
  return rest.length ? rest.map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join(" · ") : null;
}

/** @param {string[]} perms */
export function permissions(perms) {
  if (!perms.length) return h("span", { class: "muted" }, "none");
  return h("ul", { class: "chips", "aria-label": "Permissions" }, perms.map((p) => h("li", null, h("code", null, p))));
}
