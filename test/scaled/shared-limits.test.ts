import assert from "node:assert/strict";
import { after, test } from "node:test";
import { fixtureZip, servicesGate, startTestApp, type ApiProcess, type TestTenant } from "../support/test-app.ts";

// Limits are the tenant's, not each process's: with two API processes the route limit and the
// emit budget are counted once, in Redis.

const ready = servicesGate("bullmq");

function call(api: ApiProcess, t: TestTenant, path: string): Promise<Response> {
  return fetch(api.url + path, { headers: { authorization: `Bearer ${t.admin}`, "x-tenant-slug": t.slug } });
}

test("2 API processes: a 20-per-minute route limit lets 20 of 40 calls through; the tenant's emit budget holds in total", async (t) => {
  if (!(await ready(t))) return;
  // Emits count per minute here so that a one-second window boundary cannot blur the total.
  const env = { TENANT_EMIT_RATE: "10", TENANT_EMIT_PERIOD_S: "60" };
  const app = await startTestApp({ engine: "bullmq", env });
  after(() => app.close());
  const [a, b] = await Promise.all([app.spawnApi(env), app.spawnApi(env)]);
  const ten = await app.tenant();
  const up = await ten.upload(fixtureZip("limit-shared"));
  assert.equal(up.status, 201, await up.clone().text());

  const statuses: number[] = [];
  for (let i = 0; i < 40; i++) {
    const res = await call(i % 2 ? b : a, ten, "/ext/limit-shared/ping");
    statuses.push(res.status);
    if (res.status === 429) assert.match(res.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
    await res.arrayBuffer();
  }
  assert.equal(statuses.filter((s) => s === 200).length, 20, `passed: ${statuses.join(",")}`);
  assert.equal(statuses.filter((s) => s === 429).length, 20);

  // 20 emits, half through each API process, against a budget of 10. (Route calls are limited
  // too: the first tenant's 20 a minute are spent, so these go through another tenant's install.)
  const other = await app.tenant();
  assert.equal((await other.upload(fixtureZip("limit-shared"))).status, 201);
  const answers = await Promise.all(
    Array.from({ length: 20 }, async (_, i) => (await (await call(i % 2 ? b : a, other, "/ext/limit-shared/emit")).json()) as { sent: boolean; refused?: string }),
  );
  assert.equal(answers.filter((x) => x.sent).length, 10, JSON.stringify(answers));
  assert.ok(answers.filter((x) => !x.sent).every((x) => x.refused === "EmitRateLimited"));
});
