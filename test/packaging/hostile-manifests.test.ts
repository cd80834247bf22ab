import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { packageLimits } from "../../src/config.ts";
import { parseManifest } from "../../src/packaging/manifest-schema.ts";
import { collectPluginFiles, packFiles } from "../../src/packaging/pack.ts";
import type { Problem } from "../../src/packaging/problem.ts";
import { validatePackage } from "../../src/packaging/validate-package.ts";
import { expectError, ok } from "../support/http-assert.ts";
import { FIXTURES, fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";
import { assertProblem, limits, problemsThrown, upload } from "./helpers.ts";

// Manifests and packages a hostile tenant uploaded to load the platform: thousands of jobs,
// schedules firing every second, deadlines too short to load the code (each call then overran and
// the watchdog killed a shared sandbox process), and modules of many megabytes. Each is refused at
// upload with every problem listed.

const MiB = 1024 * 1024;
const opts = { upload, limits };
const base = { slug: "hostile", name: "Hostile", version: "1.0.0" };
const problemsOfManifest = (manifest: Record<string, unknown>, lim = limits): Problem[] => {
  const { manifest: parsed, problems } = parseManifest({ ...base, ...manifest }, lim);
  assert.equal(parsed, undefined, "a manifest with problems must not be returned");
  return problems;
};
const acceptedManifest = (manifest: Record<string, unknown>, lim = limits) => {
  const { manifest: parsed, problems } = parseManifest({ ...base, ...manifest }, lim);
  assert.deepEqual(problems, []);
  return parsed!;
};
const fixtureFiles = (name: string) => collectPluginFiles(path.join(FIXTURES, name));
const packageProblems = (files: Map<string, Buffer>) => problemsThrown(() => validatePackage(packFiles(files), opts));

/** A package of `manifest` (slug etc. filled in) and `files` (main.js defaults to an empty module). */
function pluginFiles(manifest: Record<string, unknown>, files: Record<string, string | Buffer> = {}): Map<string, Buffer> {
  const out = new Map<string, Buffer>([["plugin.json", Buffer.from(JSON.stringify({ ...base, ...manifest }))]]);
  out.set("main.js", Buffer.from("export {};\n"));
  for (const [name, content] of Object.entries(files)) out.set(name, Buffer.from(content));
  return out;
}

/**
 * A JavaScript module of exactly `bytes` bytes: one string constant of random a/b characters, so
 * it deflates about 7:1 (well under the ZIP ratio limit) and no two modules are alike.
 */
function moduleOf(bytes: number, name = "blob"): string {
  const head = `export const ${name} = "`;
  const tail = `";\n`;
  const filler = randomBytes(Math.floor(bytes) - head.length - tail.length);
  for (let i = 0; i < filler.length; i++) filler[i] = filler[i]! & 1 ? 0x61 : 0x62;
  return head + filler.toString("latin1") + tail;
}

const many = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));
const jobs = (n: number, schedule = "0 2 * * *") => many(n, (i) => ({ name: `job_${i}`, schedule }));

describe("manifest lists are bounded", () => {
  test("2,000 jobs are refused with one problem saying the maximum (PLUGIN_MAX_JOBS, default 20); 20 are fine", () => {
    const problems = problemsOfManifest({ jobs: jobs(2000) });
    assert.deepEqual(problems, [{ path: "jobs", message: "lists 2000 jobs; at most 20 are allowed" }]);
    assert.equal(acceptedManifest({ jobs: jobs(20) }).jobs.length, 20);
  });

  test("PLUGIN_MAX_JOBS sets the cap", () => {
    const lowered = packageLimits({ PLUGIN_MAX_JOBS: "2" }).limits;
    assert.equal(lowered.maxJobs, 2);
    assert.equal(packageLimits({}).limits.maxJobs, 20);
    assertProblem(problemsOfManifest({ jobs: jobs(3) }, lowered), "jobs", "lists 3 jobs; at most 2 are allowed");
    acceptedManifest({ jobs: jobs(2) }, lowered);
  });

  test("events, secrets, http_allowlist, configuration, dependencies and enum values are capped, each reported at once", () => {
    const problems = problemsOfManifest({
      jobs: jobs(21),
      events: many(101, (i) => `acme.thing_${i}.happened`),
      secrets: many(51, (i) => `KEY_${i}`),
      http_allowlist: many(51, (i) => `api${i}.example.com`),
      configuration: {
        ...Object.fromEntries(many(50, (i) => [`key_${i}`, { type: "string" }] as const)),
        mode: { type: "string", enum: many(101, (i) => `m${i}`) },
      },
      dependencies: Object.fromEntries(many(21, (i) => [`dep-${i}`, "^1.0.0"] as const)),
    });
    assertProblem(problems, "jobs", "lists 21 jobs; at most 20 are allowed");
    assertProblem(problems, "events", "lists 101 events; at most 100 are allowed");
    assertProblem(problems, "secrets", "lists 51 secrets; at most 50 are allowed");
    assertProblem(problems, "http_allowlist", "lists 51 host patterns; at most 50 are allowed");
    assertProblem(problems, "configuration", "declares 51 keys; at most 50 are allowed");
    assertProblem(problems, "configuration.mode.enum", "must list at most 100 values");
    assertProblem(problems, "dependencies", "declares 21 dependencies; at most 20 are allowed");
    assert.equal(problems.length, 7, JSON.stringify(problems, null, 2));
  });

  test("the caps themselves are accepted", () => {
    const m = acceptedManifest({
      events: many(100, (i) => `acme.thing_${i}.happened`),
      secrets: many(50, (i) => `KEY_${i}`),
      http_allowlist: many(50, (i) => `api${i}.example.com`),
      configuration: Object.fromEntries(many(50, (i) => [`key_${i}`, { type: "string", enum: many(100, (j) => `v${j}`) }] as const)),
      dependencies: Object.fromEntries(many(20, (i) => [`dep-${i}`, "^1.0.0"] as const)),
    });
    assert.equal(m.events.length, 100);
    assert.equal(Object.keys(m.configuration).length, 50);
  });

  test("an event type or a schedule the length of a novel is refused without being parsed", () => {
    const problems = problemsOfManifest({ events: [`a.${"b".repeat(200)}`], jobs: [{ name: "x", schedule: `0 2 * * *${" ".repeat(200)}` }] });
    assertProblem(problems, "events[0]", "at most 128 characters");
    assertProblem(problems, "jobs[0].schedule", "a cron expression may have at most 100");
  });

  test("the committed editor schema carries the caps", () => {
    const schema = JSON.parse(readFileSync(path.resolve(import.meta.dirname, "../../schemas/plugin.schema.json"), "utf8"));
    assert.equal(schema.properties.jobs.maxItems, 20);
    assert.equal(schema.properties.events.maxItems, 100);
    assert.equal(schema.properties.secrets.maxItems, 50);
    assert.equal(schema.properties.http_allowlist.maxItems, 50);
    assert.equal(schema.properties.configuration.maxProperties, 50);
    assert.equal(schema.properties.dependencies.maxProperties, 20);
  });
});

describe("job schedules fire at most once a minute", () => {
  test("hostile-per-second-cron: every schedule with a repeating seconds field is refused, each named", () => {
    const problems = packageProblems(fixtureFiles("hostile-per-second-cron"));
    assert.deepEqual(
      problems.map((p) => p.path),
      ["jobs[0].schedule", "jobs[1].schedule", "jobs[2].schedule"],
      JSON.stringify(problems, null, 2),
    );
    assertProblem(problems, "jobs[0].schedule", 'fires more often than once a minute (seconds field "*")');
    assertProblem(problems, "jobs[1].schedule", '(seconds field "*/5")');
    assertProblem(problems, "jobs[2].schedule", '(seconds field "0,30")');
  });

  test("five fields, nicknames and six fields on one fixed second are accepted", () => {
    for (const schedule of ["* * * * *", "*/5 * * * *", "0 2 * * *", "@hourly", "0 * * * * *", "30 */5 * * * *", "  7   0 2 * * *  "]) {
      acceptedManifest({ jobs: [{ name: "ok", schedule }] });
    }
    for (const schedule of ["* * * * * *", "0-59 * * * * *", "*/1 * * * * *", "0,1 * * * * *"]) {
      assertProblem(problemsOfManifest({ jobs: [{ name: "fast", schedule }] }), "jobs[0].schedule", "more often than once a minute");
    }
    // An invalid expression gets the syntax problem, not both.
    assert.deepEqual(problemsOfManifest({ jobs: [{ name: "bad", schedule: "61 * * * * *" }] }), [
      { path: "jobs[0].schedule", message: "is not a valid cron expression (like 0 2 * * *)" },
    ]);
  });

  test("PLUGIN_ALLOW_SECOND_SCHEDULES=true lets the operator allow them (the fixture is otherwise valid)", () => {
    const allowing = packageLimits({ PLUGIN_ALLOW_SECOND_SCHEDULES: "true" }).limits;
    assert.equal(allowing.allowSecondSchedules, true);
    assert.equal(packageLimits({}).limits.allowSecondSchedules, false);
    const pkg = validatePackage(packFiles(fixtureFiles("hostile-per-second-cron")), { upload, limits: allowing });
    assert.deepEqual(pkg.manifest.jobs.map((j) => j.schedule), ["* * * * * *", "*/5 * * * * *", "0,30 * * * * *", "30 * * * * *"]);
  });
});

describe("manifest timeouts have floors", () => {
  test("hostile-tiny-timeouts: timeout_ms, job_timeout_ms and the health check's timeout_seconds are each refused", () => {
    const problems = packageProblems(fixtureFiles("hostile-tiny-timeouts"));
    assert.deepEqual(
      problems.map((p) => p.path).sort(),
      ["resources.job_timeout_ms", "resources.timeout_ms", "runtime.health_check.timeout_seconds"],
      JSON.stringify(problems, null, 2),
    );
    assertProblem(problems, "resources.timeout_ms", "must be at least 100 ms");
    assertProblem(problems, "resources.job_timeout_ms", "must be at least 100 ms");
    assertProblem(problems, "runtime.health_check.timeout_seconds", "must be at least 0.5 (seconds; loading the plugin's code counts)");
  });

  test("the floors themselves are accepted", () => {
    const m = acceptedManifest({
      resources: { timeout_ms: 100, job_timeout_ms: 100 },
      runtime: { health_check: { enabled: true, interval_seconds: 5, timeout_seconds: 0.5 } },
    });
    assert.equal(m.resources.timeout_ms, 100);
    assert.equal(m.runtime.health_check.timeout_seconds, 0.5);
    assertProblem(problemsOfManifest({ runtime: { health_check: { interval_seconds: 4 } } }), "runtime.health_check.interval_seconds", "at least 5");
  });

  test("a platform maximum set below a floor is still reachable", () => {
    const low = { ...limits, timeoutMs: 50 };
    assert.equal(acceptedManifest({ resources: { timeout_ms: 50 } }, low).resources.timeout_ms, 50);
  });
});

describe("plugin code is bounded per module and in total", () => {
  test("a module over 2 MiB is refused, naming the file; other files of any size do not count", () => {
    const problems = packageProblems(
      pluginFiles({}, { "main.js": 'import "./big.js";\n', "big.js": moduleOf(2 * MiB + 1), "static/data.txt": moduleOf(3 * MiB) }),
    );
    assert.deepEqual(problems, [{ path: "big.js", message: "is 2.1 MiB (2097153 bytes); a module may be at most 2 MiB (2097152 bytes)" }]);
  });

  test("TypeScript counts as compiled: types are free, code is not", () => {
    const types = `export interface Huge {\n${many(120_000, (i) => `  field_${i}: string;`).join("\n")}\n}\n`;
    assert.ok(types.length > 2 * MiB);
    const problems = packageProblems(
      pluginFiles({ entry: "main.ts" }, { "main.ts": 'import "./lib/types.ts";\nimport "./lib/huge.ts";\n', "lib/types.ts": types, "lib/huge.ts": moduleOf(2 * MiB + 10) }),
    );
    assert.equal(problems.length, 1, JSON.stringify(problems, null, 2));
    assertProblem(problems, "lib/huge.ts", "once compiled; a module may be at most 2 MiB");
  });

  test("modules under the per-module cap but over 5 MiB together are refused once, naming the largest", () => {
    const files = pluginFiles(
      {},
      {
        "main.js": 'import "./a.js";\nimport "./b.js";\nimport "./c.js";\n',
        "a.js": moduleOf(1.9 * MiB),
        "b.js": moduleOf(1.8 * MiB),
        "c.js": moduleOf(1.5 * MiB),
      },
    );
    const total = [...files].filter(([name]) => name.endsWith(".js")).reduce((sum, [, data]) => sum + data.length, 0);
    assert.deepEqual(packageProblems(files), [
      {
        path: "package",
        message:
          `the modules total 5.3 MiB (${total} bytes); a plugin's code may be at most 5 MiB (5242880 bytes) ` +
          "(largest: a.js 1.9 MiB (1992294 bytes), b.js 1.8 MiB (1887436 bytes), c.js 1.5 MiB (1572864 bytes))",
      },
    ]);
  });

  test("UPLOAD_MAX_MODULE_BYTES and UPLOAD_MAX_CODE_BYTES set the caps", () => {
    const env = packageLimits({ UPLOAD_MAX_MODULE_BYTES: "4096", UPLOAD_MAX_CODE_BYTES: "6000" });
    assert.deepEqual([env.upload.maxModuleBytes, env.upload.maxCodeBytes], [4096, 6000]);
    assert.deepEqual([packageLimits({}).upload.maxModuleBytes, packageLimits({}).upload.maxCodeBytes], [2 * MiB, 5 * MiB]);
    const files = pluginFiles({}, { "main.js": 'import "./a.js";\nimport "./b.js";\n', "a.js": moduleOf(5000), "b.js": moduleOf(3000) });
    const problems = problemsThrown(() => validatePackage(packFiles(files), { upload: env.upload, limits }));
    assert.deepEqual(problems.map((p) => p.path), ["a.js", "package"]);
  });
});

describe("over HTTP: 422 invalid_plugin listing every problem", () => {
  let app: TestApp;
  let t: TestTenant;
  before(async () => {
    app = await startTestApp();
    t = await app.tenant("hostile");
  });
  after(async () => app?.close());

  async function refused(zip: Buffer, paths: string[]): Promise<Problem[]> {
    const body = await expectError(await t.upload(zip), 422, "invalid_plugin");
    const details = body.error.details as Problem[];
    assert.deepEqual(details.map((p) => p.path).sort(), [...paths].sort(), JSON.stringify(details, null, 2));
    return details;
  }

  test("2,000 jobs, a per-second schedule, tiny timeouts and a big module", async () => {
    const swarm = await refused(packFiles(pluginFiles({ jobs: jobs(2000, "* * * * * *"), events: many(500, (i) => `acme.e${i}.x`) })), ["jobs", "events"]);
    assertProblem(swarm, "jobs", "lists 2000 jobs; at most 20 are allowed");
    await refused(fixtureZip("hostile-per-second-cron"), ["jobs[0].schedule", "jobs[1].schedule", "jobs[2].schedule"]);
    await refused(fixtureZip("hostile-tiny-timeouts"), ["resources.timeout_ms", "resources.job_timeout_ms", "runtime.health_check.timeout_seconds"]);
    const big = await refused(packFiles(pluginFiles({}, { "main.js": `${moduleOf(2 * MiB + 100)}` })), ["main.js"]);
    assertProblem(big, "main.js", "a module may be at most 2 MiB");
    // Nothing of them was installed.
    const listed = await ok(await t.request("GET", "/api/plugins"));
    assert.deepEqual(listed.plugins, []);
  });
});
