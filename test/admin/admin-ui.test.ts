import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { signToken } from "../../src/auth/tokens.ts";
import { collectPluginFiles, packFiles } from "../../src/packaging/pack.ts";
import { launchBrowserOrSkip, screenshotsDir } from "../support/browser.ts";
import { eventually } from "../support/eventually.ts";
import { EXAMPLES, exampleZip, fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";
import { startReceiver, type Receiver } from "../support/webhook-receiver.ts";

// The admin UI in headless Chromium against a real platform (HTTP, sandboxes, PGlite), doing
// what a tenant admin does: sign in, upload, configure, set secrets, run a job, follow logs,
// try a route, send a test event, replay a webhook delivery. Each page is photographed.
// The tests are one admin's session, in order: each starts from the page and the tenant's state
// the previous one left, as a person would (a failure early on fails the rest with it).

const LIMIT = { timeout: 90_000 };
/** An example plugin's ZIP; `version` and `extraCode` make a variant of it. */
function example(name: string, version?: string, extraCode?: string): Buffer {
  if (!version && !extraCode) return exampleZip(name);
  const files = collectPluginFiles(path.join(EXAMPLES, name));
  if (version) files.set("plugin.json", Buffer.from(JSON.stringify({ ...JSON.parse(files.get("plugin.json")!.toString("utf8")), version })));
  if (extraCode) files.set("main.js", Buffer.concat([files.get("main.js")!, Buffer.from(`\n${extraCode}\n`)]));
  return packFiles(files);
}
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

let app: TestApp;
let receiver: Receiver;
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
let t: TestTenant;
let shots: string;
const scratch = mkdtempSync(path.join(tmpdir(), "sbh-admin-ui-"));
const pageErrors: string[] = [];

before(async () => {
  app = await startTestApp({ env: { ALLOW_PRIVATE_EGRESS: "true", WEBHOOK_RETRY_BASE_MS: "50", HEALTH_TICK_MS: "100" } });
  receiver = await startReceiver();
  t = await app.tenant("ui");
  shots = screenshotsDir(scratch);
});
after(async () => {
  await browser?.close();
  await receiver?.close();
  await app?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** A fresh browser tab at `hash` (signed out: a new context has empty sessionStorage). */
async function openTab(hash = ""): Promise<Page> {
  const p = await context.newPage();
  p.setDefaultTimeout(15_000);
  p.on("pageerror", (err) => pageErrors.push(String(err)));
  p.on("console", (msg) => {
    // 4xx answers the tests provoke on purpose are logged as "Failed to load resource"; anything
    // else at error level (an exception, a CSP refusal) is a defect.
    if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource")) pageErrors.push(msg.text());
  });
  await p.goto(`${app.url}/admin/${hash}`);
  return p;
}

async function shoot(name: string): Promise<void> {
  // Notes that float over the page would hide what the picture is for; each says what the page says.
  await page.evaluate("document.querySelectorAll('.toast').forEach((n) => n.remove())");
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

/** Accessibility rules (WCAG 2 A/AA) checked by axe-core on the page as it is now. */
async function assertAccessible(what: string): Promise<void> {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern (a <script> tag would be refused).
  await page.evaluate(axeSource);
  const violations = (await page.evaluate(`(async () => {
    const result = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return result.violations.map((v) => v.id + ": " + v.help + " at " + v.nodes.map((n) => n.target.join(" ")).join(", "));
  })()`)) as string[];
  assert.deepEqual(violations, [], `${what}: accessibility violations`);
}

/** Picks a ZIP in the upload box's file field, as a keyboard user would. */
const chooseZip = (name: string, buffer: Buffer) => page.getByLabel("Plugin ZIP").setInputFiles({ name, mimeType: "application/zip", buffer });

/** Saves a secret from the plugin's Secrets tab and waits until its row says it is set. */
async function setSecret(name: string, value: string): Promise<void> {
  await page.getByLabel(`New value for ${name}`).fill(value);
  const row = page.getByRole("row").filter({ hasText: name });
  await row.getByRole("button", { name: "Save" }).click();
  await row.getByText(/^set/).waitFor();
}

const nav = (name: string) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name });

async function signIn(p: Page, token: string): Promise<void> {
  await p.getByLabel("Admin token").fill(token);
  await p.getByRole("button", { name: "Sign in" }).click();
}

describe("admin UI in Chromium", () => {
  before(async (ctx) => {
    browser = await launchBrowserOrSkip(ctx as never);
  });

  test("serves the UI with a strict CSP and no external assets", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    const res = await fetch(`${app.url}/admin/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'none'.*script-src 'self'/);
    const html = await res.text();
    assert.doesNotMatch(html, /https?:\/\//, "the page loads nothing from another origin");
    const redirect = await fetch(`${app.url}/admin`, { redirect: "manual" });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get("location"), "/admin/");
  });

  test("sign-in: a bad token and a member token are refused with a reason; an admin token shows the tenant", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    page = await openTab();
    await assertAccessible("sign-in page");
    await shoot("01-sign-in");

    await signIn(page, "not-a-token");
    await page.getByRole("alert").filter({ hasText: "not accepted" }).waitFor();
    await signIn(page, t.member);
    await page.getByRole("alert").filter({ hasText: "member token" }).waitFor();

    await signIn(page, t.admin);
    await page.getByRole("heading", { name: "Plugins", level: 1 }).waitFor();
    assert.match(await page.locator("#who").innerText(), new RegExp(t.slug));
    await page.getByText("No plugins are installed yet").waitFor();
  });

  test("a sign-in link (#token=…) signs in and leaves the address bar clean", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    const other = await openTab(`#token=${encodeURIComponent(t.admin)}`);
    await other.getByRole("heading", { name: "Plugins", level: 1 }).waitFor();
    assert.equal(new URL(other.url()).hash, "#/plugins");
    assert.ok(!other.url().includes(t.admin), "the token left the URL");

    // A second link, for another tenant, in the signed-in tab: it asks before switching.
    const second = await app.tenant("ui2");
    await other.evaluate(`location.hash = "#token=${encodeURIComponent(second.admin)}"`);
    await other.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
    await other.getByRole("heading", { name: "Plugins", level: 1 }).waitFor();
    assert.match(await other.locator("#who").innerText(), new RegExp(t.slug), "still the first tenant");
    await other.evaluate(`location.hash = "#token=${encodeURIComponent(second.admin)}"`);
    await other.getByRole("dialog").getByRole("button", { name: "Sign in with the link" }).click();
    await eventually("the tab switches to the link's tenant", async () => (await other.locator("#who").innerText()).includes(second.slug));

    await other.getByRole("button", { name: "Sign out" }).click();
    await other.getByText("Signed out.").waitFor();
    await other.close();
  });

  test("a platform admin picks the tenant to administer", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    const other = await openTab();
    await signIn(other, app.platformToken());
    await other.getByRole("heading", { name: "Choose a tenant" }).waitFor();
    await other.getByLabel("Tenant").selectOption(t.slug);
    await other.getByRole("button", { name: "Open" }).click();
    await other.getByRole("heading", { name: "Plugins", level: 1 }).waitFor();
    assert.match(await other.locator("#who").innerText(), new RegExp(`${t.slug}.*platform admin`));
    await other.getByRole("button", { name: "Switch tenant" }).click();
    await other.getByRole("heading", { name: "Choose a tenant" }).waitFor();
    await other.close();
  });

  test("upload: a file that is not a ZIP and a ZIP with a bad manifest show their errors by field; nothing is installed", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    // Dropped, as a user drags a file onto the box.
    // A string: the test's own TypeScript has no DOM types, the page has the real DataTransfer.
    const dataTransfer = await page.evaluateHandle(`(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(["this is not a zip"], "notes.txt", { type: "text/plain" }));
      return dt;
    })()`);
    await page.dispatchEvent(".dropzone", "drop", { dataTransfer });
    await page.getByRole("alert").filter({ hasText: "notes.txt was not installed" }).waitFor();

    // Chosen with the file field, as a keyboard user would.
    await chooseZip("many-errors.zip", fixtureZip("many-errors"));
    const problems = page.getByRole("list", { name: "Problems found" });
    await problems.waitFor();
    const text = await problems.innerText();
    for (const field of ["slug", "version", "permissions[1]", "jobs[0].schedule", "colour"]) assert.match(text, new RegExp(field.replace(/[[\].]/g, "\\$&")), `a problem listed at ${field}`);
    await shoot("02-upload-error");
    const listed = (await (await t.request("GET", "/api/plugins")).json()) as { plugins: unknown[] };
    assert.deepEqual(listed.plugins, [], "nothing installed");
  });

  test("upload installs an example; the list shows version, status and permissions", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    await chooseZip("hello.zip", example("hello"));
    await page.getByText("Installed Hello 1.0.0.").first().waitFor();
    const row = page.getByRole("row").filter({ hasText: "Hello" });
    await row.getByText("enabled").waitFor();
    await chooseZip("good.zip", fixtureZip("good"));
    await page.getByText("Installed Good Plugin 1.0.0.").first().waitFor();
    await page.getByRole("row").filter({ hasText: "Good Plugin" }).getByText("outbound_http").waitFor();
    // A plugin whose health check says "degraded": the list shows it, with what the check said.
    await chooseZip("health.zip", fixtureZip("health-degraded"));
    await page.getByText("Installed Health degraded 1.0.0.").first().waitFor();
    await eventually("the first health check", async () => {
      const res = (await (await t.request("GET", "/api/plugins/health-degraded")).json()) as { plugin: { health: { status: string } | null } };
      return res.plugin.health?.status === "degraded";
    });
    await page.reload();
    const health = page.getByRole("row").filter({ hasText: "Health degraded" });
    await health.getByText("degraded", { exact: true }).waitFor();
    assert.match(await health.innerText(), /queue backlog/);
    await assertAccessible("plugins page");
    await shoot("03-plugins");
  });

  test("secrets: a value is saved write-only and reaches the plugin", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    await page.getByRole("link", { name: "Hello" }).click();
    await page.getByRole("link", { name: "Secrets" }).click();
    await page.getByText("not set (declared)").waitFor();
    await setSecret("SIGNATURE", "signed-by-ada");
    assert.equal(await page.getByLabel("New value for SIGNATURE").inputValue(), "", "the field is emptied, never refilled");
    assert.ok(!(await page.content()).includes("signed-by-ada"), "the value is nowhere on the page");
    const { secrets } = (await (await t.request("GET", "/api/plugins/hello/secrets")).json()) as { secrets: { name: string }[] };
    assert.deepEqual(secrets.map((s: { name: string }) => s.name), ["SIGNATURE"]);
    await assertAccessible("secrets tab");
    await shoot("04-secrets");
  });

  test("configuration: the form follows the manifest, refuses an out-of-range value by field, saves a good one", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    await page.goto(`${app.url}/admin/#/plugins`);
    await page.getByRole("link", { name: "Good Plugin" }).click();
    await page.getByRole("link", { name: "Configuration" }).click();
    const retries = page.getByLabel("max_retries");
    assert.equal(await retries.getAttribute("type"), "number");
    await retries.fill("20");
    await page.getByRole("button", { name: "Save configuration" }).click();
    await page.getByText("must be at most 10").waitFor();
    assert.equal(await retries.getAttribute("aria-invalid"), "true");
    await shoot("05-config-error");
    await retries.fill("7");
    await page.getByRole("button", { name: "Save configuration" }).click();
    await page.getByText("Saved.", { exact: true }).waitFor();
    const { config } = (await (await t.request("GET", "/api/plugins/good/config")).json()) as { config: Record<string, unknown> };
    assert.equal(config.max_retries, 7);

    // The overview: what the manifest declares, as installed.
    await page.getByRole("link", { name: "Overview" }).click();
    const facts = page.locator("dl.facts");
    await facts.getByText("daily_cleanup").waitFor();
    assert.match(await facts.innerText(), /Europe\/Paris/);
    assert.match(await facts.innerText(), /auth\.user\.created/);
    await assertAccessible("overview tab");
    await shoot("14-overview");

    await page.goto(`${app.url}/admin/#/plugins`);
    await page.getByRole("link", { name: "Hello" }).click();
    await page.getByRole("link", { name: "Configuration" }).click();
    await page.getByLabel("greeting").fill("Howdy");
    await page.getByRole("button", { name: "Save configuration" }).click();
    await page.getByText("Saved.", { exact: true }).waitFor();
    await assertAccessible("configuration tab");
    await shoot("06-config");
  });

  test("jobs: run now shows the run's result and adds it to the history", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    await page.getByRole("link", { name: "Jobs" }).click();
    await page.getByRole("heading", { name: "daily_greeting" }).waitFor();
    await page.getByRole("button", { name: "Run now" }).click();
    const latest = page.locator(".run-result");
    await latest.getByText("succeeded").waitFor();
    assert.match(await latest.innerText(), new RegExp(`Howdy from ${t.slug}`));
    await page.getByRole("row").filter({ hasText: "manual" }).getByText("succeeded").first().waitFor();
    await assertAccessible("jobs tab");
    await shoot("07-jobs");
  });

  test("logs: earlier lines are listed and new ones appear without reloading", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    await page.getByRole("link", { name: "Logs" }).click();
    const log = page.getByRole("log");
    await log.getByText("daily greeting (manual)").waitFor();
    const greeted = await t.request("GET", "/ext/hello/greet/Grace");
    assert.equal(greeted.status, 200);
    await log.getByText("greeted").waitFor({ timeout: 15_000 });
    assert.match(await log.innerText(), /"name":"Grace"/);
    await shoot("08-logs");
  });

  test("routes: try it calls the route with the admin's token and shows the answer", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    await page.getByRole("link", { name: "Routes" }).click();
    await page.getByRole("button", { name: "Try it: /ext/hello/greet/:name" }).click();
    await page.getByLabel("Path").fill("/ext/hello/greet/Ada");
    await page.getByRole("button", { name: "Send" }).click();
    const answer = page.locator("#try-answer");
    await answer.getByText("HTTP 200").waitFor();
    const body = JSON.parse(await answer.getByLabel("Response body").innerText());
    assert.deepEqual(body, { message: "Howdy, Ada!", signed_by: "signed-by-ada" });
    await assertAccessible("routes tab");
    await shoot("09-routes");
  });

  test("hostile-html: a plugin page on the platform's origin cannot run script or read the admin token; try-it calls a public route without the token", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    await nav("Plugins").click();
    await chooseZip("hostile-html.zip", fixtureZip("hostile-html"));
    await page.getByText("Installed Hostile HTML 1.0.0.").first().waitFor();

    // Opened as a page in the signed-in browser (same origin, token in sessionStorage).
    const tab = await context.newPage();
    await tab.goto(`${app.url}/t/${t.slug}/ext/hostile-html/page`);
    await tab.waitForLoadState("load");
    const title = await tab.title();
    assert.ok(!title.startsWith("ran:"), `the plugin's script ran (title ${JSON.stringify(title)})`);
    assert.ok(!title.includes(t.admin), "the token was read");
    await tab.close();

    await page.getByRole("link", { name: "Hostile HTML" }).click();
    await page.getByRole("link", { name: "Routes" }).click();
    await page.getByRole("button", { name: "Try it: /ext/hostile-html/page" }).click();
    assert.equal(await page.getByLabel("Send my admin token").isChecked(), false, "a public route is tried without the token");
    await page.getByRole("button", { name: "Send" }).click();
    await page.locator("#try-answer").getByText("HTTP 200").waitFor();
    assert.match(await page.locator("#try-answer").getByLabel("Response body").innerText(), /sessionStorage/, "shown as text");
  });

  test("hostile-redirect: try-it does not follow a redirect (the token goes nowhere else) and says so; a refused redirect shows the platform's 500", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    await nav("Plugins").click();
    await chooseZip("hostile-redirect.zip", fixtureZip("hostile-redirect"));
    await page.getByText("Installed Hostile Redirect 1.0.0.").first().waitFor();
    await page.getByRole("link", { name: "Hostile Redirect" }).click();
    await page.getByRole("link", { name: "Routes" }).click();
    await page.getByRole("button", { name: "Try it: /ext/hostile-redirect/redirect/:case" }).click();
    await page.getByLabel("Send my admin token").check();
    await page.getByLabel("Path").fill("/ext/hostile-redirect/redirect/own-absolute");
    await page.getByRole("button", { name: "Send" }).click();
    const answer = page.locator("#try-answer");
    await answer.getByText("Redirect (3xx), not followed").waitFor();
    // Followed, the redirect would have called /other as well (with the token).
    const usage = (await (await t.request("GET", "/api/plugins/hostile-redirect/usage")).json()) as { totals: Record<string, number> };
    assert.equal(usage.totals["route.307"], 1, "the redirect was answered");
    assert.equal(usage.totals["route.200"], undefined, "the redirect was followed");

    await page.getByLabel("Path").fill("/ext/hostile-redirect/redirect/admin-api");
    await page.getByRole("button", { name: "Send" }).click();
    await answer.getByText("HTTP 500").waitFor();
    assert.match(await answer.getByLabel("Response body").innerText(), /plugin_bad_response/);
    await assertAccessible("routes tab, redirect answer");
  });

  test("events: a test event shows each hook's outcome and lands in the list, filterable by type", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    await nav("Events").click();
    await page.getByLabel("Event data (JSON)").fill("{ not json");
    await page.getByRole("button", { name: "Send test event" }).click();
    await page.getByText("Not valid JSON").waitFor();
    await page.getByLabel("Event type", { exact: true }).first().fill("auth.user.created");
    await page.getByLabel("Event data (JSON)").fill(JSON.stringify({ user: { id: "u_7", email: "grace@example.com" } }));
    await page.getByRole("button", { name: "Send test event" }).click();
    const outcome = page.locator("#test-event-outcome");
    await outcome.getByRole("row").filter({ hasText: "hello" }).getByText("succeeded").waitFor();
    const list = page.locator("#event-list");
    await list.getByText("auth.user.created").first().waitFor();
    await assertAccessible("events page");
    await shoot("10-events");
  });

  test("webhooks: a delivery's attempts are listed and replay sends it again with the same id", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    await nav("Plugins").click();
    await chooseZip("build-notify.zip", example("build-notify"));
    await page.getByText("Installed Build notifications 1.0.0.").first().waitFor();
    await page.getByRole("link", { name: "Build notifications" }).click();
    await page.getByRole("link", { name: "Secrets" }).click();
    await setSecret("WEBHOOK_URL", `${receiver.url}/builds`);
    await setSecret("WEBHOOK_SIGNING_KEY", "whsec_" + Buffer.from("a signing key of 24 bytes").toString("base64"));

    const sent = await t.request("POST", "/api/events", { json: { type: "build.completed", data: { build_id: "b-42", status: "passed", project_name: "api" } } });
    assert.equal(sent.status, 202);
    await eventually("the delivery reaches the receiver", async () => receiver.received("/builds").length === 1);

    await page.getByRole("link", { name: "Webhooks" }).click();
    await page.getByRole("row").filter({ hasText: "build.completed" }).getByText("delivered").waitFor();
    await shoot("11-deliveries");
    await page.getByRole("link", { name: /^Delivery / }).click();
    await page.getByRole("row").filter({ hasText: "HTTP 200" }).first().waitFor();
    await page.getByRole("button", { name: "Replay" }).click();
    await page.getByText("Replay delivered.").first().waitFor();
    assert.equal(await page.getByRole("row").filter({ hasText: "HTTP 200" }).count(), 2, "two attempts listed");
    const [first, second] = receiver.received("/builds");
    assert.ok(second, "the receiver got the replay");
    assert.equal(second.headers["webhook-id"], first.headers["webhook-id"]);
    assert.equal(second.body, first.body);
    await assertAccessible("delivery page");
    await shoot("12-delivery");
  });

  test("upgrade and roll back: a newer ZIP upgrades, Roll back asks first and restores the previous version", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    await nav("Plugins").click();
    await chooseZip("hello-1.0.1.zip", example("hello", "1.0.1"));
    await page.getByText("Upgraded Hello from 1.0.0 to 1.0.1.").first().waitFor();
    const row = page.getByRole("row").filter({ hasText: "Hello" });
    await row.getByText("1.0.1").waitFor();
    await row.getByRole("button", { name: "Roll back Hello" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Roll back" }).click();
    await page.getByText("Hello rolled back from 1.0.1 to 1.0.0.").first().waitFor();
    await row.getByText("1.0.0").waitFor();
    const hello = (await (await t.request("GET", "/api/plugins/hello")).json()) as { plugin: { version: string } };
    assert.equal(hello.plugin.version, "1.0.0");
  });

  test("mistakes are caught where they are made: a bad secret name, event type or route path, a stale upload", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    await page.getByRole("link", { name: "Hello" }).click();
    await page.getByRole("link", { name: "Secrets" }).click();
    await page.getByLabel("Name", { exact: true }).fill("not a name");
    await page.getByLabel("Value", { exact: true }).fill("x");
    await page.getByRole("button", { name: "Add secret" }).click();
    await page.getByText("A secret name is letters, digits and _").waitFor();
    assert.equal(await page.getByLabel("Name", { exact: true }).getAttribute("aria-invalid"), "true");

    await page.getByRole("link", { name: "Routes" }).click();
    await page.getByLabel("Path").fill("/api/plugins");
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByText("The path must start with /ext/hello/.").waitFor();
    // A path that only looks like the plugin's: resolved, it leaves /ext/hello.
    await page.getByLabel("Path").fill("/ext/hello/../../api/plugins");
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByText("The path must start with /ext/hello/.").waitFor();

    await nav("Events").click();
    await page.getByLabel("Event type", { exact: true }).first().fill("NotAnEvent");
    await page.getByRole("button", { name: "Send test event" }).click();
    await page.getByText("must look like noun.verb").first().waitFor();
    assert.equal(await page.getByLabel("Event type", { exact: true }).first().getAttribute("aria-invalid"), "true");

    // The same version again with other content: the API's 409 is shown, nothing changes.
    await nav("Plugins").click();
    await chooseZip("hello-1.0.1-changed.zip", example("hello", "1.0.1", "// changed"));
    await page.getByRole("alert").filter({ hasText: "was uploaded before with other content" }).waitFor();
  });

  test("an expired token sends the admin back to sign-in with the reason", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    const shortLived = signToken({ sub: "short", tenant: t.slug, role: "admin" }, app.config.jwtSecret, { expiresIn: 2 });
    const other = await openTab();
    await signIn(other, shortLived);
    await other.getByRole("heading", { name: "Plugins", level: 1 }).waitFor();
    await new Promise((r) => setTimeout(r, 2500));
    await other.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Events" }).click();
    await other.getByRole("alert").filter({ hasText: "Your session ended" }).waitFor();
    await other.getByLabel("Admin token").waitFor();
    await other.close();
  });

  test("plugin actions: disable asks first, cancel changes nothing, uninstall with purge removes it", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    await nav("Plugins").click();
    const disable = page.getByRole("button", { name: "Disable Good Plugin" });
    await disable.click();
    await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
    const good = (await (await t.request("GET", "/api/plugins/good")).json()) as { plugin: { status: string } };
    assert.equal(good.plugin.status, "enabled");
    // The keyboard path: the dialog takes focus, Enter on the focused control confirms.
    await disable.focus();
    await page.keyboard.press("Enter");
    await page.getByRole("dialog").getByRole("button", { name: "Disable" }).focus();
    await page.keyboard.press("Enter");
    await page.getByRole("row").filter({ hasText: "Good Plugin" }).getByText("disabled").waitFor();

    await page.getByRole("button", { name: "Uninstall Good Plugin" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel(/Also delete its data/).check();
    await shoot("13-uninstall-dialog");
    await dialog.getByRole("button", { name: "Uninstall" }).click();
    await page.getByRole("row").filter({ hasText: "Good Plugin" }).waitFor({ state: "detached" });
    // Its row is gone, and keyboard focus went to the list's heading rather than the page's top.
    assert.equal(await page.evaluate("document.activeElement && document.activeElement.textContent"), "Installed");
    const res = await t.request("GET", "/api/plugins/good");
    assert.equal(res.status, 404);
  });

  test("a plugin that needs configuration: the list and its page say what is missing; setting the last value enables it", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    await nav("Plugins").click();
    await chooseZip("needs-config.zip", fixtureZip("needs-config"));
    await page.getByText("Installed Needs configuration 1.0.0. It needs configuration before it runs").first().waitFor();
    const row = page.getByRole("row").filter({ hasText: "Needs configuration" });
    await row.getByText("needs configuration", { exact: true }).waitFor();
    assert.match(await row.innerText(), /Missing config base_url · secret API_KEY/);
    // Only Disable: an enable would be refused until it is configured, and then it enables itself.
    assert.equal(await row.getByRole("button", { name: "Enable Needs configuration" }).count(), 0);
    await row.getByRole("button", { name: "Disable Needs configuration" }).waitFor();
    await assertAccessible("plugins page with a plugin that needs configuration");

    await page.getByRole("link", { name: "Needs configuration" }).click();
    // The page's note, not the announcer's toasts (also a status region).
    const notice = page.getByRole("status").filter({ hasText: /^Missing/ });
    await notice.waitFor();
    assert.match(await notice.innerText(), /Missing config base_url · secret API_KEY\. Nothing of it runs until they are set/);
    await assertAccessible("plugin page of a plugin that needs configuration");
    await shoot("15-needs-configuration");

    await notice.getByRole("link", { name: "secret", exact: true }).click();
    await page.getByText("not set (required)").waitFor();
    await setSecret("API_KEY", "k-ui");
    await page.getByRole("status").filter({ hasText: /^Missing config base_url\./ }).waitFor();
    assert.equal((await (await t.request("GET", "/api/plugins/needs-config")).json() as { plugin: { status: string } }).plugin.status, "needs_configuration");

    await page.getByRole("navigation", { name: "Plugin sections" }).getByRole("link", { name: "Configuration" }).click();
    await page.getByLabel("base_url (required)").fill("https://api.example.test");
    await page.getByRole("button", { name: "Save configuration" }).click();
    await page.locator(".title-row").getByText("enabled", { exact: true }).waitFor();
    assert.equal(await page.getByRole("status").filter({ hasText: /^Missing/ }).count(), 0);
    const after = (await (await t.request("GET", "/api/plugins/needs-config")).json()) as { plugin: { status: string; missing: unknown } };
    assert.deepEqual([after.plugin.status, after.plugin.missing], ["enabled", { config: [], secrets: [] }]);
  });

  test("on a phone-sized screen no page scrolls sideways: wide tables scroll in their own box", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      for (const hash of ["#/plugins", "#/events", "#/plugins/hello/jobs", "#/plugins/hello/logs", "#/plugins/build-notify/deliveries"]) {
        await page.goto(`${app.url}/admin/${hash}`);
        await page.locator("main h1").waitFor();
        await page.waitForLoadState("networkidle");
        const width = (await page.evaluate("document.documentElement.scrollWidth")) as number;
        assert.ok(width <= 390, `${hash} is ${width}px wide on a 390px screen`);
      }
    } finally {
      await page.setViewportSize({ width: 1280, height: 860 });
    }
  });

  test("no script errors were logged by the pages", LIMIT, async (ctx) => {
    if (!browser) return ctx.skip("no browser");
    assert.deepEqual(pageErrors, []);
  });
});
