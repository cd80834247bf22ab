// @ts-check
import { ApiError, api } from "../api.js";
import { announce, errorPanel, h, messageOf, problemList, replace } from "../dom.js";

/**
 * The upload box: drop a plugin ZIP on it or choose one with the file field (keyboard users
 * reach the field like any other). Validation errors are listed by the field they concern.
 * @param {{ onInstalled: (plugin: any) => void }} opts
 */
export function uploadBox({ onInstalled }) {
  const result = h("div", { id: "upload-result", "aria-live": "polite" });
  const input = /** @type {HTMLInputElement} */ (h("input", { type: "file", id: "plugin-file", name: "file", accept: ".zip,application/zip", "aria-describedby": "upload-hint" }));
  const zone = h(
    "section",
    { class: "dropzone", "aria-labelledby": "upload-title" },
    h("h2", { id: "upload-title" }, "Upload a plugin"),
    h("p", { id: "upload-hint", class: "hint" }, "Drop a plugin ZIP here, or choose one. A newer version of an installed plugin upgrades it."),
    h("label", { for: "plugin-file", class: "file-label" }, "Plugin ZIP"),
    input,
    result,
  );

  /** @param {File} file */
  async function send(file) {
    replace(result, h("p", { class: "muted" }, `Uploading ${file.name}…`));
    const body = new FormData();
    body.append("file", file, file.name);
    try {
      const answer = await api("POST", "/api/plugins/upload", body);
      const p = answer.plugin;
      const what = answer.previous_version ? `Upgraded ${p.name} from ${answer.previous_version} to ${p.version}` : `Installed ${p.name} ${p.version}`;
      // It does not run yet: say so where the admin is looking, not only in the list's badge.
      const then = p.status === "needs_configuration" ? " It needs configuration before it runs: see what is missing on its page." : "";
      replace(result, h("p", { class: "success" }, `${what}.${then}`));
      announce(`${what}.${then}`);
      onInstalled(p);
    } catch (err) {
      replace(result, uploadError(file.name, err));
    } finally {
      input.value = "";
    }
  }

  input.addEventListener("change", () => {
    const file = input.files?.[0];
    if (file) void send(file);
  });
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    const file = e.dataTransfer?.files?.[0];
    if (file) void send(file);
  });
  return zone;
}

/** @param {string} name @param {unknown} err */
function uploadError(name, err) {
  return errorPanel(
    h("p", null, h("strong", null, `${name} was not installed: `), messageOf(err)),
    problemList(err instanceof ApiError ? err.details : null),
  );
}
