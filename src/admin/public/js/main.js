// @ts-check
// Boot and hash routing: #/plugins, #/plugins/<id>[/<tab>], #/plugins/<id>/deliveries/<id>,
// #/events. Hash routes need no server-side fallback, and a sign-in link's #token=… never
// reaches a server log or a Referer header.
import { ApiError, api, session } from "./api.js";
import { h, messageOf, replace } from "./dom.js";
import { renderEvents } from "./pages/events.js";
import { renderPlugin } from "./pages/plugin.js";
import { renderPlugins } from "./pages/plugins.js";
import { renderSignIn, renderTenantPicker } from "./pages/sign-in.js";

/** @typedef {{ role: string, user_id: string, tenant: { id: string, slug: string, name: string } | null }} Me */
/** @typedef {{ main: HTMLElement, params: string[], signal: AbortSignal, me: Me, go: (hash: string) => void }} Page */

/** @type {Array<[RegExp, (page: Page) => Promise<void>]>} */
const ROUTES = [
  [/^\/plugins\/?$/, renderPlugins],
  [/^\/plugins\/([^/]+)(?:\/([a-z]+)(?:\/([^/]+))?)?\/?$/, renderPlugin],
  [/^\/events\/?$/, renderEvents],
];

const main = /** @type {HTMLElement} */ (document.getElementById("main"));
/** @type {AbortController | null} */
let current = null;
/** @type {Me | null} */
let me = null;

function takeTokenFromLink() {
  const m = /^#token=([^&]+)$/.exec(location.hash);
  if (!m) return;
  session.signIn(decodeURIComponent(m[1]));
  me = null;
  // Out of the address bar and the history, so it is not bookmarked or shared by accident.
  history.replaceState(null, "", `${location.pathname}#/plugins`);
}

/** @param {string} hash */
function go(hash) {
  if (location.hash === hash) void route();
  else location.hash = hash;
}

async function route() {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const path = location.hash.replace(/^#/, "") || "/plugins";

  if (!session.token) return showSignIn();
  if (!me) {
    try {
      me = /** @type {Me} */ (await api("GET", "/api/me"));
    } catch (err) {
      return showSignIn(err instanceof ApiError && err.status === 401 ? "That token was not accepted: it is invalid or has expired." : messageOf(err));
    }
    if (me.role === "member") {
      session.signOut();
      me = null;
      return showSignIn("That is a member token. The admin UI needs an admin token of your tenant.");
    }
  }
  if (!me.tenant) {
    showChrome(false);
    return renderTenantPicker({ main, me, choose: chooseTenant });
  }
  showChrome(true);
  let m = null;
  const found = ROUTES.find(([re]) => (m = re.exec(path)));
  if (!found || !m) {
    replace(main, h("h1", null, "Not found"), h("p", null, "No page here. ", h("a", { href: "#/plugins" }, "Go to plugins.")));
    return;
  }
  const render = found[1];
  /** @type {RegExpExecArray} */
  const params = m;
  markNav(path);
  try {
    await render({ main, params: params.slice(1).map((p) => (p === undefined ? p : decodeURIComponent(p))), signal: controller.signal, me, go });
  } catch (err) {
    if (controller.signal.aborted) return;
    if (err instanceof ApiError && err.status === 401) {
      session.signOut();
      me = null;
      return showSignIn("Your session ended (the token expired or was revoked). Sign in again.");
    }
    replace(main, h("h1", null, "Something went wrong"), h("p", { class: "error-panel", role: "alert" }, messageOf(err)), h("p", null, h("a", { href: "#/plugins" }, "Back to plugins")));
  }
  if (document.activeElement === document.body || !main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

/** @param {string} [message] */
function showSignIn(message) {
  showChrome(false);
  renderSignIn({
    main,
    message,
    signIn: async (token) => {
      session.signIn(token);
      me = null;
      if (location.hash !== "#/plugins") location.hash = "#/plugins";
      else await route();
    },
  });
}

/** @param {string} slug */
async function chooseTenant(slug) {
  session.tenant = slug;
  me = null;
  await route();
}

/** @param {boolean} signedIn */
function showChrome(signedIn) {
  const nav = /** @type {HTMLElement} */ (document.getElementById("nav"));
  const who = /** @type {HTMLElement} */ (document.getElementById("who"));
  nav.hidden = !signedIn;
  if (!signedIn || !me?.tenant) {
    replace(who);
    return;
  }
  replace(
    who,
    h("span", null, h("span", { class: "visually-hidden" }, "Tenant "), h("strong", null, me.tenant.name), ` (${me.tenant.slug}) · ${me.role.replace("_", " ")}`),
    me.role === "platform_admin" ? h("button", { type: "button", class: "link", onclick: () => chooseTenant("") }, "Switch tenant") : null,
    h("button", { type: "button", class: "secondary", onclick: signOut }, "Sign out"),
  );
}

function signOut() {
  session.signOut();
  me = null;
  showSignIn("Signed out.");
}

/** @param {string} path */
function markNav(path) {
  for (const a of document.querySelectorAll("#nav a")) {
    const target = a.getAttribute("href")?.slice(1) ?? "";
    if (path.startsWith(target)) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

takeTokenFromLink();
window.addEventListener("hashchange", () => {
  takeTokenFromLink();
  void route();
});
void route();
