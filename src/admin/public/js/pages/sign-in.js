// @ts-check
import { api } from "../api.js";
import { busy, errorPanel, h, messageOf, replace } from "../dom.js";

/**
 * The sign-in form: an admin token, pasted. The tenant comes from the token.
 * @param {{ main: HTMLElement, message?: string, signIn: (token: string) => Promise<void> }} opts
 */
export function renderSignIn({ main, message, signIn }) {
  document.title = "Sign in · SBH admin";
  const input = /** @type {HTMLTextAreaElement} */ (
    h("textarea", { id: "token", name: "token", rows: 4, required: true, autocomplete: "off", spellcheck: "false", "aria-describedby": "token-hint" })
  );
  const button = /** @type {HTMLButtonElement} */ (h("button", { type: "submit", class: "primary" }, "Sign in"));
  const form = h(
    "form",
    {
      class: "card narrow",
      "aria-labelledby": "signin-title",
      onsubmit: async (/** @type {SubmitEvent} */ e) => {
        e.preventDefault();
        const token = input.value.trim().replace(/^bearer\s+/i, "");
        if (!token) {
          input.setAttribute("aria-invalid", "true");
          input.focus();
          return;
        }
        await busy(button, () => signIn(token));
      },
    },
    h("h1", { id: "signin-title" }, "Sign in"),
    message ? h("p", { class: "notice", role: "alert" }, message) : null,
    h("label", { for: "token" }, "Admin token"),
    input,
    h(
      "p",
      { class: "hint", id: "token-hint" },
      "Paste the admin token printed by ",
      h("code", null, "npm start"),
      " or by ",
      h("code", null, "npm run cli -- token --tenant <slug> --role admin"),
      ". With ",
      h("code", null, "--link"),
      " the command prints a link that signs you in. The token stays in this browser tab only.",
    ),
    h("div", { class: "actions" }, button),
  );
  replace(main, form);
  input.focus();
}

/**
 * A platform admin's token names no tenant: pick the one to administer.
 * @param {{ main: HTMLElement, choose: (slug: string) => Promise<void> }} opts
 */
export async function renderTenantPicker({ main, choose }) {
  document.title = "Choose a tenant · SBH admin";
  replace(main, h("p", { class: "muted" }, "Loading tenants…"));
  let tenants;
  try {
    ({ tenants } = await api("GET", "/api/tenants"));
  } catch (err) {
    replace(main, errorPanel(messageOf(err)));
    return;
  }
  const select = /** @type {HTMLSelectElement} */ (h("select", { id: "tenant", name: "tenant", required: true }, tenants.map((/** @type {any} */ t) => h("option", { value: t.slug }, `${t.name} (${t.slug})`))));
  replace(
    main,
    h(
      "form",
      {
        class: "card narrow",
        onsubmit: async (/** @type {SubmitEvent} */ e) => {
          e.preventDefault();
          await choose(select.value);
        },
      },
      h("h1", null, "Choose a tenant"),
      h("p", null, "A platform admin token acts on one tenant at a time."),
      tenants.length ? [h("label", { for: "tenant" }, "Tenant"), select, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Open"))] : h("p", { class: "empty" }, "There are no tenants yet."),
    ),
  );
  select.focus();
}
