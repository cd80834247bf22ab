import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { configValueProblem } from "../../src/packaging/config-field.ts";
import { parseManifest, PLATFORM_VERSION } from "../../src/packaging/manifest-schema.ts";
import { assertProblem, limits } from "./helpers.ts";

const base = { slug: "demo", name: "Demo", version: "1.0.0" };
const problemsOf = (extra: Record<string, unknown>) => {
  const { manifest, problems } = parseManifest({ ...base, ...extra }, limits);
  assert.equal(manifest, undefined, "a manifest with problems must not be returned");
  return problems;
};

describe("parseManifest: valid manifests", () => {
  test("the minimal manifest gets every default, resources from the platform limits", () => {
    const { manifest, problems } = parseManifest(base, limits);
    assert.deepEqual(problems, []);
    assert.deepEqual(manifest, {
      ...base,
      entry: "main.js",
      permissions: [],
      routes: false,
      events: [],
      jobs: [],
      http_allowlist: [],
      resources: {
        timeout_ms: 5000,
        job_timeout_ms: 30_000,
        memory_mb: 128,
        max_disk_mb: 100,
        max_files: 10_000,
        max_db_documents: 100_000,
        max_db_mb: 100,
        rate_limit: { calls: 6000, period_seconds: 60 },
      },
      declared_resources: {},
      runtime: {
        health_check: { enabled: false, interval_seconds: 30, timeout_seconds: 3 },
        retry: { max_attempts: 3, backoff_seconds: 0.5 },
      },
      configuration: {},
      secrets: [],
      required_secrets: [],
      dependencies: {},
      collections: {},
    });
  });

  test("secrets: plain names are optional, {name, required} objects may be required; stored as names plus the required ones", () => {
    const { manifest, problems } = parseManifest({ ...base, secrets: ["OPTIONAL", { name: "API_KEY", required: true }, { name: "OTHER" }] }, limits);
    assert.deepEqual(problems, []);
    assert.deepEqual(manifest?.secrets, ["OPTIONAL", "API_KEY", "OTHER"]);
    assert.deepEqual(manifest?.required_secrets, ["API_KEY"]);
  });

  test("collections: declared indexes get unique: false by default", () => {
    const { manifest, problems } = parseManifest(
      { ...base, collections: { contacts: { indexes: [{ field: "email", unique: true }, { field: "address.city" }] }, notes: {} } },
      limits,
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(manifest?.collections, {
      contacts: { indexes: [{ field: "email", unique: true }, { field: "address.city", unique: false }] },
      notes: { indexes: [] },
    });
  });

  test("the good fixture keeps what it asks for and fills the rest", () => {
    const file = path.resolve(import.meta.dirname, "../fixtures/plugins/good/plugin.json");
    const { manifest, problems } = parseManifest(JSON.parse(readFileSync(file, "utf8")), limits);
    assert.deepEqual(problems, []);
    assert.equal(manifest?.resources.timeout_ms, 2000);
    assert.equal(manifest?.resources.job_timeout_ms, 30_000);
    assert.deepEqual(manifest?.resources.rate_limit, { calls: 100, period_seconds: 60 });
    assert.deepEqual(manifest?.configuration.max_retries, {
      type: "integer", default: 3, min: 1, max: 10, required: false, description: "Retries for outbound calls",
    });
    assert.equal(manifest?.jobs[0].timezone, "Europe/Paris");
  });

  test("a version is normalised, ./ is dropped from entry, a longer rate window is allowed", () => {
    const { manifest } = parseManifest(
      { ...base, version: "v2.3.4", entry: "./src/index.mjs", resources: { rate_limit: { calls: 100, period_seconds: 3600 } } },
      limits,
    );
    assert.equal(manifest?.version, "2.3.4");
    assert.equal(manifest?.entry, "src/index.mjs");
    assert.deepEqual(manifest?.resources.rate_limit, { calls: 100, period_seconds: 3600 });
  });

  test("the platform version satisfies the documented range", () => {
    assert.equal(PLATFORM_VERSION, "1.0.0");
    assert.deepEqual(parseManifest({ ...base, platform_version: ">=1.0 <2.0" }, limits).problems, []);
  });
});

describe("parseManifest: each rule", () => {
  test("identity fields", () => {
    const problems = problemsOf({ slug: "Bad Slug", version: "1.0", name: "", repo_url: "ftp://x.org/r" });
    assertProblem(problems, "slug", "2-63 characters");
    assertProblem(problems, "version", "semantic version");
    assertProblem(problems, "name", "must not be empty");
    assertProblem(problems, "repo_url", "http:// or https://");
    assertProblem(parseManifest({ name: "x" }, limits).problems, "slug", "is required");
    assertProblem(parseManifest([1, 2], limits).problems, "plugin.json", "must be an object, not a list");
  });

  test("entry must be a relative .js/.mjs/.ts path", () => {
    assertProblem(problemsOf({ entry: "../main.js" }), "entry", "relative path inside the package");
    assertProblem(problemsOf({ entry: "/abs/main.js" }), "entry", "relative path inside the package");
    assertProblem(problemsOf({ entry: "main.py" }), "entry", ".js, .mjs or .ts");
    assertProblem(problemsOf({ entry: "types.d.ts" }), "entry", ".js, .mjs or .ts");
    assert.equal(parseManifest({ ...base, entry: "main.ts" }, limits).manifest?.entry, "main.ts");
  });

  test("permissions: closed list, no duplicates", () => {
    assertProblem(problemsOf({ permissions: ["db.read", "db.admin"] }), "permissions[1]", 'unknown permission "db.admin"');
    assertProblem(problemsOf({ permissions: ["db.read", "llm.use", "db.read"] }), "permissions[2]", 'duplicate permission "db.read"');
  });

  test("events and routes", () => {
    assertProblem(problemsOf({ events: ["Build.Completed"] }), "events[0]", "event type");
    assertProblem(problemsOf({ events: ["nodot"] }), "events[0]", "event type");
    assertProblem(problemsOf({ events: ["a.b", "a.b"] }), "events[1]", 'duplicate event "a.b"');
    assertProblem(problemsOf({ routes: "yes" }), "routes", "must be true or false, not a string");
  });

  test("jobs: name, cron, time zone, unique names, no stray keys", () => {
    const problems = problemsOf({
      jobs: [
        { name: "Nightly", schedule: "61 * * * *" },
        { name: "sync", schedule: "*/5 * * * *", timezone: "Mars/Olympus" },
        { name: "sync", schedule: "0 * * * *", shedule: "x" },
      ],
    });
    assertProblem(problems, "jobs[0].name", "starting with a letter");
    assertProblem(problems, "jobs[0].schedule", "not a valid cron expression");
    assertProblem(problems, "jobs[1].timezone", "IANA time zone");
    assertProblem(problems, "jobs[2].shedule", 'did you mean "schedule"');
  });

  test("jobs: a duplicate name is pointed at", () => {
    const jobs = [{ name: "sync", schedule: "0 * * * *" }, { name: "sync", schedule: "0 1 * * *" }];
    assertProblem(problemsOf({ jobs }), "jobs[1].name", 'duplicate job name "sync"');
  });

  test("http_allowlist: hostnames or *.domain, nothing else", () => {
    const problems = problemsOf({
      http_allowlist: ["https://api.example.com", "api.example.com:443", "api.example.com/v1", "API.example.com", "*.com", "a_b"],
    });
    assertProblem(problems, "http_allowlist[0]", "without a scheme");
    assertProblem(problems, "http_allowlist[1]", "without a port");
    assertProblem(problems, "http_allowlist[2]", "without a path");
    assertProblem(problems, "http_allowlist[3]", "lowercase");
    assertProblem(problems, "http_allowlist[4]", "too broad");
    assertProblem(problems, "http_allowlist[5]", "must be a hostname");
  });

  test("resources may only lower the platform maxima, and the message says the maximum", () => {
    const problems = problemsOf({
      resources: { timeout_ms: 60_000, job_timeout_ms: 0, memory_mb: 4096, max_disk_mb: 101, max_files: 10_001, max_db_documents: 100_001, max_db_mb: 0, rate_limit: { calls: 6001 } },
    });
    assertProblem(problems, "resources.timeout_ms", "at most 5000 ms (the platform maximum)");
    assertProblem(problems, "resources.job_timeout_ms", "at least 100 ms");
    assertProblem(problems, "resources.memory_mb", "at most 128 MB");
    assertProblem(problems, "resources.max_disk_mb", "at most 100 MB");
    assertProblem(problems, "resources.max_files", "at most 10000 files (the platform maximum)");
    assertProblem(problems, "resources.max_db_documents", "at most 100000 documents");
    assertProblem(problems, "resources.max_db_mb", "at least 1 MB");
    assertProblem(problems, "resources.rate_limit.calls", "at most 6000 calls");
  });

  test("a shorter rate window is a higher rate and is refused", () => {
    const problems = problemsOf({ resources: { rate_limit: { calls: 200, period_seconds: 1 } } });
    assertProblem(problems, "resources.rate_limit", "200 calls per 1 s is above the platform maximum of 6000 calls per 60 s");
  });

  test("runtime bounds", () => {
    const problems = problemsOf({
      runtime: { health_check: { interval_seconds: 120, timeout_seconds: 90 }, retry: { max_attempts: 11, backoff_seconds: 0 } },
    });
    assertProblem(problems, "runtime.retry.max_attempts", "at most 10");
    assertProblem(problems, "runtime.retry.backoff_seconds", "positive");
    assertProblem(problems, "runtime.health_check.timeout_seconds", "at most 60");
    const tooSlow = problemsOf({ runtime: { health_check: { interval_seconds: 10, timeout_seconds: 15 } } });
    assertProblem(tooSlow, "runtime.health_check.timeout_seconds", "must not exceed interval_seconds");
  });

  test("configuration: defaults must fit their own schema", () => {
    const problems = problemsOf({
      configuration: {
        retries: { type: "integer", default: 2.5 },
        ratio: { type: "number", default: 11, min: 0, max: 10 },
        mode: { type: "string", enum: ["fast", "safe"], default: "slow" },
        name: { type: "string", min: 1 },
        window: { type: "integer", min: 5, max: 1 },
        flag: { type: "boolean", enum: ["yes"] },
        colour: { type: "color" },
        "bad key": { type: "string" },
      },
    });
    assertProblem(problems, "configuration.retries.default", "default must be an integer");
    assertProblem(problems, "configuration.ratio.default", "default must be at most 10");
    assertProblem(problems, "configuration.mode.default", 'must be one of "fast", "safe"');
    assertProblem(problems, "configuration.name.min", "only to integer and number");
    assertProblem(problems, "configuration.window.max", "must not be below min (5)");
    assertProblem(problems, "configuration.flag.enum[0]", "must be true or false");
    assertProblem(problems, "configuration.colour.type", "string, integer, number, boolean");
    assertProblem(problems, 'configuration["bad key"]', "bad key: must be 1-64 characters");
  });

  test("secrets, platform_version and dependencies", () => {
    const problems = problemsOf({
      secrets: ["API_KEY", "api-key", "API_KEY"],
      platform_version: ">=2.0.0",
      dependencies: { "other-plugin": "not a range" },
    });
    assertProblem(problems, "secrets[1]", "UPPER_SNAKE_CASE");
    assertProblem(problems, "platform_version", 'this platform is 1.0.0, which ">=2.0.0" does not accept');
    assertProblem(problems, "dependencies.other-plugin", "semver range");
    assertProblem(problemsOf({ secrets: ["A", "A"] }), "secrets[1]", 'duplicate secret "A"');
    assertProblem(problemsOf({ secrets: ["A", { name: "A", required: true }] }), "secrets[1]", 'duplicate secret "A"');
    assertProblem(problemsOf({ secrets: [{ name: "api-key", required: true }] }), "secrets[0].name", "UPPER_SNAKE_CASE");
    assertProblem(problemsOf({ secrets: [{ name: "A", required: "yes" }] }), "secrets[0]", '{"name": "API_KEY", "required": true}');
    assertProblem(problemsOf({ secrets: [{ name: "A", optional: true }] }), "secrets[0].optional", "unknown key");
    assertProblem(problemsOf({ secrets: [7] }), "secrets[0]", '{"name": "API_KEY", "required": true}');
    assertProblem(problemsOf({ platform_version: "whatever" }), "platform_version", "semver range");
    assertProblem(problemsOf({ dependencies: { demo: "^1.0.0" } }), "dependencies.demo", "cannot depend on itself");
  });

  test("collections: names, fields, bounds and duplicates", () => {
    const problems = problemsOf({
      collections: {
        Contacts: {},
        users: {},
        "x;drop": {},
        orders: {
          indexes: [
            { field: "total" },
            { field: "a..b" },
            { field: "email'); DROP TABLE users; --" },
            { field: "total", unique: true },
            { field: "id" },
          ],
        },
        flags: { indexes: [{ field: "n", unique: "yes" }] },
        many: { indexes: ["a", "b", "c", "d", "e", "f"].map((field) => ({ field })) },
        items: { indexes: [{ field: "a" }], index: [] },
        tags: { indexes: [{ field: "a", order: "desc" }] },
      },
    });
    assertProblem(problems, "collections.Contacts", "bad key: must be 1-63 characters of a-z, 0-9 and _");
    assertProblem(problems, "collections.users", "bad key: users and files are core tables");
    assertProblem(problems, "collections.x;drop", "bad key: must be 1-63 characters");
    assertProblem(problems, "collections.many.indexes", "at most 5 indexes");
    assertProblem(problems, "collections.orders.indexes[1].field", "must be a field like email or address.city");
    assertProblem(problems, "collections.orders.indexes[2].field", "must be a field like email");
    assertProblem(problems, "collections.orders.indexes[3].field", 'duplicate index on field "total"');
    assertProblem(problems, "collections.orders.indexes[4].field", "kept by the platform");
    assertProblem(problems, "collections.flags.indexes[0].unique", "must be true or false, not a string");
    assertProblem(problems, "collections.items.index", 'unknown key; did you mean "indexes"?');
    assertProblem(problems, "collections.tags.indexes[0].order", "unknown key");
    const deep = problemsOf({ collections: { c: { indexes: [{ field: "a.b.c.d.e.f.g.h.i" }] } } });
    assertProblem(deep, "collections.c.indexes[0].field", "up to 8 dotted names");
  });

  test("collections: at most 20 may declare indexes", () => {
    const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`c${i}`, { indexes: [{ field: "a" }] }]));
    assertProblem(problemsOf({ collections: many }), "collections", "declares 21 collections; at most 20");
    assertProblem(problemsOf({ collections: [] }), "collections", "must be an object, not a list");
  });

  test("unknown keys are refused at every level, with a hint for typos", () => {
    const problems = problemsOf({ permisions: [], colour: "blue", resources: { timeout: 10 } });
    assertProblem(problems, "permisions", 'unknown key; did you mean "permissions"?');
    assertProblem(problems, "resources.timeout", 'did you mean "timeout_ms"?');
    const colour = problems.find((p) => p.path === "colour");
    assert.equal(colour?.message, "unknown key");
  });

  test("every problem is reported at once", () => {
    const problems = problemsOf({
      slug: "X", version: "one", permissions: ["root"], jobs: [{ name: "a", schedule: "bad" }],
      resources: { memory_mb: 4096 }, secrets: ["x"], colour: "blue",
    });
    for (const p of ["slug", "version", "permissions[0]", "jobs[0].schedule", "resources.memory_mb", "secrets[0]", "colour"]) {
      assert.ok(problems.some((q) => q.path === p), `missing ${p} in ${JSON.stringify(problems)}`);
    }
  });
});

describe("configValueProblem", () => {
  test("checks type, bounds and enum of a tenant's value", () => {
    const field = { type: "integer" as const, min: 1, max: 10 };
    assert.equal(configValueProblem(field, 5), undefined);
    assert.equal(configValueProblem(field, "5"), 'must be an integer, not "5"');
    assert.equal(configValueProblem(field, 0), "must be at least 1");
    assert.equal(configValueProblem({ type: "string", enum: ["a"] }, "b"), 'must be one of "a"');
  });
});
