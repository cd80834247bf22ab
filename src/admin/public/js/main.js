// @ts-check
// Boot and hash routing: #/plugins, #/plugins/<id>[/<tab>], #/plugins/<id>/deliveries/<id>,
// #/events. Hash routes need no server-side fallback, and a sign-in link's #token=… never
// reaches a server log or a Referer header.
import { ApiError, UNAUTHORIZED, api, session } from "./api.js";
import { confirmDialog, errorPanel, h, messageOf, replace } from "./dom.js";
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

/**
 * A sign-in link (#token=…): take the token, and take it out of the address bar and the history
 * so it is not bookmarked or shared by accident. A link must not silently swap an open session
 * for someone else's, so that case asks first.
 */
async function takeTokenFromLink() {
  const m = /^#token=([^&]+)$/.exec(location.hash);
  if (!m) return;
  history.replaceState(null, "", `${location.pathname}#/plugins`);
  let token;
  try {
    token = decodeURIComponent(m[1]);
  } catch {
    return showSignIn("That sign-in link is damaged; paste the token instead.");
  }
  if (session.token && session.token !== token) {
    const ok = await confirmDialog({
      title: "Sign in with the link's token?",
      body: h("p", null, "You are signed in already. The link signs you in with another token, which may belong to another tenant."),
      confirm: "Sign in with the link",
    });
    if (!ok) return;
  }
  session.signIn(token);
  me = null;
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
      if (controller.signal.aborted) return;
      const rejected = err instanceof ApiError && err.status === 401;
      if (rejected) session.signOut();
      return showSignIn(rejected ? "That token was not accepted: it is invalid or has expired." : messageOf(err));
    }
    if (controller.signal.aborted) return;
    if (me.role === "member") {
      session.signOut();
      me = null;
      return showSignIn("That is a member token. The admin UI needs an admin token of your tenant.");
    }
  }
  if (!me.tenant) {
    showChrome(false);
    return renderTenantPicker({ main, choose: chooseTenant });
  }
  showChrome(true);
  /** @type {RegExpExecArray | null} */
  let m = null;
  const found = ROUTES.find(([re]) => (m = re.exec(path)));
  if (!found || !m) {
    replace(main, h("h1", null, "Not found"), h("p", null, "No page here. ", h("a", { href: "#/plugins" }, "Go to plugins.")));
    return;
  }
  /** @type {RegExpExecArray} */
  const params = m;
  markNav(path);
  try {
    await found[1]({ main, params: params.slice(1).map((p) => (p === undefined ? p : decodeURIComponent(p))), signal: controller.signal, me, go });
  } catch (err) {
    if (controller.signal.aborted) return;
    replace(main, h("h1", null, "Something went wrong"), errorPanel(messageOf(err)), h("p", null, h("a", { href: "#/plugins" }, "Back to plugins")));
  }
  if (controller.signal.aborted) return;
  // The new page's heading takes focus, so a screen reader says where the admin has arrived.
  if (!main.contains(document.activeElement) || document.activeElement === main) {
    const heading = main.querySelector("h1");
    if (heading) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    } else main.focus({ preventScroll: true });
  }
}

/** Every page's polls and timers end with it; the sign-in page starts from nothing. @param {string} [message] */
function showSignIn(message) {
  current?.abort();
  current = null;
  me = null;
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

/** @param {boolean} inTenant */
function showChrome(inTenant) {
  const nav = /** @type {HTMLElement} */ (document.getElementById("nav"));
  const who = /** @type {HTMLElement} */ (document.getElementById("who"));
  nav.hidden = !inTenant;
  const tenant = inTenant ? me?.tenant : null;
  replace(
    who,
    tenant ? h("span", null, h("span", { class: "visually-hidden" }, "Tenant "), h("strong", null, tenant.name), ` (${tenant.slug}) · ${me?.role.replace("_", " ")}`) : null,
    tenant && me?.role === "platform_admin" ? h("button", { type: "button", class: "link", onclick: () => chooseTenant("") }, "Switch tenant") : null,
    session.token ? h("button", { type: "button", class: "secondary", onclick: signOut }, "Sign out") : null,
  );
}

function signOut() {
  session.signOut();
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

window.addEventListener(UNAUTHORIZED, () => {
  // Before the token was ever accepted, route() explains the refusal itself.
  if (!me) return;
  session.signOut();
  showSignIn("Your session ended (the token expired or was revoked). Sign in again.");
});
window.addEventListener("hashchange", async () => {
  await takeTokenFromLink();
  await route();
});
await takeTokenFromLink();
await route();
