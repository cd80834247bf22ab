// @ts-check
// How a plugin's health, permissions and missing values read, on the list and on its overview.
import { seg } from "./api.js";
import { badge, h } from "./dom.js";

/** @typedef {{ config: string[], secrets: string[] }} Missing */

/** @param {Missing | undefined} missing */
export function missesAny(missing) {
  return Boolean(missing && (missing.config.length || missing.secrets.length));
}

/**
 * "Missing config base_url · secret API_KEY", or null when nothing is. `links`: each part links
 * to the tab of the plugin's page that sets it.
 * @param {{ id: string, missing?: Missing }} plugin @param {{ links?: boolean }} [opts]
 */
export function missingText(plugin, { links = false } = {}) {
  const m = plugin.missing;
  if (!m || !missesAny(m)) return null;
  /** @param {string} what @param {string[]} names @param {string} tab */
  const part = (what, names, tab) => {
    if (!names.length) return null;
    const label = `${what}${names.length > 1 ? "s" : ""}`;
    return h(
      "span",
      null,
      links ? h("a", { href: `#/plugins/${seg(plugin.id)}/${tab}` }, label) : label,
      " ",
      names.flatMap((n, i) => [i ? ", " : "", h("code", null, n)]),
    );
  };
  const parts = [part("config", m.config, "config"), part("secret", m.secrets, "secrets")].filter(Boolean);
  return h("span", null, "Missing ", parts.flatMap((p, i) => [i ? " · " : "", p]));
}

/** @param {{ status: string, detail?: unknown } | null} health */
export function healthBadge(health) {
  if (!health) return h("span", { class: "muted" }, "not checked");
  const detail = healthDetail(health.detail);
  return h("span", null, badge(health.status), detail ? h("div", { class: "small muted" }, detail) : null);
}

/** What a health check said besides its status: a plugin may answer a string or an object. @param {unknown} detail */
function healthDetail(detail) {
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
