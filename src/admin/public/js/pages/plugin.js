// @ts-check
import { api, seg } from "../api.js";
import { announce, badge, errorPanel, h, json, replace, time } from "../dom.js";
import { pluginActions } from "./plugin-actions.js";
import { renderConfig } from "./plugin-config.js";
import { renderDeliveries, renderDelivery } from "./plugin-deliveries.js";
import { renderJobs } from "./plugin-jobs.js";
import { renderLogs } from "./plugin-logs.js";
import { renderRoutes } from "./plugin-routes.js";
import { renderSecrets } from "./plugin-secrets.js";
import { healthBadge, missesAny, missingText, permissions } from "../plugin-facts.js";

/**
 * `changed`: a tab wrote something that may change the plugin's status or what it misses (a
 * secret, the config); the page is drawn again if it did.
 * @typedef {{ plugin: any, panel: HTMLElement, signal: AbortSignal, tenant: string, changed: () => Promise<void> }} Tab
 */

/** @type {Array<[string, string, (tab: Tab, sub?: string) => Promise<void> | void]>} */
const TABS = [
  ["overview", "Overview", renderOverview],
  ["config", "Configuration", renderConfig],
  ["secrets", "Secrets", renderSecrets],
  ["jobs", "Jobs", renderJobs],
  ["deliveries", "Webhooks", (tab, sub) => (sub ? renderDelivery(tab, sub) : renderDeliveries(tab))],
  ["logs", "Logs", renderLogs],
  ["routes", "Routes", renderRoutes],
];

/** #/plugins/<id>[/<tab>[/<sub>]] @param {import("../main.js").Page} page */
export async function renderPlugin({ main, params, signal, go, me }) {
  const [id, tabName = "overview", sub] = params;
  const tab = TABS.find(([name]) => name === tabName);
  if (!tab) {
    go(`#/plugins/${seg(id)}`);
    return;
  }
  const { plugin } = await api("GET", `/api/plugins/${seg(id)}`);
  if (signal.aborted) return;
  document.title = `${plugin.name} · ${tab[1]} · SBH admin`;
  const base = `#/plugins/${seg(plugin.id)}`;
  const panel = h("section", { class: "panel", "aria-labelledby": "panel-title" });
  replace(
    main,
    h("p", { class: "crumbs" }, h("a", { href: "#/plugins" }, "Plugins"), " / ", plugin.name),
    h(
      "div",
      { class: "title-row" },
      h("h1", null, plugin.name, " ", h("span", { class: "version" }, plugin.version)),
      badge(plugin.status),
      // After an action the same page shows the plugin as it is now; after uninstall, the list.
      pluginActions(plugin, (p) => go(p ? location.hash : "#/plugins")),
    ),
    plugin.error ? errorPanel(plugin.error) : null,
    missingNotice(plugin),
    h(
      "nav",
      { class: "tabs", "aria-label": "Plugin sections" },
      TABS.map(([name, label]) => h("a", { href: name === "overview" ? base : `${base}/${name}`, "aria-current": name === tab[0] ? "page" : null }, label)),
    ),
    panel,
  );
  const changed = async () => {
    const { plugin: now } = await api("GET", `/api/plugins/${seg(plugin.id)}`);
    if (signal.aborted || (now.status === plugin.status && JSON.stringify(now.missing) === JSON.stringify(plugin.missing))) return;
    if (now.status === "enabled" && plugin.status === "needs_configuration") announce(`${plugin.name} has every required value now and is enabled.`);
    go(location.hash);
  };
  await tab[2]({ plugin, panel, signal, tenant: me.tenant?.slug ?? "", changed }, sub);
}

/** What the plugin misses before it runs, with links to where each is set. @param {any} plugin */
function missingNotice(plugin) {
  if (!missesAny(plugin.missing)) return null;
  const then =
    plugin.status === "needs_configuration"
      ? "Nothing of it runs until they are set; it enables itself once the last one is."
      : "Set them before enabling it.";
  return h("div", { class: "notice", role: "status" }, h("p", null, missingText(plugin, { links: true }), ". ", then));
}

/** @param {Tab} tab */
function renderOverview({ plugin, panel }) {
  /** @param {string} term @param {any} detail */
  const row = (term, detail) => [h("dt", null, term), h("dd", null, detail)];
  replace(
    panel,
    h("h2", { id: "panel-title" }, "Overview"),
    plugin.description ? h("p", null, plugin.description) : null,
    h(
      "dl",
      { class: "facts" },
      row("Slug", h("code", null, plugin.slug)),
      row("Version", plugin.version),
      row("Author", plugin.author ?? "—"),
      row("Status", [badge(plugin.status), missingText(plugin) ? h("div", { class: "small" }, missingText(plugin)) : null]),
      row("Health", [healthBadge(plugin.health), plugin.health?.checked_at ? h("span", { class: "small muted" }, " checked ", time(plugin.health.checked_at)) : null]),
      row("Permissions", permissions(plugin.permissions)),
      row("Events", plugin.events.length ? h("ul", { class: "chips" }, plugin.events.map((/** @type {string} */ e) => h("li", null, h("code", null, e)))) : "none"),
      row("Routes", String(plugin.routes.length)),
      row("Jobs", plugin.jobs.length ? plugin.jobs.map((/** @type {any} */ j) => h("div", null, h("code", null, j.name), ` ${j.schedule} (${j.timezone})`)) : "none"),
      row("Resources", json(plugin.resources)),
      row("Package SHA-256", h("code", { class: "small" }, plugin.sha256)),
      row("Installed", time(plugin.created_at)),
      row("Updated", time(plugin.updated_at)),
    ),
  );
}
