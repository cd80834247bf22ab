import assert from "node:assert/strict";
import path from "node:path";
import { describe, test } from "node:test";
import type { Problem } from "../../src/packaging/problem.ts";
import type { Registered } from "../../src/packaging/registered.ts";
import { compareRegistrations, validatePackage } from "../../src/packaging/validate-package.ts";
import { buildZip, zipDirectory } from "../support/zip-builder.ts";
import { assertProblem, limits, problemsThrown, upload } from "./helpers.ts";

const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/plugins");
const opts = { upload, limits };
const fixture = (name: string, prefix = "") => zipDirectory(path.join(FIXTURES, name), prefix);
const problemsOf = (name: string): Problem[] => problemsThrown(() => validatePackage(fixture(name), opts));

describe("validatePackage: fixture plugins", () => {
  test("good: manifest, files and a content hash", () => {
    const pkg = validatePackage(fixture("good"), opts);
    assert.equal(pkg.manifest.slug, "good");
    assert.equal(pkg.manifest.version, "1.0.0");
    assert.equal(pkg.manifest.routes, true);
    assert.deepEqual(pkg.manifest.events, ["auth.user.created"]);
    assert.deepEqual(pkg.manifest.secrets, ["API_KEY"]);
    assert.deepEqual([...pkg.files.keys()].sort(), ["lib/util.js", "main.js", "plugin.json"]);
    assert.deepEqual(pkg.webhooks, []);
    assert.match(pkg.sha256, /^[0-9a-f]{64}$/);
    // The same files in a top folder are the same content.
    assert.equal(validatePackage(fixture("good", "good/"), opts).sha256, pkg.sha256);
    assert.notEqual(validatePackage(fixture("build-notify"), opts).sha256, pkg.sha256);
  });

  test("build-notify: a webhook with its transform", () => {
    const pkg = validatePackage(fixture("build-notify"), opts);
    assert.equal(pkg.webhooks.length, 1);
    assert.equal(pkg.webhooks[0].name, "build_notify");
    assert.deepEqual(pkg.webhooks[0].on, ["build.completed", "auth.user.created"]);
    assert.deepEqual(pkg.webhooks[0].transform?.file, "transforms/build_completed.js");
    assert.equal(pkg.webhooks[0].delivery.signing.secret, "${SECRET:WEBHOOK_SIGNING_KEY}");
  });

  test("each manifest error family is reported where it is", () => {
    assertProblem(problemsOf("bad-slug"), "slug", "2-63 characters");
    assertProblem(problemsOf("bad-version"), "version", "semantic version");
    assertProblem(problemsOf("unknown-permission"), "permissions[1]", 'unknown permission "db.admin"');
    assertProblem(problemsOf("bad-cron"), "jobs[0].schedule", "not a valid cron expression");
    const over = problemsOf("resources-over-limit");
    assertProblem(over, "resources.timeout_ms", "at most 5000 ms");
    assertProblem(over, "resources.memory_mb", "at most 128 MB");
    assertProblem(problemsOf("unknown-key"), "evnets", 'did you mean "events"?');
    assertProblem(problemsOf("missing-entry"), "entry", "src/app.js is not in the package");
  });

  test("many-errors: every problem in one answer, 422", () => {
    const problems = problemsOf("many-errors");
    assertProblem(problems, "slug", "2-63 characters");
    assertProblem(problems, "version", "semantic version");
    assertProblem(problems, "permissions[1]", 'unknown permission "root"');
    assertProblem(problems, "jobs[0].schedule", "cron");
    assertProblem(problems, "resources.memory_mb", "at most 128 MB");
    assertProblem(problems, "secrets[0]", "UPPER_SNAKE_CASE");
    assertProblem(problems, "colour", "unknown key");
  });

  test("forbidden and dynamic imports", () => {
    assertProblem(problemsOf("forbidden-import"), "main.js:2", '"fs" cannot be imported');
    assertProblem(problemsOf("dynamic-import"), "main.js:5", 'dynamic import("fs") is not allowed');
  });

  test("webhook-bad: the YAML's problems, file and field", () => {
    const problems = problemsOf("webhook-bad");
    const f = "webhooks/notify.yaml";
    assertProblem(problems, `${f}: api_version`, 'must be "v1"');
    assertProblem(problems, `${f}: on`, "at least one event type");
    assertProblem(problems, `${f}: delivery.url`, "http(s) URL");
    assertProblem(problems, `${f}: delivery.headers.webhook-signature`, "set by the platform");
    assertProblem(problems, `${f}: transform.language`, '"javascript"');
    assertProblem(problems, `${f}: retry.max_attempts`, "at most 20");
  });

  test("manifest, entry, import and webhook problems all together", () => {
    const buf = buildZip([
      { name: "plugin.json", content: JSON.stringify({ slug: "x!", name: "X", version: "1.0.0", entry: "app.js" }) },
      { name: "main.js", content: 'import "fs";' },
      { name: "webhooks/w.yaml", content: "api_version: v1\n" },
    ]);
    const problems = problemsThrown(() => validatePackage(buf, opts));
    assertProblem(problems, "slug", "2-63 characters");
    assertProblem(problems, "entry", "app.js is not in the package");
    assertProblem(problems, "main.js:1", '"fs" cannot be imported');
    assertProblem(problems, "webhooks/w.yaml: on", "is required");
  });

  test("plugin.json that is not JSON", () => {
    const buf = buildZip([{ name: "plugin.json", content: "{ slug: good }" }, { name: "main.js", content: "" }]);
    assertProblem(problemsThrown(() => validatePackage(buf, opts)), "plugin.json", "not valid JSON");
  });

  test("an unsafe archive stops at the ZIP checks", () => {
    const buf = buildZip([{ name: "plugin.json", content: "{}" }, { name: "../../etc/cron.d/x", content: "x" }]);
    const problems = problemsThrown(() => validatePackage(buf, opts));
    assert.deepEqual(problems.map((p) => p.path), ["../../etc/cron.d/x"]);
  });
});

describe("compareRegistrations", () => {
  const manifest = validatePackage(fixture("good"), opts).manifest;
  const registered = (extra: Partial<Registered> = {}): Registered => ({
    hooks: ["auth.user.created"],
    routes: [{ path: "/ping", methods: ["GET"], auth: "user" }],
    jobs: ["daily_cleanup"],
    lifecycle: [],
    health: false,
    ...extra,
  });

  test("the good plugin's code matches its manifest", () => {
    assert.deepEqual(compareRegistrations(manifest, registered()), []);
  });

  test("declared but not registered, and registered but not declared", () => {
    const problems = compareRegistrations(manifest, registered({ hooks: ["build.completed"], jobs: ["hourly"] }));
    assertProblem(problems, "events[0]", 'no hook registered for "auth.user.created"');
    assertProblem(problems, "events", 'hook("build.completed") is registered but "build.completed" is not declared');
    assertProblem(problems, "jobs[0]", 'no handler registered for job "daily_cleanup"');
    assertProblem(problems, "jobs", 'job("hourly") has a handler but no entry in jobs');
  });

  test("routes: true exactly when routes are registered", () => {
    assertProblem(compareRegistrations(manifest, registered({ routes: [] })), "routes", "routes is true but the code registers no route");
    const quiet = { ...manifest, routes: false };
    assertProblem(compareRegistrations(quiet, registered()), "routes", "registers routes (/ping) but routes is not true");
  });

  test("duplicate routes and bad route options", () => {
    const routes = [
      { path: "/ping", methods: ["GET", "POST"], auth: "user" },
      { path: "/ping", methods: ["get"], auth: "user" },
      { path: "nope", methods: ["FETCH"], auth: "everyone" },
    ];
    const problems = compareRegistrations(manifest, registered({ routes }));
    assertProblem(problems, "routes", "route GET /ping is registered more than once");
    assertProblem(problems, "routes", "route nope: the path must start with /");
    assertProblem(problems, "routes", 'auth "everyone" is not one of user, admin, public');
    assertProblem(problems, "routes", "unknown method FETCH");
  });
});
