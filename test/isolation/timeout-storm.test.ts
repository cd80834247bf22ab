import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ERROR_CODES } from "../../src/errors.ts";
import { startHostileStage, type HostileStage } from "../sandbox/hostile-harness.ts";
import { assertNeighbourUnharmed, idleP50, p50While } from "./neighbour.ts";

// A route that spins to its 100 ms timeout, called in a loop: each timeout costs only the
// isolate (not the sandbox process other tenants share), and after SANDBOX_TIMEOUT_STRIKES in a
// row the install is paused, so the storm stops costing CPU.

let stage: HostileStage;
before(async () => {
  stage = await startHostileStage("hostile-timeout-storm", {
    SANDBOX_PROCESSES: "1",
    SANDBOX_TIMEOUT_STRIKES: "3",
    SANDBOX_TIMEOUT_PAUSE_MS: "400",
    SANDBOX_TIMEOUT_PAUSE_MAX_MS: "800",
  });
});
after(() => stage.app.close());

test("a timeout storm restarts no sandbox process, pauses the install, and leaves the neighbour alone", async () => {
  const idle = await idleP50(stage.other);
  const before = stage.app.services.sandbox.stats();
  const statuses = new Map<number, number>();
  const codes = new Map<string, number>();
  let retryAfter: string | null = null;
  const storm = async () => {
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      const res = await stage.hostile.request("GET", `/ext/${stage.slug}/spin`);
      const body = (await res.json()) as { error?: { code: string } };
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (body.error) codes.set(body.error.code, (codes.get(body.error.code) ?? 0) + 1);
      if (body.error?.code === "plugin_paused") retryAfter = res.headers.get("retry-after");
    }
  };
  const during = await p50While(stage.other, Promise.all([storm(), storm()]));
  const stats = stage.app.services.sandbox.stats();

  assert.equal(stats.restarts, before.restarts, "no sandbox process was killed");
  assert.equal(stats.retired, before.retired, "no sandbox process was retired");
  const timeouts = codes.get("plugin_timeout") ?? 0;
  const paused = codes.get("plugin_paused") ?? 0;
  assert.ok(timeouts >= 3, `the spin route timed out (${timeouts})`);
  assert.ok(paused > timeouts, `most of the storm was refused at once (paused ${paused}, timed out ${timeouts})`);
  assert.equal(statuses.get(ERROR_CODES.plugin_paused.status)! >= paused, true);
  assert.match(String(retryAfter), /^[1-9]\d*$/, "a paused answer says when to retry");
  // Timeouts come only between pauses: 3 strikes, then one per pause at most per storm loop.
  assert.ok(timeouts <= 3 + 2 * Math.ceil(3000 / 400), `timeouts were bounded by the pauses (${timeouts})`);
  assertNeighbourUnharmed(idle, during);

  // The pause ends; a well-behaved call clears the record.
  await new Promise((r) => setTimeout(r, 900));
  const ok = await stage.hostile.request("GET", `/ext/${stage.slug}/ok`);
  assert.equal(ok.status, 200, await ok.clone().text());
});

test("refused calls are counted, not stored as invocations", async () => {
  await stage.app.services.recorder.flush();
  const rows = await stage.app.services.db.sql.query<{ status: string; n: string | number }>(
    "SELECT status, count(*) AS n FROM invocations WHERE install_id = $1::uuid GROUP BY status",
    [stage.installId],
  );
  const stored = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  assert.ok((stored.timeout ?? 0) >= 3, `the timeouts are stored: ${JSON.stringify(stored)}`);
  assert.equal(stored.error ?? 0, 0, `no invocation row for a paused refusal: ${JSON.stringify(stored)}`);
  const usage = await stage.hostile.request("GET", `/api/plugins/${stage.slug}/usage`);
  assert.equal(usage.status, 200);
  const { totals } = (await usage.json()) as { totals: Record<string, number> };
  assert.ok((totals["refused:plugin_paused"] ?? 0) >= 1, `the refusals are counted: ${JSON.stringify(totals)}`);
});
