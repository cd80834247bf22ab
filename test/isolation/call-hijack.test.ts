import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";

// A ctx request is answered only for a call its own isolate is running. The attacker reaches for
// the runtime's dispatcher from a sloppy-mode handler and, if it finds it, replays ctx calls under
// guessed call identities while another tenant's call is in flight on the same sandbox process.

let app: TestApp;
let victim: TestTenant;
let attacker: TestTenant;
const SECRET = `victim-secret-${randomBytes(8).toString("hex")}`;
const EMAIL = `victim-${randomBytes(4).toString("hex")}@example.com`;

before(async () => {
  // One sandbox process: both tenants' isolates share it, the setting the attack needs.
  app = await startTestApp({ env: { SANDBOX_PROCESSES: "1" } });
  victim = await app.tenant("victim");
  attacker = await app.tenant("attacker");
  assert.equal((await victim.upload(fixtureZip("hijack-victim"))).status, 201);
  assert.equal((await victim.request("PUT", "/api/plugins/hijack-victim/secrets/TOKEN", { json: { value: SECRET } })).status, 204);
  assert.equal((await victim.request("POST", "/api/users", { json: { email: EMAIL } })).status, 201);
  const up = await attacker.upload(fixtureZip("hostile-hijack"));
  assert.equal(up.status, 201, await up.clone().text());
});
after(() => app.close());

test("a plugin reaching for the runtime's internals cannot act as another tenant's call", async () => {
  const busy = victim.request("GET", "/ext/hijack-victim/busy?ms=2500");
  // Let the victim's call get going; then scan every call identity the process handed out so far.
  await new Promise((r) => setTimeout(r, 300));
  const res = await attacker.request("GET", "/ext/hostile-hijack/hijack?from=1&to=400");
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const report = JSON.parse(text) as { dispatchFound: boolean; functionsReached: number; stolen: unknown[] };
  assert.deepEqual(report.stolen, [], "no ctx call answered for another call");
  assert.ok(!text.includes(SECRET), "the victim's secret never reaches the attacker");
  assert.ok(!text.includes(EMAIL), "the victim's users never reach the attacker");
  assert.equal(report.dispatchFound, false, "the runtime's dispatcher is not reachable from a stack trace or .caller");
  const done = await busy;
  assert.equal(done.status, 200, await done.clone().text());
  assert.ok(((await done.json()) as { calls: number }).calls > 0);
});
