import assert from "node:assert/strict";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { after, before, describe, test } from "node:test";
import AdmZip from "adm-zip";
import { eventually } from "../support/eventually.ts";
import { expectError, ok } from "../support/http-assert.ts";
import { exampleZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";
import { startReceiver, type Received, type Receiver } from "../support/webhook-receiver.ts";

// Every example of plugins-examples/ uploaded to a real platform (HTTP, sandboxes, PGlite) and
// driven the way a tenant would: API calls, host events, run-now, /ext routes.

// A stuck call fails its own test by name instead of holding the whole run.
const LIMIT = { timeout: 60_000 };

let app: TestApp;
let receiver: Receiver;

before(async () => {
  // Private egress: the Slack stand-in and the webhook receiver listen on 127.0.0.1.
  app = await startTestApp({ env: { ALLOW_PRIVATE_EGRESS: "true" } });
  receiver = await startReceiver();
});
after(async () => {
  await receiver?.close();
  await app?.close();
});

async function install(t: TestTenant, zip: Buffer): Promise<{ id: string; slug: string; status: string }> {
  const body = await ok(await t.upload(zip), 201);
  assert.equal(body.plugin.status, "enabled", JSON.stringify(body.plugin));
  return body.plugin;
}

/** The example's package as `npm run cli -- plugin pack|deploy` builds it (its test/ folder left out). */

async function setSecret(t: TestTenant, plugin: string, name: string, value: string): Promise<void> {
  const res = await t.request("PUT", `/api/plugins/${plugin}/secrets/${name}`, { json: { value } });
  assert.equal(res.status, 204, await res.text());
}

async function publish(t: TestTenant, type: string, data: unknown): Promise<{ id: string; occurred_at: string }> {
  return (await ok(await t.request("POST", "/api/events", { json: { type, data } }), 202)).event;
}

/** The event's hook run of `plugin` once it stopped being pending. */
async function hookOutcome(t: TestTenant, eventId: string, plugin: string): Promise<{ status: string; attempts: number; error: string | null }> {
  return eventually(`${plugin}'s hook on event ${eventId}`, async () => {
    const { event } = await ok(await t.request("GET", `/api/events/${eventId}`));
    const run = event.hooks.find((h: { plugin: string }) => h.plugin === plugin);
    return run && run.status !== "pending" ? run : undefined;
  }, 15_000);
}

async function logs(t: TestTenant, plugin: string): Promise<{ level: string; message: string }[]> {
  return (await ok(await t.request("GET", `/api/plugins/${plugin}/logs?limit=100`))).logs;
}

/** Standard Webhooks verification, as a receiver would do it (README "Webhooks-as-code"). */
function verifySignature(secret: string, r: Received): boolean {
  const id = r.headers["webhook-id"] as string;
  const ts = r.headers["webhook-timestamp"] as string;
  const key = secret.startsWith("whsec_") ? Buffer.from(secret.slice(6), "base64") : Buffer.from(secret);
  const expected = createHmac("sha256", key).update(`${id}.${ts}.${r.body}`).digest();
  return String(r.headers["webhook-signature"] ?? "").split(" ").some((s) => {
    const [v, b64] = s.split(",");
    const got = Buffer.from(b64 ?? "", "base64");
    return v === "v1" && got.length === expected.length && timingSafeEqual(got, expected);
  });
}

describe("plugins-examples end to end", () => {
  test("welcome-email: a new user gets a stored welcome mail and email.welcome_sent is published", LIMIT, async () => {
    const t = await app.tenant("welcome");
    await install(t, exampleZip("welcome-email"));
    await ok(await t.request("PUT", "/api/plugins/welcome-email/config", { json: { subject: "Welcome to Acme, {name}", from_name: "Grace at Acme" } }));

    const created = await ok(await t.request("POST", "/api/users", { json: { email: "ada@example.com", name: "Ada" } }), 201);
    assert.equal(created.event.hooks, 1);
    const run = await hookOutcome(t, created.event.id, "welcome-email");
    assert.equal(run.status, "succeeded", JSON.stringify(run));

    const { emails } = await ok(await t.request("GET", "/api/plugins/welcome-email/emails"));
    assert.equal(emails.length, 1);
    assert.deepEqual(emails[0].to, ["ada@example.com"]);
    assert.equal(emails[0].subject, "Welcome to Acme, Ada");
    assert.equal(emails[0].status, "stored"); // no SMTP_URL: kept in the outbox
    const { email } = await ok(await t.request("GET", `/api/plugins/welcome-email/emails/${emails[0].id}`));
    assert.match(email.text, /^Hi Ada,[\s\S]*Grace at Acme$/);

    const { events } = await ok(await t.request("GET", "/api/events?type=email.welcome_sent"));
    assert.equal(events.length, 1);
    assert.equal(events[0].data.user_email, "ada@example.com");
    assert.equal(events[0].source, "plugin:welcome-email");
  });

  test("slack-notifier: posts to the (stand-in) Slack webhook, does nothing without the secret, retries a 500", LIMIT, async () => {
    const t = await app.tenant("slack");
    // The example only allows hooks.slack.com; this copy allows the local stand-in instead.
    const zip = new AdmZip(exampleZip("slack-notifier"));
    const manifest = JSON.parse(zip.readAsText("plugin.json"));
    zip.updateFile("plugin.json", Buffer.from(JSON.stringify({ ...manifest, http_allowlist: ["127.0.0.1"] })));
    await install(t, zip.toBuffer());
    const hookPath = `/services/${t.slug}/B000/XXXX`;

    const unset = await publish(t, "build.completed", { build_id: "b-1", status: "success", project_name: "web" });
    assert.equal((await hookOutcome(t, unset.id, "slack-notifier")).status, "succeeded");
    assert.equal(receiver.received(hookPath).length, 0);
    assert.ok((await logs(t, "slack-notifier")).some((l) => l.level === "warn" && /SLACK_WEBHOOK_URL is not set/.test(l.message)));

    await setSecret(t, "slack-notifier", "SLACK_WEBHOOK_URL", receiver.url + hookPath);
    receiver.script(hookPath, { status: 500, body: "internal_error" });
    const built = await publish(t, "build.completed", { build_id: "b-2", status: "failed", project_name: "web" });
    const run = await hookOutcome(t, built.id, "slack-notifier");
    assert.deepEqual([run.status, run.attempts], ["succeeded", 2], JSON.stringify(run));
    const posts = receiver.received(hookPath);
    assert.equal(posts.length, 2);
    for (const p of posts) assert.deepEqual(JSON.parse(p.body), { text: `:x: Build b-2 of *web* finished: failed (${t.slug})` });
    assert.match(String(posts[0].headers["content-type"]), /application\/json/);

    await ok(await t.request("POST", "/api/users", { json: { email: "ada@example.com", name: "Ada" } }), 201);
    await eventually("the new-user message", async () => receiver.received(hookPath).length === 3);
    assert.deepEqual(JSON.parse(receiver.received(hookPath)[2].body), { text: `:wave: New user on ${t.slug}: Ada <ada@example.com>` });
  });

  test("daily-kpi: run-now counts users and files, /latest returns them, the report is in the tenant's files", LIMIT, async () => {
    const t = await app.tenant("kpi");
    for (const email of ["ada@example.com", "grace@example.com"]) await ok(await t.request("POST", "/api/users", { json: { email } }), 201);
    const form = new FormData();
    form.append("path", "docs/handbook.txt");
    form.append("file", new Blob(["Welcome to the team"], { type: "text/plain" }), "handbook.txt");
    await ok(await t.request("POST", "/api/files", { body: form }), 201);
    await install(t, exampleZip("daily-kpi"));

    await expectError(await t.request("GET", "/ext/daily-kpi/latest"), 404, "not_found");

    const { run: queued } = await ok(await t.request("POST", "/api/plugins/daily-kpi/jobs/daily_kpi/run-now"), 202);
    const run = await eventually("the daily_kpi run to finish", async () => {
      const { run } = await ok(await t.request("GET", `/api/plugins/daily-kpi/jobs/daily_kpi/runs/${queued.id}`));
      return ["queued", "running"].includes(run.status) ? undefined : run;
    }, 15_000);
    assert.equal(run.status, "succeeded", JSON.stringify(run));
    const today = new Date().toISOString().slice(0, 10);
    assert.equal(run.result.users, 2);
    assert.equal(run.result.files, 1);
    assert.equal(run.result.file_bytes, "Welcome to the team".length);
    assert.equal(run.result.report, `reports/kpi-${today}.json`);

    const latest = await ok(await t.request("GET", "/ext/daily-kpi/latest"));
    assert.deepEqual([latest.date, latest.users, latest.new_users_24h, latest.files, latest.trigger], [today, 2, 2, 1, "manual"]);

    const { files } = await ok(await t.request("GET", "/api/files?prefix=reports/"));
    const report = files.find((f: { path: string }) => f.path === `reports/kpi-${today}.json`);
    assert.ok(report, JSON.stringify(files));
    const content = (await (await t.request("GET", `/api/files/${report.id}/content`)).json()) as { users: number };
    assert.equal(content.users, 2);

    const { events } = await ok(await t.request("GET", "/api/events?type=kpi.computed"));
    assert.equal(events.length, 1);
    assert.equal(events[0].data.users, 2);
  });

  test("notes: create, read, list, update, search, stats and delete over /ext, each user seeing only their notes", LIMIT, async () => {
    const t = await app.tenant("notes");
    await install(t, exampleZip("notes"));
    const call = (method: string, path: string, json?: unknown, token?: string) => t.request(method, `/ext/notes${path}`, { json, token });

    const a = await ok(await call("POST", "/notes", { title: "Sprint planning", body: "Agenda: demo", tags: ["work", "meeting"] }), 201);
    const b = await ok(await call("POST", "/notes", { title: "Dentist", body: "Tuesday 9:00", tags: ["personal"] }), 201);
    assert.equal(a.owner, "admin-user");
    await expectError(await call("POST", "/notes", { body: "no title" }), 400, "bad_request");
    await expectError(await call("POST", "/notes", { title: "x", tags: ["to do"] }), 400, "bad_request");

    assert.deepEqual(await ok(await call("GET", `/notes/${a.id}`)), a);
    assert.equal((await ok(await call("GET", "/notes"))).count, 2);
    assert.deepEqual((await ok(await call("GET", "/notes?tag=personal"))).notes.map((n: { id: string }) => n.id), [b.id]);

    const updated = await ok(await call("PATCH", `/notes/${a.id}`, { title: "Sprint review", tags: ["work"] }));
    assert.deepEqual([updated.title, updated.body, updated.tags], ["Sprint review", "Agenda: demo", ["work"]]);
    assert.equal((await ok(await call("GET", "/search?tag=meeting"))).count, 0);
    assert.deepEqual((await ok(await call("GET", "/search?q=REVIEW"))).results.map((n: { id: string }) => n.id), [a.id]);
    assert.deepEqual((await ok(await call("GET", "/search?q=tuesday&tag=personal"))).results.map((n: { id: string }) => n.id), [b.id]);
    await expectError(await call("GET", "/search"), 400, "bad_request");

    const stats = await ok(await call("GET", "/stats"));
    assert.deepEqual([stats.total_notes, stats.tag_frequency], [2, { personal: 1, work: 1 }]);

    // Another user of the same tenant (the member token) sees none of the admin's notes.
    await expectError(await call("GET", `/notes/${a.id}`, undefined, t.member), 404, "not_found");
    assert.equal((await ok(await call("GET", "/notes", undefined, t.member))).count, 0);
    await ok(await call("POST", "/notes", { title: "Member's own" }, t.member), 201);
    assert.equal((await ok(await call("GET", "/stats", undefined, t.member))).total_notes, 1);

    assert.deepEqual(await ok(await call("DELETE", `/notes/${b.id}`)), { deleted: true, id: b.id });
    await expectError(await call("GET", `/notes/${b.id}`), 404, "not_found");
    assert.equal((await ok(await call("GET", "/stats"))).total_notes, 1);
  });

  test("audit-log: users, files, subscriptions and plugin events in; entries out, filtered by type, since and limit", LIMIT, async () => {
    const t = await app.tenant("audit");
    const plugin = await install(t, exampleZip("audit-log"));
    const started = new Date().toISOString();

    const user = await ok(await t.request("POST", "/api/users", { json: { email: "ada@example.com", name: "Ada" } }), 201);
    await ok(await t.request("PATCH", `/api/users/${user.user.id}`, { json: { name: "Ada L." } }));
    await publish(t, "payments.subscription.created", { subscription: { id: "sub_1", plan: "pro" }, actor: "billing@example.com" });
    const form = new FormData();
    form.append("file", new Blob(["q1"], { type: "text/plain" }), "q1.txt");
    await ok(await t.request("POST", "/api/files", { body: form }), 201);
    const entries = async (query = "") => (await ok(await t.request("GET", `/ext/audit-log/entries${query}`))).entries as Record<string, any>[];
    // Disabling ends the hook runs still pending, so the four events are heard first.
    await eventually("four entries before the switch", async () => ((await entries(`?since=${encodeURIComponent(started)}`)).length >= 4 ? true : undefined), 15_000);
    // Switched off and on again: the platform raises plugin.disabled (not heard: it is off) and plugin.enabled.
    await ok(await t.request("POST", "/api/plugins/audit-log/disable"));
    await ok(await t.request("POST", "/api/plugins/audit-log/enable"));

    const all = await eventually("five entries after the install", async () => {
      const e = await entries(`?since=${encodeURIComponent(started)}`);
      return e.length >= 5 ? e : undefined;
    }, 15_000);
    assert.deepEqual(all.map((e) => e.type).sort(), ["auth.user.created", "auth.user.updated", "files.uploaded", "payments.subscription.created", "plugin.enabled"]);

    const created = await entries("?type=auth.user.created");
    assert.equal(created.length, 1);
    assert.equal(created[0].subject, "user:ada@example.com");
    assert.equal(created[0].data.user.name, "Ada");
    const sub = await entries("?type=payments.subscription.created");
    assert.deepEqual([sub[0].subject, sub[0].actor], ["subscription:sub_1", "billing@example.com"]);
    assert.equal((await entries("?type=auth.user.created,files.uploaded")).length, 2);
    assert.equal((await entries("?limit=1")).length, 1);
    assert.equal((await entries(`?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).length, 0);

    // Its own install was audited too (plugin.installed is raised once the install is enabled).
    const installed = await entries("?type=plugin.installed");
    assert.deepEqual(installed.map((e) => e.subject), [`plugin:${plugin.slug}`]);

    // Each event is one entry: event ids are unique in the collection.
    const ids = (await entries("?limit=100")).map((e) => e.event_id);
    assert.equal(new Set(ids).size, ids.length);

    await expectError(await t.request("GET", "/ext/audit-log/entries?since=yesterday"), 400, "bad_request");
    await expectError(await t.request("GET", "/ext/audit-log/entries?type=build.completed"), 400, "bad_request");
    await expectError(await t.request("GET", "/ext/audit-log/entries", { token: t.member }), 403, "forbidden");
  });

  test("build-notify: a completed build reaches the receiver as a signed, transformed delivery; a cancelled one is skipped", LIMIT, async () => {
    const t = await app.tenant("builds");
    await install(t, exampleZip("build-notify"));
    const key = "whsec_" + randomBytes(24).toString("base64");
    const hookPath = `/ci/${t.slug}`;
    await setSecret(t, "build-notify", "WEBHOOK_URL", receiver.url + hookPath);
    await setSecret(t, "build-notify", "WEBHOOK_SIGNING_KEY", key);

    const event = await publish(t, "build.completed", { build_id: "b-42", status: "success", project_name: "web", duration_ms: 83_400 });
    const [got] = await eventually("the delivery at the receiver", async () => {
      const r = receiver.received(hookPath);
      return r.length ? r : undefined;
    }, 15_000);
    assert.ok(verifySignature(key, got), `signature verifies: ${JSON.stringify(got.headers)}`);
    assert.equal(verifySignature("whsec_" + randomBytes(24).toString("base64"), got), false);
    assert.equal(got.headers["x-tenant"], t.slug);
    assert.equal(got.headers["x-event"], "build.completed");
    assert.equal(got.headers["x-source"], "SBH");
    assert.deepEqual(JSON.parse(got.body), {
      event_type: "build.completed",
      tenant: t.slug,
      build_id: "b-42",
      status: "success",
      project: "web",
      duration_seconds: 83,
      timestamp: event.occurred_at,
    });

    const cancelled = await publish(t, "build.completed", { build_id: "b-43", status: "cancelled" });
    const skipped = await eventually("the cancelled build's delivery to finish", async () => {
      const { deliveries } = await ok(await t.request("GET", "/api/plugins/build-notify/deliveries?event=build.completed"));
      const d = deliveries.find((x: { event_id: string }) => x.event_id === cancelled.id);
      return d && d.status !== "pending" ? d : undefined;
    });
    assert.equal(skipped.status, "skipped");
    const { deliveries } = await ok(await t.request("GET", "/api/plugins/build-notify/deliveries?status=delivered"));
    assert.deepEqual(deliveries.map((d: { event_id: string }) => d.event_id), [event.id]);
    assert.equal(receiver.received(hookPath).length, 1);
  });

  test("inbound-webhook: waits for its secret, then keeps a GitHub-signed delivery and publishes it; a bad signature is a 401", LIMIT, async () => {
    const t = await app.tenant("inbound");
    const uploaded = await ok(await t.upload(exampleZip("inbound-webhook")), 201);
    assert.equal(uploaded.plugin.status, "needs_configuration", JSON.stringify(uploaded.plugin));
    const raw = '{"ref": "refs/heads/main", "commits": [{"id": "c1", "message": "Grüße ✓"}]}';
    const secret = randomBytes(24).toString("hex");
    // As the sender would call it: no token, the tenant in the path, the JSON text exactly as signed.
    const deliver = (text: string, signature: string, id: string) =>
      fetch(`${app.url}/t/${t.slug}/ext/inbound-webhook/github`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": id, "x-hub-signature-256": signature },
        body: text,
      });
    const sign = (text: string) => "sha256=" + createHmac("sha256", secret).update(text).digest("hex");
    await expectError(await deliver(raw, sign(raw), "early"), 409, "plugin_needs_configuration");

    await setSecret(t, "inbound-webhook", "WEBHOOK_SECRET", secret);
    const accepted = await ok(await deliver(raw, sign(raw), "gh-1"), 202);
    assert.equal(accepted.received, "gh-1");
    assert.equal(accepted.event, "inbound.push");
    const { event } = await ok(await t.request("GET", `/api/events/${accepted.event_id}`));
    assert.equal(event.type, "inbound.push");
    assert.deepEqual(event.data, { delivery_id: "gh-1", payload: JSON.parse(raw) });

    assert.deepEqual(await ok(await deliver(raw, sign(raw), "gh-1")), { duplicate: true, delivery_id: "gh-1" });
    await expectError(await deliver(raw.replace("main", "evil"), sign(raw), "gh-2"), 401, "unauthorized");
    await expectError(await deliver(raw, "sha256=" + "0".repeat(64), "gh-3"), 401, "unauthorized");
    const { deliveries } = await ok(await t.request("GET", "/ext/inbound-webhook/deliveries"));
    assert.deepEqual(deliveries.map((d: { delivery_id: string }) => d.delivery_id), ["gh-1"]);
    assert.ok((await logs(t, "inbound-webhook")).some((l) => l.level === "warn" && l.message.includes("signature does not match")));
  });
});
