import assert from "node:assert/strict";
import { after, test } from "node:test";
import AdmZip from "adm-zip";
import { eventually, sleep } from "../support/eventually.ts";
import { ok } from "../support/http-assert.ts";
import { servicesGate, fixtureZip, startTestApp, type ApiProcess, type TestTenant } from "../support/test-app.ts";
import { startReceiver } from "../support/webhook-receiver.ts";

// The scaled mode as it is deployed: two API processes and two worker processes on one Postgres
// and one Redis. A change made through one API is served by the other within a second; an event's
// hook, a cron tick and a webhook each happen exactly once however many processes could do them.

const ready = servicesGate("bullmq");

function version(v: string): Buffer {
  const zip = new AdmZip(fixtureZip("scaled-all"));
  zip.updateFile("plugin.json", Buffer.from(JSON.stringify({ ...JSON.parse(zip.readAsText("plugin.json")), version: v })));
  return zip.toBuffer();
}

/** A tenant's requests against one API process (the tenant helper talks to the in-process app). */
function via(api: ApiProcess, t: TestTenant) {
  return (method: string, path: string, json?: unknown) =>
    fetch(api.url + path, {
      method,
      headers: { authorization: `Bearer ${t.admin}`, "x-tenant-slug": t.slug, ...(json === undefined ? {} : { "content-type": "application/json" }) },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
}

function upload(api: ApiProcess, t: TestTenant, zip: Buffer) {
  const form = new FormData();
  form.append("file", new Blob([new Uint8Array(zip)]), "plugin.zip");
  return fetch(`${api.url}/api/plugins/upload`, { method: "POST", headers: { authorization: `Bearer ${t.admin}`, "x-tenant-slug": t.slug }, body: form });
}

/** Polls `path` on an API process until it answers `want` (status, and version when given); returns ms taken. */
async function servedWithin(api: ApiProcess, t: TestTenant, want: { status: number; version?: string }, limitMs = 1000): Promise<number> {
  const started = Date.now();
  let last = "";
  while (Date.now() - started <= limitMs) {
    const res = await via(api, t)("GET", "/ext/scaled-all/version");
    const body = await res.text();
    last = `${res.status} ${body}`;
    if (res.status === want.status && (want.version === undefined || JSON.parse(body).version === want.version)) return Date.now() - started;
    await sleep(20);
  }
  assert.fail(`${api.url} did not answer ${JSON.stringify(want)} within ${limitMs} ms; last: ${last}`);
}

test("2 API + 2 worker processes: changes reach every API within a second; hook, tick and webhook happen once", async (t) => {
  if (!(await ready(t))) return;
  const rx = await startReceiver();
  after(() => rx.close());
  // scaled-all's job ticks every second: the operator's opt-in (PLUGIN_ALLOW_SECOND_SCHEDULES).
  const app = await startTestApp({ engine: "bullmq", worker: false, env: { ALLOW_PRIVATE_EGRESS: "true", PLUGIN_ALLOW_SECOND_SCHEDULES: "true" } });
  after(() => app.close());
  const env = { ALLOW_PRIVATE_EGRESS: "true", OUTBOX_SWEEP_MS: "500", OUTBOX_STALE_MS: "2000" };
  const [a, b] = await Promise.all([app.spawnApi(env), app.spawnApi(env)]);
  await Promise.all([app.spawnWorker(env), app.spawnWorker(env)]);
  const ten = await app.tenant();

  // Upload through A, served by B.
  const created = await ok(await upload(a, ten, version("1.0.0")), 201);
  const id = created.plugin.id;
  await servedWithin(b, ten, { status: 200, version: "1.0.0" });
  for (const [name, value] of Object.entries({ WEBHOOK_URL: `${rx.url}/scaled`, WEBHOOK_SIGNING_KEY: "k".repeat(32) })) {
    assert.equal((await via(b, ten)("PUT", `/api/plugins/${id}/secrets/${name}`, { value })).status, 204);
  }

  // Disable through A → B stops serving; enable through B → A serves; upgrade through B → A serves
  // v2; roll back through A → B serves v1. Each within a second of the change answering.
  await ok(await via(a, ten)("POST", `/api/plugins/${id}/disable`));
  await servedWithin(b, ten, { status: 404 });
  await ok(await via(b, ten)("POST", `/api/plugins/${id}/enable`));
  await servedWithin(a, ten, { status: 200 });
  await ok(await upload(b, ten, version("2.0.0")), 200);
  await servedWithin(a, ten, { status: 200, version: "2.0.0" });
  await ok(await via(a, ten)("POST", `/api/plugins/${id}/rollback`));
  await servedWithin(b, ten, { status: 200, version: "1.0.0" });

  // An event published through B: one hook run (one document), one webhook delivery.
  const published = await ok(await via(b, ten)("POST", "/api/events", { type: "scaled.ping", data: { n: 1 } }), 202);
  const eventId = published.event.id;
  await eventually("the hook and the webhook for the event", async () => {
    const e = await ok(await via(a, ten)("GET", `/api/events/${eventId}`));
    return e.event.hooks.every((h: { status: string }) => h.status === "succeeded") && rx.received("/scaled").length >= 1;
  }, 30_000);
  await sleep(1500); // room for a duplicate to show up, if there were one
  const pings = await app.services.db.prisma.pluginDocument.findMany({ where: { tenantId: ten.id, plugin: "scaled-all", collection: "pings" } });
  assert.deepEqual(pings.map((p) => (p.data as { event_id: string }).event_id), [eventId], "the hook ran once");
  const deliveries = rx.received("/scaled").filter((r) => JSON.parse(r.body).id === eventId);
  assert.equal(deliveries.length, 1, "one POST for the event");

  // The every-second job: one run per tick, never two for the same second, while two workers run.
  await sleep(3500);
  const runs = await ok(await via(a, ten)("GET", `/api/plugins/${id}/jobs/tick/runs?limit=100`));
  const ticks = runs.runs.filter((r: { trigger: string }) => r.trigger === "cron").map((r: { scheduled_for: string }) => r.scheduled_for);
  assert.ok(ticks.length >= 3, `ticks ran: ${ticks.length}`);
  assert.equal(new Set(ticks).size, ticks.length, `no tick ran twice: ${JSON.stringify(ticks)}`);
});
