import assert from "node:assert/strict";
import { after, before, describe, test, type TestContext } from "node:test";
import semver from "semver";
import { expectError, ok } from "../support/http-assert.ts";
import { postgresAvailable, requireOrSkip } from "../support/services.ts";
import { fixtureZip, startTestApp, type TestApp, type TestTenant, withManifest, uploadWith } from "../support/test-app.ts";
import { databaseKinds, type DatabaseKind } from "../support/test-database.ts";

// Seed 004 dependencies after the upload: an enabled plugin keeps every plugin it requires
// installed, enabled and in range. Disable, uninstall, rollback and upgrade of a required plugin
// answer 409 `dependency_conflict` naming the dependents, or with ?cascade=true disable them first
// (transitively, each audited); enabling a plugin whose requirements are not met is a 409 too.

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app.close());

/** A fresh tenant with dep-base 1.0.0, dep-child (^1.0.0) and, when asked, dep-grandchild (dep-child ^1.0.0). */
async function family(opts: { grandchild?: boolean } = {}): Promise<TestTenant> {
  const t = await app.tenant("deps");
  await ok(await t.upload(fixtureZip("dep-base-v1")), 201);
  await ok(await t.upload(fixtureZip("dep-child")), 201);
  if (opts.grandchild) await ok(await t.upload(fixtureZip("dep-grandchild")), 201);
  return t;
}

async function plugin(t: TestTenant, slug: string): Promise<{ status: string; version: string }> {
  return (await ok(await t.request("GET", `/api/plugins/${slug}`))).plugin;
}

async function assertServing(t: TestTenant, slug: string): Promise<void> {
  const body = await ok(await t.request("GET", `/ext/${slug}/ping`));
  assert.equal(body.plugin, slug);
}

/** The cascade's audit entries (plugin.disabled with cascade_from), newest first. */
async function cascadeEntries(t: TestTenant): Promise<{ plugin: string; details: any }[]> {
  const { entries } = await ok(await t.request("GET", "/api/audit?action=plugin.disabled&limit=100"));
  return entries.filter((e: { details: { cascade_from?: string } }) => e.details.cascade_from);
}

describe("disable", () => {
  test("of a plugin an enabled plugin requires is a 409 naming it and its range; nothing changes", async () => {
    const t = await family();
    const body = await expectError(await t.request("POST", "/api/plugins/dep-base/disable"), 409, "dependency_conflict");
    assert.match(body.error.message, /dep-child \(requires dep-base \^1\.0\.0\)/);
    assert.match(body.error.message, /cascade=true/);
    assert.deepEqual(body.error.details, {
      plugin: "dep-base",
      action: "disable",
      dependents: [{ slug: "dep-child", version: "1.0.0", requires: "dep-base", range: "^1.0.0" }],
    });
    assert.equal((await plugin(t, "dep-base")).status, "enabled");
    assert.equal((await plugin(t, "dep-child")).status, "enabled");
    await assertServing(t, "dep-child");
    assert.deepEqual(await cascadeEntries(t), []);
  });

  test("names dependents of dependents too, and cascade=true disables them all, dependents first, each audited", async () => {
    const t = await family({ grandchild: true });
    const refused = await expectError(await t.request("POST", "/api/plugins/dep-base/disable?cascade=false"), 409, "dependency_conflict");
    assert.deepEqual(
      refused.error.details.dependents.map((d: { slug: string; requires: string; range: string }) => [d.slug, d.requires, d.range]),
      [
        ["dep-grandchild", "dep-child", "^1.0.0"],
        ["dep-child", "dep-base", "^1.0.0"],
      ],
    );

    const done = await ok(await t.request("POST", "/api/plugins/dep-base/disable?cascade=true"));
    assert.equal(done.plugin.status, "disabled");
    for (const slug of ["dep-base", "dep-child", "dep-grandchild"]) assert.equal((await plugin(t, slug)).status, "disabled", slug);
    await expectError(await t.request("GET", "/ext/dep-child/ping"), 404, "plugin_not_found");
    await expectError(await t.request("GET", "/ext/dep-grandchild/ping"), 404, "plugin_not_found");

    // One entry each; the order of disabling is the order of `dependents` above (entries written
    // within one millisecond would not show it reliably).
    const { entries } = await ok(await t.request("GET", "/api/audit?action=plugin.disabled"));
    const bySlug = new Map(entries.map((e: { plugin: string }) => [e.plugin, e]));
    assert.deepEqual([...bySlug.keys()].sort(), ["dep-base", "dep-child", "dep-grandchild"]);
    assert.equal(entries.length, 3);
    const [base, child, grandchild] = ["dep-base", "dep-child", "dep-grandchild"].map((s) => bySlug.get(s) as { details: any });
    assert.deepEqual(base.details, { version: "1.0.0" }, "the admin's own disable is a plain entry");
    assert.deepEqual(child.details, { version: "1.0.0", cascade_from: "dep-base", requires: "dep-base", range: "^1.0.0", reason: "requires dep-base ^1.0.0; dep-base is being disabled" });
    assert.equal(grandchild.details.cascade_from, "dep-base");
    assert.equal(grandchild.details.requires, "dep-child");
    assert.match(grandchild.details.reason, /requires dep-child \^1\.0\.0, which the cascade from dep-base/);
  });

  test("only the same tenant's plugins count", async () => {
    await family();
    const other = await app.tenant("deps");
    await ok(await other.upload(fixtureZip("dep-base-v1")), 201);
    assert.equal((await ok(await other.request("POST", "/api/plugins/dep-base/disable"))).plugin.status, "disabled");
  });

  test("of a dependent needs no cascade, and a disabled dependent does not block its base", async () => {
    const t = await family();
    await ok(await t.request("POST", "/api/plugins/dep-child/disable"));
    assert.equal((await ok(await t.request("POST", "/api/plugins/dep-base/disable"))).plugin.status, "disabled");
  });
});

describe("uninstall", () => {
  test("of a required plugin is a 409 naming the dependent; cascade=true disables it and uninstalls", async () => {
    const t = await family();
    const body = await expectError(await t.request("DELETE", "/api/plugins/dep-base"), 409, "dependency_conflict");
    assert.match(body.error.message, /dep-base cannot be uninstalled: .*dep-child \(requires dep-base \^1\.0\.0\)/);
    assert.equal(body.error.details.dependents[0].slug, "dep-child");
    assert.equal((await plugin(t, "dep-base")).status, "enabled");
    await assertServing(t, "dep-child");

    const res = await t.request("DELETE", "/api/plugins/dep-base?cascade=true&purge=true");
    assert.equal(res.status, 204, await res.text());
    await expectError(await t.request("GET", "/api/plugins/dep-base"), 404, "plugin_not_found");
    assert.equal((await plugin(t, "dep-child")).status, "disabled");
    const [entry] = await cascadeEntries(t);
    assert.equal(entry.plugin, "dep-child");
    assert.equal(entry.details.reason, "requires dep-base ^1.0.0; dep-base is being uninstalled");
    const { entries } = await ok(await t.request("GET", "/api/audit?action=plugin.uninstalled"));
    assert.deepEqual(entries.map((e: { plugin: string }) => e.plugin), ["dep-base"]);
  });
});

describe("rollback", () => {
  test("to a version a dependent's range does not accept is a 409; cascade=true disables the dependent", async () => {
    const t = await app.tenant("deps");
    await ok(await t.upload(fixtureZip("dep-base-v1")), 201);
    await ok(await t.upload(fixtureZip("dep-base-v2")), 200);
    await ok(await t.upload(fixtureZip("dep-modern")), 201);

    const body = await expectError(await t.request("POST", "/api/plugins/dep-base/rollback"), 409, "dependency_conflict");
    assert.match(body.error.message, /dep-base cannot be rolled back to 1\.0\.0: .*dep-modern \(requires dep-base \^2\.0\.0\)/);
    assert.deepEqual(body.error.details, {
      plugin: "dep-base",
      action: "rollback",
      to: "1.0.0",
      dependents: [{ slug: "dep-modern", version: "1.0.0", requires: "dep-base", range: "^2.0.0" }],
    });
    assert.equal((await plugin(t, "dep-base")).version, "2.0.0");
    await assertServing(t, "dep-modern");

    const done = await ok(await t.request("POST", "/api/plugins/dep-base/rollback?cascade=true"));
    assert.equal(done.plugin.version, "1.0.0");
    assert.equal(done.plugin.status, "enabled");
    assert.equal((await plugin(t, "dep-modern")).status, "disabled");
    const [entry] = await cascadeEntries(t);
    assert.equal(entry.plugin, "dep-modern");
    assert.equal(entry.details.reason, "requires dep-base ^2.0.0; dep-base is being rolled back to 1.0.0");
  });

  test("within the dependents' ranges goes through and leaves them running", async () => {
    const t = await family();
    await ok(await t.upload(withManifest("dep-base-v1", { version: "1.1.0" })), 200);
    const done = await ok(await t.request("POST", "/api/plugins/dep-base/rollback"));
    assert.equal(done.plugin.version, "1.0.0");
    assert.equal((await plugin(t, "dep-child")).status, "enabled");
    await assertServing(t, "dep-child");
  });

  test("of an enabled dependent to a version whose requirement is not met is a 409 dependencies_unmet", async () => {
    const t = await family();
    await ok(await t.upload(withManifest("dep-child", { version: "1.1.0", dependencies: {} })), 200);
    await ok(await t.request("POST", "/api/plugins/dep-base/disable"));
    const body = await expectError(await t.request("POST", "/api/plugins/dep-child/rollback"), 409, "dependencies_unmet");
    assert.match(body.error.message, /dep-child cannot be rolled back to 1\.0\.0: requires "dep-base" \^1\.0\.0, which is installed but disabled/);
    assert.equal((await plugin(t, "dep-child")).version, "1.1.0");
  });
});

describe("upgrade", () => {
  test("out of an enabled dependent's range is the same 409; cascade=true disables the dependent and upgrades", async () => {
    const t = await family();
    const body = await expectError(await t.upload(fixtureZip("dep-base-v2")), 409, "dependency_conflict");
    assert.match(body.error.message, /dep-base cannot be upgraded to 2\.0\.0: .*dep-child \(requires dep-base \^1\.0\.0\)/);
    assert.equal(body.error.details.to, "2.0.0");
    assert.equal((await plugin(t, "dep-base")).version, "1.0.0");
    await assertServing(t, "dep-child");

    const up = await ok(await uploadWith(t, fixtureZip("dep-base-v2"), "?cascade=true"), 200);
    assert.equal(up.plugin.version, "2.0.0");
    assert.equal(up.previous_version, "1.0.0");
    assert.equal((await plugin(t, "dep-child")).status, "disabled");
    const [entry] = await cascadeEntries(t);
    assert.equal(entry.plugin, "dep-child");
    assert.equal(entry.details.reason, "requires dep-base ^1.0.0; dep-base is being upgraded to 2.0.0");

    // And back on: the child cannot be enabled while dep-base is 2.0.0.
    const refused = await expectError(await t.request("POST", "/api/plugins/dep-child/enable"), 409, "dependencies_unmet");
    assert.deepEqual(refused.error.details.unmet, [
      { slug: "dep-base", range: "^1.0.0", installed: "2.0.0", status: "enabled", message: 'requires "dep-base" ^1.0.0, but 2.0.0 is installed' },
    ]);
    assert.equal((await plugin(t, "dep-child")).status, "disabled");
  });

  test("within the range needs no cascade", async () => {
    const t = await family();
    await ok(await t.upload(withManifest("dep-base-v1", { version: "1.2.0" })), 200);
    await assertServing(t, "dep-child");
  });
});

describe("enable", () => {
  test("is refused while a required plugin is disabled or gone, and works once it is back", async () => {
    const t = await family();
    await ok(await t.request("POST", "/api/plugins/dep-base/disable?cascade=true"));
    const disabled = await expectError(await t.request("POST", "/api/plugins/dep-child/enable"), 409, "dependencies_unmet");
    assert.match(disabled.error.message, /dep-child cannot be enabled: requires "dep-base" \^1\.0\.0, which is installed but disabled/);
    assert.equal(disabled.error.details.plugin, "dep-child");

    await ok(await t.request("POST", "/api/plugins/dep-base/enable"));
    assert.equal((await ok(await t.request("POST", "/api/plugins/dep-child/enable"))).plugin.status, "enabled");
    await assertServing(t, "dep-child");

    await ok(await t.request("POST", "/api/plugins/dep-child/disable"));
    assert.equal((await t.request("DELETE", "/api/plugins/dep-base")).status, 204);
    const gone = await expectError(await t.request("POST", "/api/plugins/dep-child/enable"), 409, "dependencies_unmet");
    assert.equal(gone.error.details.unmet[0].message, 'requires plugin "dep-base" (^1.0.0), which is not installed');
  });
});

describe("cascade", () => {
  test("accepts only true or false (400 invalid_request), and a refused call changes nothing", async () => {
    const t = await family();
    for (const [method, url] of [
      ["POST", "/api/plugins/dep-base/disable?cascade=yes"],
      ["POST", "/api/plugins/dep-base/rollback?cascade=1"],
      ["DELETE", "/api/plugins/dep-base?cascade=TRUE"],
      ["POST", "/api/plugins/dep-base/disable?cascade=true&cascade=true"],
    ] as const) {
      const body = await expectError(await t.request(method, url), 400, "invalid_request");
      assert.match(body.error.message, /cascade must be true or false/, url);
    }
    await expectError(await uploadWith(t, fixtureZip("dep-base-v2"), "?cascade=on"), 400, "invalid_request");
    assert.deepEqual(await plugin(t, "dep-base").then((p) => [p.status, p.version]), ["enabled", "1.0.0"]);
    await assertServing(t, "dep-child");
  });
});

describe("upload of a dependent", () => {
  test("is refused as before (422 invalid_plugin) when the required plugin is missing, out of range or disabled", async () => {
    const t = await app.tenant("deps");
    const missing = await expectError(await t.upload(fixtureZip("dep-child")), 422, "invalid_plugin");
    assert.deepEqual(missing.error.details, [{ path: "dependencies.dep-base", message: 'requires plugin "dep-base" (^1.0.0), which is not installed' }]);

    await ok(await t.upload(fixtureZip("dep-base-v2")), 201);
    const outOfRange = await expectError(await t.upload(fixtureZip("dep-child")), 422, "invalid_plugin");
    assert.deepEqual(outOfRange.error.details, [{ path: "dependencies.dep-base", message: 'requires "dep-base" ^1.0.0, but 2.0.0 is installed' }]);

    const u = await app.tenant("deps");
    await ok(await u.upload(fixtureZip("dep-base-v1")), 201);
    await ok(await u.request("POST", "/api/plugins/dep-base/disable"));
    const off = await expectError(await u.upload(fixtureZip("dep-child")), 422, "invalid_plugin");
    assert.deepEqual(off.error.details, [{ path: "dependencies.dep-base", message: 'requires "dep-base" ^1.0.0, which is installed but disabled' }]);
    await expectError(await u.request("GET", "/api/plugins/dep-child"), 404, "plugin_not_found");
  });

  test("may not close a cycle of requirements", async () => {
    const t = await family();
    const body = await expectError(await t.upload(withManifest("dep-base-v1", { version: "1.1.0", dependencies: { "dep-child": "^1.0.0" } })), 422, "invalid_plugin");
    assert.deepEqual(body.error.details, [{ path: "dependencies.dep-child", message: "would close a cycle: dep-base → dep-child → dep-base" }]);
  });
});

// Concurrent changes of one tenant: each check and its write run in one transaction under the
// tenant's dependency lock, so of two changes that are each fine alone but break the invariant
// together (an upload or enable of dep-child while dep-base goes away), one is refused. PGlite's
// one connection tends to order such requests anyway; on Postgres's pool an unlocked check loses
// within a few rounds.
const ROUNDS = 8;

/** Each enabled plugin of `t` lacking a plugin it requires (installed, enabled, in range); none when the invariant holds. */
async function invariantBreaches(target: TestApp, t: TestTenant): Promise<string[]> {
  const installs = await target.services.installs.list(t);
  const breaches: string[] = [];
  for (const i of installs.filter((x) => x.status === "enabled")) {
    for (const [slug, range] of Object.entries(i.version.manifest.dependencies ?? {})) {
      const dep = installs.find((x) => x.slug === slug);
      if (!dep || dep.status !== "enabled" || !semver.satisfies(dep.version.version, range)) {
        breaches.push(`${i.slug} is enabled but requires ${slug} ${range}, which is ${dep ? `${dep.version.version} ${dep.status}` : "not installed"}`);
      }
    }
  }
  return breaches;
}

/** The answer's status, and its error code when it is an error. */
async function outcome(res: Response): Promise<string> {
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
  return body.error?.code ? `${res.status} ${body.error.code}` : String(res.status);
}

for (const kind of databaseKinds()) {
  describe(`concurrent changes on ${kind}`, () => {
    let target: TestApp | undefined;
    let pgUp = false;
    before(async () => {
      if (kind === "pglite") target = app;
      else if ((pgUp = await postgresAvailable())) target = await startTestApp({ db: kind as DatabaseKind });
    });
    after(() => (kind === "pglite" ? undefined : target?.close()));
    const ready = async (t: TestContext) => kind === "pglite" || (await requireOrSkip(t, "postgres", pgUp));

    const rounds = async (setup: (t: TestTenant) => Promise<void>, race: (t: TestTenant) => Promise<Response>[], allowed: string[][]) => {
      for (let round = 0; round < ROUNDS; round++) {
        const t = await target!.tenant("race");
        await setup(t);
        const answers = await Promise.all(race(t).map(async (r) => outcome(await r)));
        assert.deepEqual(await invariantBreaches(target!, t), [], `round ${round}: ${answers.join(", ")}`);
        assert.ok(allowed.some((a) => a.join() === answers.join()), `round ${round}: unexpected answers ${answers.join(", ")}`);
      }
    };

    test("an upload of a dependent and a disable of what it requires: one of them is refused", async (t) => {
      if (!(await ready(t))) return;
      await rounds(
        async (u) => void (await ok(await u.upload(fixtureZip("dep-base-v1")), 201)),
        (u) => [u.upload(fixtureZip("dep-child")), u.request("POST", "/api/plugins/dep-base/disable")],
        [["201", "409 dependency_conflict"], ["422 invalid_plugin", "200"]],
      );
    });

    test("an enable of a dependent and a disable of what it requires: one of them is refused", async (t) => {
      if (!(await ready(t))) return;
      await rounds(
        async (u) => {
          await ok(await u.upload(fixtureZip("dep-base-v1")), 201);
          await ok(await u.upload(fixtureZip("dep-child")), 201);
          await ok(await u.request("POST", "/api/plugins/dep-child/disable"));
        },
        (u) => [u.request("POST", "/api/plugins/dep-child/enable"), u.request("POST", "/api/plugins/dep-base/disable")],
        [["200", "409 dependency_conflict"], ["409 dependencies_unmet", "200"]],
      );
    });

    test("an upload of a dependent and a cascading uninstall of what it requires: the dependent is never left enabled alone", async (t) => {
      if (!(await ready(t))) return;
      await rounds(
        async (u) => void (await ok(await u.upload(fixtureZip("dep-base-v1")), 201)),
        (u) => [u.upload(fixtureZip("dep-child")), u.request("DELETE", "/api/plugins/dep-base?cascade=true")],
        [["201", "204"], ["422 invalid_plugin", "204"]],
      );
    });
  });
}

describe("a cascade whose change then loses its compare-and-set", () => {
  test("leaves the dependents enabled and audits nothing", async () => {
    const t = await app.tenant("deps");
    await ok(await t.upload(fixtureZip("dep-base-v1")), 201);
    await ok(await t.upload(fixtureZip("dep-base-v2")), 200);
    await ok(await t.upload(fixtureZip("dep-modern")), 201);

    // Another process upgrades dep-base to 2.1.0 (within dep-modern's range) while this one still
    // holds 2.0.0, previous 1.0.0, in its install cache: the rollback is checked against what it
    // holds, and its compare-and-set on the versions finds them changed.
    const prisma = app.services.db.prisma;
    assert.equal((await plugin(t, "dep-base")).version, "2.0.0");
    const base = await prisma.install.findFirstOrThrow({ where: { tenantId: t.id, slug: "dep-base" } });
    const { id: _id, createdAt: _at, ...v2 } = await prisma.pluginVersion.findUniqueOrThrow({ where: { id: base.currentVersionId } });
    const v21 = await prisma.pluginVersion.create({ data: { ...v2, version: "2.1.0", manifest: v2.manifest as object, registered: v2.registered as object, webhooks: v2.webhooks as object } });
    await prisma.install.update({ where: { id: base.id }, data: { currentVersionId: v21.id, previousVersionId: base.currentVersionId } });
    assert.equal((await plugin(t, "dep-base")).version, "2.0.0", "this process's cache should still hold 2.0.0");

    await expectError(await t.request("POST", "/api/plugins/dep-base/rollback?cascade=true"), 409, "version_conflict");
    assert.equal((await plugin(t, "dep-modern")).status, "enabled");
    assert.deepEqual(await cascadeEntries(t), []);
    await assertServing(t, "dep-modern");
    assert.equal((await plugin(t, "dep-base")).version, "2.1.0");
  });
});
