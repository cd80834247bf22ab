import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { expectError, ok } from "../support/http-assert.ts";
import { EXAMPLES, fixtureZip, startTestApp } from "../support/test-app.ts";

// GET /metrics: Prometheus text with the platform's counters moving as the API is used.

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.indexOf("}"));
    const parts = inner.split(",");
    if (want.every((w) => parts.includes(w))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}

/** The sum of every sample of `name` carrying these labels (across the labels not named). */
function total(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) && want.every((w) => line.slice(name.length + 1, line.indexOf("}")).split(",").includes(w)))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

describe("GET /metrics", () => {
  test("HTTP requests by route pattern, plugin invocations, capability denials and the sandbox gauges", async () => {
    const app = await startTestApp();
    after(() => app.close());
    const ten = await app.tenant();
    await ok(await ten.upload(fixtureZip("hello", EXAMPLES)), 201);
    await ok(await ten.upload(fixtureZip("cap-llm-denied")), 201);
    for (let i = 0; i < 3; i++) await ok(await ten.request("GET", "/ext/hello/ping"));
    const denied = await ok(await ten.request("POST", "/ext/cap-llm-denied/run", { json: { args: ["hi"] } }));
    assert.equal(denied.error.name, "PermissionDenied");
    await expectError(await ten.request("GET", "/api/plugins/nope"), 404, "plugin_not_found");
    // The admin UI's static files have no Express route; whatever they answer, one series.
    for (const p of ["/admin/", "/admin/no-such-file.js", "/Admin/app.css"]) await (await fetch(`${app.url}${p}`)).arrayBuffer();

    const res = await fetch(`${app.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/plain/);
    const text = await res.text();
    assert.ok((sample(text, "sbh_http_requests_total", { method: "GET", route: "/ext/:slug/*", status: "200" }) ?? 0) >= 3, "/ext requests, one series for every plugin path");
    assert.equal(sample(text, "sbh_http_requests_total", { method: "GET", route: "/api/plugins/:id", status: "404" }), 1);
    assert.ok((sample(text, "sbh_plugin_invocations_total", { kind: "route", status: "ok" }) ?? 0) >= 4);
    assert.ok((sample(text, "sbh_plugin_invocation_duration_seconds_count", { kind: "route" }) ?? 0) >= 4);
    assert.equal(sample(text, "sbh_capability_calls_total", { method: "llm.run", outcome: "denied" }), 1);
    assert.match(text, /^sbh_sandbox_processes 2$/m);
    assert.match(text, /^sbh_isolates \d+$/m);
    assert.match(text, /^sbh_queue_depth \d+$/m);
    assert.match(text, /^sbh_process_resident_memory_bytes \d+/m);
    assert.doesNotMatch(text, /route="\/ext\/hello\/ping"/, "raw paths never become labels");
    assert.equal(total(text, "sbh_http_requests_total", { method: "GET", route: "/admin" }), 3, "every /admin request under the one /admin label");
    assert.doesNotMatch(text, /route="\/admin\//i);
  });

  test("with METRICS_TOKEN set, /metrics needs it as a Bearer token", async () => {
    const token = "a-metrics-token-of-some-length";
    const app = await startTestApp({ env: { METRICS_TOKEN: token } });
    after(() => app.close());
    await expectError(await fetch(`${app.url}/metrics`), 401, "missing_token");
    await expectError(await fetch(`${app.url}/metrics`, { headers: { authorization: "Bearer wrong-token-but-long-enough" } }), 401, "invalid_token");
    const res = await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /sbh_http_requests_total/);
  });
});
