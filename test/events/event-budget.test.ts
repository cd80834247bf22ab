import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { EventBudget, type EmitRefusal } from "../../src/events/event-budget.ts";
import { RateLimits } from "../../src/limits/rate-limits.ts";
import { createLogger } from "../../src/logger.ts";
import { startTestApp, type TestApp } from "../support/test-app.ts";

// The budget against a real database: a chain's root row counts its events; the tenant's rate
// is shared by its plugins, so a chain at its cap must not spend it.

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app.close());

async function root(tenantId: string): Promise<string> {
  const id = randomUUID();
  await app.services.db.sql.query("INSERT INTO events (id, tenant_id, type, data, source) VALUES ($1::uuid, $2::uuid, 'root', '{}', 'api')", [id, tenantId]);
  return id;
}

function budget(limits: RateLimits, refused: EmitRefusal[]): EventBudget {
  return new EventBudget({ sql: app.services.db.sql, limits, onRefused: (r) => refused.push(r) }, { treeMax: 2, emitRate: 5, emitPeriodSeconds: 60 });
}

async function outcome(p: Promise<void>): Promise<string> {
  return p.then(() => "ok", (err: { name?: string }) => err.name ?? "error");
}

test("a chain at EVENT_TREE_MAX is refused without spending the tenant's emit rate; each refusal is reported as documented", async (t) => {
  const tenant = await app.tenant();
  const limits = new RateLimits({ prefix: `test-${randomUUID()}`, logger: createLogger("silent") });
  t.after(() => limits.close());
  const refused: EmitRefusal[] = [];
  const lines: string[] = [];
  const b = budget(limits, refused);
  const full = await root(tenant.id);

  const first = [];
  for (let i = 0; i < 6; i++) first.push(await outcome(b.take(tenant.id, full, (m) => lines.push(m))));
  assert.deepEqual(first, ["ok", "ok", "EventTreeLimit", "EventTreeLimit", "EventTreeLimit", "EventTreeLimit"]);
  assert.equal(lines.filter((l) => l.includes("EVENT_TREE_MAX")).length, 1, "the tree refusal is said once per root");

  // 2 of the rate's 5 went to the chain; the refused emits gave theirs back.
  const other = [];
  for (let i = 0; i < 4; i++) other.push(await outcome(b.take(tenant.id, null, (m) => lines.push(m))));
  assert.deepEqual(other, ["ok", "ok", "ok", "EmitRateLimited"]);
  assert.deepEqual(refused, ["tree", "tree", "tree", "tree", "rate"]);
  assert.equal(lines.filter((l) => l.includes("TENANT_EMIT_RATE")).length, 1);
  const [row] = await app.services.db.sql.query<{ descendants: number }>("SELECT descendants FROM events WHERE id = $1::uuid", [full]);
  assert.equal(Number(row.descendants), 2);
});
