// @ts-check
// How a plugin's health and permissions read, on the list and on its overview.
import { badge, h } from "./dom.js";

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
