import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fixtureZip } from "../support/test-app.ts";
import { startHostileStage, type HostileStage } from "../sandbox/hostile-harness.ts";
import { assertNeighbourUnharmed, idleP50, p50While } from "./neighbour.ts";

// One event whose hook emits ten of itself would grow geometrically to the depth cap. Each
// chain is capped at EVENT_TREE_MAX events in all; each tenant's emits are rate limited. The
// tree cap is tested with the rate limit lifted (so the tree, not the rate, stops the chain);
// the neighbour is measured under the default budgets, which are what protect it.

const TREE_MAX = 300;

async function count(stage: HostileStage, sql: string): Promise<number> {
  const rows = await stage.app.services.db.sql.query<{ n: string | number }>(sql, [stage.hostile.id]);
  return Number(rows[0].n);
}

async function logsOf(stage: HostileStage, slug: string): Promise<{ message: string; level: string }[]> {
  const res = await stage.hostile.request("GET", `/api/plugins/${slug}/logs?limit=200`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { logs: { message: string; level: string }[] }).logs;
}

describe("event storm", () => {
  let stage: HostileStage;
  before(async () => {
    stage = await startHostileStage("hostile-event-storm", { EVENT_TREE_MAX: String(TREE_MAX), TENANT_EMIT_RATE: "100000" });
  });
  after(() => stage.app.close());

  test("a self-emitting hook stops at EVENT_TREE_MAX events and says so once", async () => {
    const pub = await stage.hostile.request("POST", "/api/events", { json: { type: "storm.tick", data: { n: 0 } } });
    assert.equal(pub.status, 202, await pub.clone().text());
    const events = "SELECT count(*) AS n FROM events WHERE tenant_id = $1::uuid AND type = 'storm.tick'";
    const pending = "SELECT count(*) AS n FROM hook_runs WHERE tenant_id = $1::uuid AND status = 'pending'";
    const settled = (async () => {
      const until = Date.now() + 60_000;
      let last = -1;
      for (;;) {
        await new Promise((r) => setTimeout(r, 250));
        const n = await count(stage, events);
        if ((await count(stage, pending)) === 0 && n === last) return n;
        last = n;
        assert.ok(Date.now() < until, `the storm did not settle (${n} events)`);
      }
    })();
    const total = await settled;

    assert.equal(total, TREE_MAX + 1, "the root and exactly EVENT_TREE_MAX events under it");
    const root = await stage.app.services.db.sql.query<{ descendants: number }>(
      "SELECT descendants FROM events WHERE tenant_id = $1::uuid AND type = 'storm.tick' AND root_id IS NULL",
      [stage.hostile.id],
    );
    assert.deepEqual(root.map((r) => Number(r.descendants)), [TREE_MAX], "one root, counting its chain");
    const cut = (await logsOf(stage, stage.slug)).filter((l) => l.message.includes("EVENT_TREE_MAX"));
    assert.equal(cut.length, 1, "the plugin log says so once per root");
    assert.equal(cut[0].level, "warn");
    const metrics = await stage.app.services.metrics.registry.getSingleMetricAsString("sbh_emits_refused_total");
    assert.match(metrics, /sbh_emits_refused_total\{reason="tree"\} [1-9]/);

    // Nothing keeps going behind our back.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await count(stage, events), total);
  });

  test("disabling a plugin cancels its pending hook runs, recorded as skipped with the reason", async () => {
    const slow = await stage.hostile.upload(fixtureZip("ev-slow"));
    assert.equal(slow.status, 201, await slow.clone().text());
    for (let i = 0; i < 8; i++) {
      const res = await stage.hostile.request("POST", "/api/events", { json: { type: "slow.work", data: { busy_ms: 400 } } });
      assert.equal(res.status, 202);
    }
    const off = await stage.hostile.request("POST", "/api/plugins/ev-slow/disable");
    assert.equal(off.status, 200, await off.clone().text());
    const runs = await stage.app.services.db.sql.query<{ status: string; error: string | null }>(
      "SELECT h.status, h.error FROM hook_runs h JOIN installs i ON i.id = h.install_id WHERE i.slug = 'ev-slow' AND h.tenant_id = $1::uuid",
      [stage.hostile.id],
    );
    assert.equal(runs.length, 8);
    assert.equal(runs.filter((r) => r.status === "pending").length, 0, "no run is left pending");
    const cancelled = runs.filter((r) => r.status === "skipped");
    assert.ok(cancelled.length >= 1, `runs were cancelled: ${JSON.stringify(runs)}`);
    for (const r of cancelled) assert.equal(r.error, "the plugin was disabled");
  });
});

describe("event storm under the default budgets", () => {
  let stage: HostileStage;
  before(async () => {
    stage = await startHostileStage("hostile-event-storm");
  });
  after(() => stage.app.close());

  test("a new storm root twice a second for three seconds leaves the neighbour's p50 unharmed", async () => {
    const idle = await idleP50(stage.other);
    let roots = 0;
    const storm = (async () => {
      const until = Date.now() + 3_000;
      while (Date.now() < until) {
        const pub = await stage.hostile.request("POST", "/api/events", { json: { type: "storm.tick", data: { n: 0 } } });
        assert.equal(pub.status, 202, await pub.clone().text());
        roots++;
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const during = await p50While(stage.other, storm);
    assertNeighbourUnharmed(idle, during);
    const stored = await count(stage, "SELECT count(*) AS n FROM events WHERE tenant_id = $1::uuid AND type = 'storm.tick'");
    // Roots plus what TENANT_EMIT_RATE (50 a second) let through: nowhere near ten to the depth cap.
    assert.ok(stored >= roots && stored <= roots + 50 * 5, `${stored} events from ${roots} roots`);
  });
});

describe("emit and publish rates", () => {
  let stage: HostileStage;
  before(async () => {
    stage = await startHostileStage("hostile-event-storm", { TENANT_EMIT_RATE: "30", TENANT_EVENT_RATE: "5" });
  });
  after(() => stage.app.close());

  test("a tenant's plugins emit at most TENANT_EMIT_RATE events a second; the rest get EmitRateLimited", async () => {
    const res = await stage.hostile.request("GET", `/ext/${stage.slug}/burst?n=80`);
    assert.equal(res.status, 200, await res.clone().text());
    const { sent, refused } = (await res.json()) as { sent: number; refused: string | null };
    assert.ok(sent >= 1 && sent <= 60, `sent ${sent} (at most one or two windows of 30)`);
    assert.equal(refused, "EmitRateLimited");
    const metrics = await stage.app.services.metrics.registry.getSingleMetricAsString("sbh_emits_refused_total");
    assert.match(metrics, /sbh_emits_refused_total\{reason="rate"\} [1-9]/);
    // The neighbour tenant's emits are its own budget.
    const ping = await stage.other.request("GET", "/ext/hello/ping");
    assert.equal(ping.status, 200);
  });

  test("POST /api/events past TENANT_EVENT_RATE answers 429 with Retry-After; the neighbour can still publish", async () => {
    const answers: Response[] = [];
    for (let i = 0; i < 8; i++) answers.push(await stage.hostile.request("POST", "/api/events", { json: { type: "host.thing", data: { i } } }));
    const limited = answers.filter((r) => r.status === 429);
    assert.ok(limited.length >= 1, "some publishes were refused");
    assert.ok(answers.filter((r) => r.status === 202).length <= 10);
    const body = (await limited[0].json()) as { error: { code: string } };
    assert.equal(body.error.code, "rate_limited");
    assert.match(limited[0].headers.get("retry-after") ?? "", /^[1-9]\d*$/);
    const other = await stage.other.request("POST", "/api/events", { json: { type: "host.thing", data: {} } });
    assert.equal(other.status, 202, "another tenant's budget is untouched");
  });
});
