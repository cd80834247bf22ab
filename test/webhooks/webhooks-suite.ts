import assert from "node:assert/strict";
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { eventually } from "../support/eventually.ts";
import { expectError, ok } from "../support/http-assert.ts";
import { redisUrl } from "../support/services.ts";
import { appsPerConfig, deleteRedisKeys, fixtureZip, servicesGate, type Engine, type TestApp, type TestTenant } from "../support/test-app.ts";
import { startReceiver, type Received, type Receiver } from "../support/webhook-receiver.ts";

// Webhooks-as-code, the same behaviour asserted on both engines, against a real receiver on
// 127.0.0.1. Signatures are checked with the verifier below, written from the Standard Webhooks
// spec and sharing no code with the platform.

/* ------------------------------------------------------------------ independent verifier */

const TOLERANCE_S = 5 * 60;

/**
 * Standard Webhooks verification: the signed content is "<id>.<timestamp>.<body>"; the
 * signature header is a space-separated list of "v1,<base64>"; a "whsec_" secret is base64.
 */
function verify(secret: string, headers: Received["headers"], body: string, nowS = Math.floor(Date.now() / 1000)): boolean {
  const id = headers["webhook-id"];
  const ts = headers["webhook-timestamp"];
  const sigs = headers["webhook-signature"];
  if (typeof id !== "string" || typeof ts !== "string" || typeof sigs !== "string") return false;
  if (!/^\d+$/.test(ts) || Math.abs(nowS - Number(ts)) > TOLERANCE_S) return false;
  const key = secret.startsWith("whsec_") ? Buffer.from(secret.slice(6), "base64") : Buffer.from(secret);
  const expected = createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest();
  return sigs.split(" ").some((s) => {
    const [version, b64] = s.split(",");
    if (version !== "v1" || !b64) return false;
    const got = Buffer.from(b64, "base64");
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}

/* ------------------------------------------------------------------ helpers */

type Attempt = { attempt: number; started_at: string; duration_ms: number; status_code: number | null; error: string | null; response: string | null };
type Delivery = {
  id: string;
  webhook: string;
  event_id: string;
  event_type: string;
  status: string;
  attempts: number;
  max_attempts: number;
  next_attempt_at: string | null;
  last_status_code: number | null;
  error: string | null;
  payload?: unknown;
};

const SIGNING_KEY = "whsec_" + Buffer.from("a signing key of thirty-two bytes").toString("base64");

async function install(t: TestTenant, fixture: string, secrets: Record<string, string>): Promise<{ id: string; slug: string }> {
  const plugin = (await ok(await t.upload(fixtureZip(fixture)), 201)).plugin;
  for (const [name, value] of Object.entries(secrets)) {
    const res = await t.request("PUT", `/api/plugins/${plugin.id}/secrets/${name}`, { json: { value } });
    assert.equal(res.status, 204, await res.text());
  }
  return plugin;
}

async function publish(t: TestTenant, type: string, data: unknown = {}): Promise<string> {
  return (await ok(await t.request("POST", "/api/events", { json: { type, data } }), 202)).event.id;
}

async function deliveries(t: TestTenant, plugin: string, query = ""): Promise<Delivery[]> {
  return (await ok(await t.request("GET", `/api/plugins/${plugin}/deliveries${query}`))).deliveries;
}

async function detail(t: TestTenant, plugin: string, id: string): Promise<{ delivery: Delivery; attempts: Attempt[] }> {
  return ok(await t.request("GET", `/api/plugins/${plugin}/deliveries/${id}`));
}

/** The plugin's delivery for an event once it is no longer pending. */
async function finished(t: TestTenant, plugin: string, eventId: string, timeoutMs = 15_000): Promise<{ delivery: Delivery; attempts: Attempt[] }> {
  let last: Delivery[] = [];
  const d = await eventually(
    `the ${plugin} delivery of event ${eventId} to finish`,
    async () => {
      last = await deliveries(t, plugin);
      return last.find((x) => x.event_id === eventId && x.status !== "pending");
    },
    timeoutMs,
    () => last,
  );
  return detail(t, plugin, d.id);
}

/* ------------------------------------------------------------------ suite */

export function defineWebhookSuite(engine: Engine): void {
  const appFor = appsPerConfig(engine);
  const fast = { ALLOW_PRIVATE_EGRESS: "true", WEBHOOK_RETRY_BASE_MS: "50", WEBHOOK_TIMEOUT_MS: "1000" };
  const main = () => appFor("main", { env: fast });
  const ready = servicesGate(engine);
  let rx: Receiver;
  before(async () => {
    rx = await startReceiver();
  });
  after(() => rx.close());

  /** A tenant with wh-plain (or another fixture) pointed at a fresh receiver path. */
  async function setup(app: TestApp, fixture = "wh-plain", path = `/${fixture}/${Math.random().toString(36).slice(2)}`) {
    const ten = await app.tenant();
    const plugin = await install(ten, fixture, { WEBHOOK_URL: rx.url + path, WEBHOOK_SIGNING_KEY: SIGNING_KEY });
    return { ten, plugin, path };
  }

  describe(`webhook deliveries (${engine})`, () => {
    test("a matching event is POSTed once, signed (verified independently), with headers filled in and the event as the body", async (t) => {
      if (!(await ready(t))) return;
      const { ten, plugin, path } = await setup(await main());
      const eventId = await publish(ten, "order.created", { order: 42, total: 9.5 });
      const { delivery, attempts } = await finished(ten, plugin.slug, eventId);
      assert.equal(delivery.status, "delivered", JSON.stringify(delivery));
      assert.equal(delivery.attempts, 1);
      assert.equal(delivery.last_status_code, 200);
      assert.deepEqual(attempts.map((a) => [a.attempt, a.status_code, a.error]), [[1, 200, null]]);
      assert.equal(attempts[0].response, "answered 200");

      const [req] = rx.received(path);
      assert.ok(req, "the receiver got the delivery");
      assert.equal(rx.received(path).length, 1);
      assert.ok(verify(SIGNING_KEY, req.headers, req.body), `signature verifies: ${JSON.stringify(req.headers)}`);
      assert.equal(verify("whsec_" + Buffer.from("another key").toString("base64"), req.headers, req.body), false, "a wrong key does not verify");
      assert.equal(verify(SIGNING_KEY, req.headers, req.body + " "), false, "a changed body does not verify");
      assert.equal(req.headers["webhook-id"], delivery.id);
      assert.equal(req.headers["content-type"], "application/json");
      assert.match(String(req.headers["user-agent"]), /^SBH-Webhooks/);
      assert.equal(req.headers["x-plugin"], "wh-plain");
      assert.equal(req.headers["x-event"], "order.created");
      const body = JSON.parse(req.body);
      assert.deepEqual(body, { id: eventId, type: "order.created", tenant: ten.slug, data: { order: 42, total: 9.5 }, occurred_at: body.occurred_at });
      assert.deepEqual(delivery.payload, body, "the stored payload is what was sent");
    });

    test("the transform shapes the body in the plugin's sandbox; returning null skips; a throw fails the attempt and is retried", async (t) => {
      if (!(await ready(t))) return;
      const { ten, plugin, path } = await setup(await main(), "wh-filter");
      const shapedId = await publish(ten, "order.created", { total: 12 });
      const shaped = await finished(ten, plugin.slug, shapedId);
      assert.equal(shaped.delivery.status, "delivered");
      const sent = rx.received(path).find((r) => r.headers["webhook-id"] === shaped.delivery.id)!;
      assert.deepEqual(JSON.parse(sent.body), { shaped: true, event_id: shapedId, total: 12, plugin: "wh-filter" });
      assert.ok(verify(SIGNING_KEY, sent.headers, sent.body));

      const skipped = await finished(ten, plugin.slug, await publish(ten, "order.created", { skip: true }));
      assert.equal(skipped.delivery.status, "skipped");
      assert.match(skipped.delivery.error ?? "", /returned null/);
      assert.deepEqual(skipped.attempts, []);

      const failing = await finished(ten, plugin.slug, await publish(ten, "order.created", { fail: true }));
      assert.equal(failing.delivery.status, "failed");
      assert.equal(failing.delivery.attempts, 2, "max_attempts: 2");
      assert.deepEqual(
        failing.attempts.map((a) => [a.attempt, a.status_code]),
        [[1, null], [2, null]],
      );
      assert.match(failing.attempts[0].error ?? "", /transform failed: Error: cannot shape order\.created/);
      assert.equal(rx.received(path).length, 1, "only the shaped event reached the receiver");
    });

    test("500, 500, 200 → delivered on attempt 3, every attempt with the same webhook-id and a valid signature", async (t) => {
      if (!(await ready(t))) return;
      const { ten, plugin, path } = await setup(await main());
      rx.script(path, 500, { status: 500, body: "still down" });
      const { delivery, attempts } = await finished(ten, plugin.slug, await publish(ten, "order.paid", { n: 1 }));
      assert.equal(delivery.status, "delivered");
      assert.deepEqual(attempts.map((a) => [a.attempt, a.status_code]), [[1, 500], [2, 500], [3, 200]]);
      assert.equal(attempts[1].response, "still down");
      const got = rx.received(path);
      assert.equal(got.length, 3);
      assert.deepEqual(new Set(got.map((r) => r.headers["webhook-id"])), new Set([delivery.id]));
      assert.equal(new Set(got.map((r) => r.body)).size, 1, "every attempt sends the same body");
      for (const r of got) assert.ok(verify(SIGNING_KEY, r.headers, r.body));
    });

    test("410 Gone stops at once; the delivery is failed and says why", async (t) => {
      if (!(await ready(t))) return;
      const { ten, plugin, path } = await setup(await main());
      rx.script(path, 410);
      const { delivery, attempts } = await finished(ten, plugin.slug, await publish(ten, "order.created"));
      assert.equal(delivery.status, "failed");
      assert.equal(delivery.attempts, 1);
      assert.equal(delivery.last_status_code, 410);
      assert.match(delivery.error ?? "", /410.*Gone/);
      assert.equal(attempts.length, 1);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(rx.received(path).length, 1, "no retry after 410");
    });

    test("429 with Retry-After: the next attempt waits as long as the receiver asked, not the 50 ms backoff", async (t) => {
      if (!(await ready(t))) return;
      const { ten, plugin, path } = await setup(await main());
      rx.script(path, { status: 429, headers: { "retry-after": "1" } });
      const { delivery } = await finished(ten, plugin.slug, await publish(ten, "order.created"));
      assert.equal(delivery.status, "delivered");
      const [first, second] = rx.received(path);
      assert.ok(second.at - first.at >= 950, `the retry came ${second.at - first.at} ms after the 429 (Retry-After: 1)`);
    });

    test("no answer within WEBHOOK_TIMEOUT_MS is a failed attempt; after max_attempts the delivery is failed (dead letter)", async (t) => {
      if (!(await ready(t))) return;
      const { ten, plugin, path } = await setup(await main());
      rx.script(path, { hang: true }, { hang: true }, { hang: true });
      const { delivery, attempts } = await finished(ten, plugin.slug, await publish(ten, "order.created"), 20_000);
      assert.equal(delivery.status, "failed");
      assert.deepEqual(attempts.map((a) => a.attempt), [1, 2, 3]);
      for (const a of attempts) {
        assert.equal(a.status_code, null);
        assert.match(a.error ?? "", /no complete answer within 1000 ms/);
        assert.ok(a.duration_ms >= 900, `attempt took ${a.duration_ms} ms`);
      }
    });

    test("a redirect is not followed: the 302 is the attempt's answer and the target is never requested", async (t) => {
      if (!(await ready(t))) return;
      const { ten, plugin, path } = await setup(await main());
      const landing = `${path}/landing`;
      rx.script(path, ...[1, 2, 3].map(() => ({ status: 302, headers: { location: rx.url + landing } })));
      const { delivery, attempts } = await finished(ten, plugin.slug, await publish(ten, "order.created"));
      assert.equal(delivery.status, "failed");
      assert.deepEqual(attempts.map((a) => a.status_code), [302, 302, 302]);
      assert.equal(rx.received(landing).length, 0);
    });

    test("a secret the definition needs is missing: failed at once with the secret's name, nothing sent", async (t) => {
      if (!(await ready(t))) return;
      const app = await main();
      const ten = await app.tenant();
      const path = "/missing-secret";
      const plugin = await install(ten, "wh-plain", { WEBHOOK_URL: rx.url + path });
      const { delivery, attempts } = await finished(ten, plugin.slug, await publish(ten, "order.created"));
      assert.equal(delivery.status, "failed");
      assert.match(delivery.error ?? "", /secret WEBHOOK_SIGNING_KEY .*is not set/);
      assert.equal(attempts.length, 1);
      assert.equal(attempts[0].status_code, null);
      assert.equal(rx.received(path).length, 0);
    });

    test("replay: a failed delivery is retried by API with the same webhook-id and body; pending and unknown ones are refused", async (t) => {
      if (!(await ready(t))) return;
      const { ten, plugin, path } = await setup(await main());
      rx.script(path, 410);
      const eventId = await publish(ten, "order.created", { replay: true });
      const failed = await finished(ten, plugin.slug, eventId);
      assert.equal(failed.delivery.status, "failed");

      const res = await ok(await ten.request("POST", `/api/plugins/${plugin.slug}/deliveries/${failed.delivery.id}/retry`), 202);
      assert.equal(res.delivery.status, "pending");
      assert.equal(res.delivery.max_attempts, 1 + 3, "a fresh round of max_attempts");
      const replayed = await finished(ten, plugin.slug, eventId);
      assert.equal(replayed.delivery.status, "delivered");
      assert.deepEqual(replayed.attempts.map((a) => [a.attempt, a.status_code]), [[1, 410], [2, 200]]);
      const got = rx.received(path);
      assert.equal(got.length, 2);
      assert.equal(got[1].headers["webhook-id"], failed.delivery.id);
      assert.equal(got[1].body, got[0].body);
      assert.ok(verify(SIGNING_KEY, got[1].headers, got[1].body));

      // Pending: a delivery whose receiver hangs is still being attempted.
      rx.script(path, { hang: true });
      const hanging = await publish(ten, "order.created", { hang: true });
      const pending = await eventually("the hanging delivery to exist", async () => (await deliveries(ten, plugin.slug)).find((d) => d.event_id === hanging));
      await expectError(await ten.request("POST", `/api/plugins/${plugin.slug}/deliveries/${pending.id}/retry`), 409, "delivery_pending");
      await expectError(await ten.request("POST", `/api/plugins/${plugin.slug}/deliveries/00000000-0000-4000-8000-000000000000/retry`), 404, "not_found");
      await expectError(await ten.request("GET", `/api/plugins/${plugin.slug}/deliveries/not-a-uuid`), 404, "not_found");
      await expectError(await ten.request("POST", `/api/plugins/${plugin.slug}/deliveries/${pending.id}/retry`, { token: ten.member }), 403, "forbidden");
    });

    test("the deliveries list filters by status and event and pages with next_before; bad filters are a 400", async (t) => {
      if (!(await ready(t))) return;
      const { ten, plugin, path } = await setup(await main());
      rx.script(path, 410);
      const gone = await publish(ten, "order.created", { n: 1 });
      await finished(ten, plugin.slug, gone);
      const paid = await publish(ten, "order.paid", { n: 2 });
      await finished(ten, plugin.slug, paid);
      await publish(ten, "order.unrelated", { n: 3 });

      const all = await deliveries(ten, plugin.slug);
      assert.deepEqual(all.map((d) => d.event_id), [paid, gone], "newest first; unrelated events make no delivery");
      assert.deepEqual((await deliveries(ten, plugin.slug, "?status=failed")).map((d) => d.event_id), [gone]);
      assert.deepEqual((await deliveries(ten, plugin.slug, "?event=order.paid")).map((d) => d.event_id), [paid]);
      const page = await ok(await ten.request("GET", `/api/plugins/${plugin.slug}/deliveries?limit=1`));
      assert.equal(page.deliveries.length, 1);
      const next = await ok(await ten.request("GET", `/api/plugins/${plugin.slug}/deliveries?limit=1&before=${encodeURIComponent(page.next_before)}`));
      assert.deepEqual(next.deliveries.map((d: Delivery) => d.event_id), [gone]);
      const bad = await expectError(await ten.request("GET", `/api/plugins/${plugin.slug}/deliveries?status=lost`), 400, "invalid_request");
      assert.equal(bad.error.details[0].path, "status");
      await expectError(await ten.request("GET", `/api/plugins/${plugin.slug}/deliveries?limit=0`), 400, "invalid_request");
    });

    test("tenants never see each other's deliveries; a disabled plugin's deliveries fail with the reason", async (t) => {
      if (!(await ready(t))) return;
      const app = await main();
      const a = await setup(app);
      const b = await setup(app);
      const eventId = await publish(a.ten, "order.created");
      const mine = await finished(a.ten, a.plugin.slug, eventId);
      assert.equal(mine.delivery.status, "delivered");
      assert.deepEqual(await deliveries(b.ten, b.plugin.slug), [], "B's install got nothing from A's event");
      assert.equal(rx.received(b.path).length, 0);
      await expectError(await b.ten.request("GET", `/api/plugins/${b.plugin.slug}/deliveries/${mine.delivery.id}`), 404, "not_found");
      await expectError(await b.ten.request("GET", `/api/plugins/${a.plugin.id}/deliveries`), 404, "plugin_not_found");

      await ok(await a.ten.request("POST", `/api/plugins/${a.plugin.slug}/disable`));
      const none = await publish(a.ten, "order.created");
      await new Promise((r) => setTimeout(r, 200));
      assert.equal((await deliveries(a.ten, a.plugin.slug)).some((d) => d.event_id === none), false, "no delivery for a disabled plugin");
    });
  });

  describe(`egress guard on deliveries (${engine})`, () => {
    test("without ALLOW_PRIVATE_EGRESS a loopback URL (or a hostname resolving to one) is refused: failed, nothing sent", async (t) => {
      if (!(await ready(t))) return;
      const app = await appFor("guarded", { env: { WEBHOOK_RETRY_BASE_MS: "50" } });
      for (const host of ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"]) {
        const ten = await app.tenant();
        const path = `/guarded-${Math.random().toString(36).slice(2)}`;
        const url = rx.url.replace("127.0.0.1", host) + path;
        const plugin = await install(ten, "wh-plain", { WEBHOOK_URL: url, WEBHOOK_SIGNING_KEY: SIGNING_KEY });
        const { delivery, attempts } = await finished(ten, plugin.slug, await publish(ten, "order.created"));
        assert.equal(delivery.status, "failed", `${host}: ${JSON.stringify(delivery)}`);
        assert.equal(attempts.length, 1, `${host}: a refused destination is not retried`);
        assert.match(delivery.error ?? "", /loopback/, host);
        assert.equal(rx.received(path).length, 0, `${host}: nothing reached the receiver`);
      }
    });
  });

  describe(`durability (${engine})`, () => {
    test("a delivery committed but never queued (a crash right after the event was stored) is sent when consumers start", async (t) => {
      if (!(await ready(t))) return;
      const app = await appFor("durable", { env: fast, worker: false });
      const { ten, plugin, path } = await setup(app);
      // The rows a publish writes, without the hand-off to the executor.
      const prisma = app.services.db.prisma;
      const eventId = randomUUID();
      const deliveryId = randomUUID();
      await prisma.event.create({ data: { id: eventId, tenantId: ten.id, type: "order.created", data: { crashed: true }, source: "host" } });
      await prisma.webhookDelivery.create({
        data: { id: deliveryId, tenantId: ten.id, installId: plugin.id, eventId, webhook: "orders", eventType: "order.created", status: "pending", maxAttempts: 3 },
      });
      const worker = engine === "bullmq" ? await app.spawnWorker() : undefined;
      if (!worker) await app.startConsumer(fast);
      try {
        const { delivery } = await finished(ten, plugin.slug, eventId, 30_000);
        assert.equal(delivery.status, "delivered");
        const [req] = rx.received(path);
        assert.equal(req.headers["webhook-id"], deliveryId);
        assert.deepEqual(JSON.parse(req.body).data, { crashed: true });
      } finally {
        worker?.kill("SIGTERM");
        await worker?.exited;
      }
    });

    if (engine !== "bullmq") return;

    test("a worker SIGKILLed while the receiver holds the request: another worker delivers it, same webhook-id", async (t) => {
      if (!(await ready(t))) return;
      const app = await appFor("durable", { env: fast, worker: false });
      const { ten, plugin, path } = await setup(app);
      rx.script(path, { hang: true });
      // A claim lasts WEBHOOK_TIMEOUT_MS + PLUGIN_TIMEOUT_MS + 5 s; short values keep the test short.
      const env = { WEBHOOK_TIMEOUT_MS: "2000", PLUGIN_TIMEOUT_MS: "500", OUTBOX_SWEEP_MS: "200", OUTBOX_STALE_MS: "500" };
      const first = await app.spawnWorker(env);
      const eventId = await publish(ten, "order.created", { killed: true });
      await eventually("the first worker to start sending", async () => rx.received(path).length === 1, 30_000, () => first.output());
      first.kill("SIGKILL");
      assert.deepEqual(await first.exited, { code: null, signal: "SIGKILL" });
      const [cut] = await deliveries(ten, plugin.slug);
      assert.equal(cut.status, "pending", "the killed worker recorded nothing");

      const second = await app.spawnWorker(env);
      try {
        const { delivery, attempts } = await finished(ten, plugin.slug, eventId, 30_000);
        assert.equal(delivery.status, "delivered");
        assert.equal(attempts.at(-1)!.status_code, 200);
        const got = rx.received(path);
        assert.equal(got.length, 2, "sent again once: at-least-once, deduplicated by webhook-id at the receiver");
        assert.equal(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
        assert.equal(got[0].body, got[1].body);
      } finally {
        second.kill("SIGTERM");
        await second.exited;
      }
    });

    test("Redis loses its data (queued and delayed retries gone): a new worker's sweep delivers from the database", async (t) => {
      if (!(await ready(t))) return;
      const app = await appFor("durable", { env: fast, worker: false });
      const { ten, plugin, path } = await setup(app);
      rx.script(path, 500);
      // The retry is delayed 1.5 s or more in Redis when Redis "restarts".
      const first = await app.spawnWorker({ WEBHOOK_RETRY_BASE_MS: "1500" });
      const eventId = await publish(ten, "order.created", { redis: "lost" });
      await eventually("attempt 1 (500) to be recorded", async () => (await deliveries(ten, plugin.slug))[0]?.attempts === 1, 30_000, () => first.output());
      first.kill("SIGTERM");
      await first.exited;
      await deleteRedisKeys(redisUrl(), app.queuePrefix!);

      const second = await app.spawnWorker({ OUTBOX_SWEEP_MS: "200", OUTBOX_STALE_MS: "500" });
      try {
        const { delivery, attempts } = await finished(ten, plugin.slug, eventId, 30_000);
        assert.equal(delivery.status, "delivered");
        assert.deepEqual(attempts.map((a) => [a.attempt, a.status_code]), [[1, 500], [2, 200]]);
      } finally {
        second.kill("SIGTERM");
        await second.exited;
      }
    });
  });

  describe(`webhook definitions at upload (${engine})`, () => {
    test("a transform entry naming something the file does not export as a function is a 422 naming the file", async (t) => {
      if (!(await ready(t))) return;
      const ten = await (await main()).tenant();
      const body = await expectError(await ten.upload(fixtureZip("wh-no-fn")), 422, "invalid_plugin");
      assert.deepEqual(body.error.details, [{ path: "webhooks/shaped.yaml: transform.entry", message: 'transforms/shape.js does not export a function "shape"' }]);
      await expectError(await ten.request("GET", "/api/plugins/wh-no-fn"), 404, "plugin_not_found");
    });
  });
}
