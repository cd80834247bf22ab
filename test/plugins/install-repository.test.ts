import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { PrismaClient } from "../../src/generated/prisma/client.ts";
import { packageLimits } from "../../src/config.ts";
import { parseManifest } from "../../src/packaging/manifest-schema.ts";
import { InstallRepository } from "../../src/plugins/install-repository.ts";
import { createTestDatabase, type TestDatabase } from "../support/test-database.ts";

// The install cache on a real PGlite, with a Prisma client that counts the install reads: it must
// stay bounded whatever slugs callers make up, and concurrent lookups must share one read.

let testDb: TestDatabase;
let reads = 0;
let counting: PrismaClient;
before(async () => {
  testDb = await createTestDatabase("pglite");
  const prisma = testDb.db.prisma;
  const install = new Proxy(prisma.install, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop === "findFirst") {
        return (...args: unknown[]) => {
          reads++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  counting = new Proxy(prisma, { get: (target, prop) => (prop === "install" ? install : Reflect.get(target, prop, target)) });
});
after(() => testDb?.drop());

async function tenantWithInstall(slug = "hello"): Promise<{ tenant: { id: string; slug: string }; installId: string }> {
  const prisma = testDb.db.prisma;
  const row = await prisma.tenant.create({ data: { slug: `t-${randomUUID().slice(0, 8)}`, name: "t" } });
  const registered = { hooks: [], routes: [{ path: "/ping", methods: ["GET"], auth: "user" }], jobs: [], lifecycle: [], health: false };
  const version = await prisma.pluginVersion.create({
    data: { tenantId: row.id, slug, version: "1.0.0", manifest: { slug, version: "1.0.0" }, registered, bundle: Buffer.from("zip"), sha256: "0".repeat(64) },
  });
  const install = await prisma.install.create({ data: { tenantId: row.id, slug, status: "enabled", currentVersionId: version.id } });
  return { tenant: { id: row.id, slug: row.slug }, installId: install.id };
}

describe("InstallRepository cache", () => {
  test("many distinct missing slugs keep the cache within its bound, and never push out an install", async () => {
    const { tenant } = await tenantWithInstall();
    const repo = new InstallRepository(counting, 60_000, { maxEntries: 20, maxMisses: 5 });
    assert.ok(await repo.find(tenant, "hello"));
    for (let i = 0; i < 200; i++) assert.equal(await repo.find(tenant, `missing-${i}`), null);
    assert.ok(repo.size <= 25, `the cache holds ${repo.size} entries`);
    assert.equal(repo.size, 6, "the install and the 5 newest misses");
    const before = reads;
    assert.equal((await repo.find(tenant, "hello"))?.slug, "hello");
    assert.equal(reads, before, "the install was still cached");
  });

  test("installs are kept least recently used first within maxEntries", async () => {
    const tenants = await Promise.all([1, 2, 3].map(() => tenantWithInstall()));
    const repo = new InstallRepository(counting, 60_000, { maxEntries: 2, maxMisses: 1 });
    await repo.find(tenants[0]!.tenant, "hello");
    await repo.find(tenants[1]!.tenant, "hello");
    await repo.find(tenants[0]!.tenant, "hello"); // used again: tenant 1's is now the oldest
    await repo.find(tenants[2]!.tenant, "hello");
    assert.equal(repo.size, 2);
    const before = reads;
    await repo.find(tenants[0]!.tenant, "hello");
    assert.equal(reads, before, "the recently used install stayed");
    await repo.find(tenants[1]!.tenant, "hello");
    assert.equal(reads, before + 1, "the least recently used one was dropped");
  });

  test("a miss is remembered for the TTL, then read again", async () => {
    const { tenant } = await tenantWithInstall();
    const repo = new InstallRepository(counting, 50);
    const before = reads;
    assert.equal(await repo.find(tenant, "later"), null);
    assert.equal(await repo.find(tenant, "later"), null);
    assert.equal(reads, before + 1);
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(await repo.find(tenant, "later"), null);
    assert.equal(reads, before + 2, "the expired miss was read again");
  });

  test("concurrent finds of one key share one database read, for an install and for a miss", async () => {
    const { tenant, installId } = await tenantWithInstall();
    const repo = new InstallRepository(counting, 60_000);
    let before = reads;
    const found = await Promise.all(Array.from({ length: 25 }, () => repo.find(tenant, "hello")));
    assert.equal(reads, before + 1);
    assert.ok(found.every((i) => i?.id === installId));
    before = reads;
    const missed = await Promise.all(Array.from({ length: 25 }, () => repo.find(tenant, "nobody-here")));
    assert.equal(reads, before + 1);
    assert.ok(missed.every((i) => i === null));
    before = reads;
    await Promise.all(Array.from({ length: 5 }, () => repo.find(tenant, installId, { fresh: true })));
    assert.equal(reads, before + 5, "fresh reads never share an older read");
  });

  test("an invalidate during a read keeps its result out of the cache", async () => {
    const { tenant } = await tenantWithInstall();
    const repo = new InstallRepository(counting, 60_000);
    const pending = repo.find(tenant, "hello");
    repo.invalidate(tenant.id);
    assert.ok(await pending);
    assert.equal(repo.size, 0);
  });

  test("a slug no install can have is refused without a query or a cache entry", async () => {
    const { tenant } = await tenantWithInstall();
    const repo = new InstallRepository(counting, 60_000);
    const before = reads;
    for (const bad of ["x".repeat(8192), "Hello", "../api", "a", "-lead", "has space", "a/b", ""]) {
      assert.equal(await repo.find(tenant, bad), null, bad.slice(0, 20));
    }
    assert.equal(reads, before);
    assert.equal(repo.size, 0);
  });
});

describe("resources as read", () => {
  test("an install's resources follow today's platform maxima: silent fields take the new maximum, declared ones are kept under it", async () => {
    const prisma = testDb.db.prisma;
    const at = (env: Record<string, string>) => packageLimits({ ...env, NODE_ENV: "test" }).limits;
    const uploadedUnder = at({ PLUGIN_TIMEOUT_MS: "5000", DB_MAX_DOCUMENTS: "1000" });
    const { manifest, problems } = parseManifest(
      { slug: "res", name: "Res", version: "1.0.0", entry: "main.js", permissions: [], resources: { memory_mb: 32, max_db_documents: 500 } },
      uploadedUnder,
    );
    assert.deepEqual(problems, []);
    const { tenant } = await tenantWithInstall("res");
    await prisma.pluginVersion.updateMany({ where: { tenantId: tenant.id, slug: "res" }, data: { manifest: manifest as object } });

    const raised = await new InstallRepository(prisma, 0, { platform: at({ PLUGIN_TIMEOUT_MS: "9000", DB_MAX_DOCUMENTS: "1000" }) }).find(tenant, "res");
    assert.equal(raised?.version.manifest.resources.timeout_ms, 9000, "a silent field takes the raised maximum");
    assert.equal(raised?.version.manifest.resources.memory_mb, 32);
    assert.equal(raised?.version.manifest.resources.max_db_documents, 500);

    const lowered = await new InstallRepository(prisma, 0, { platform: at({ PLUGIN_TIMEOUT_MS: "2000", DB_MAX_DOCUMENTS: "100" }) }).find(tenant, "res");
    assert.equal(lowered?.version.manifest.resources.timeout_ms, 2000);
    assert.equal(lowered?.version.manifest.resources.max_db_documents, 100, "a declared value above a lowered maximum is lowered");

    // A version stored before declared_resources was kept: its stored values are lowered, never raised.
    const { declared_resources: _gone, ...older } = manifest!;
    await prisma.pluginVersion.updateMany({ where: { tenantId: tenant.id, slug: "res" }, data: { manifest: older as object } });
    const old = await new InstallRepository(prisma, 0, { platform: at({ PLUGIN_TIMEOUT_MS: "9000", DB_MAX_DOCUMENTS: "100" }) }).find(tenant, "res");
    assert.equal(old?.version.manifest.resources.timeout_ms, 5000);
    assert.equal(old?.version.manifest.resources.max_db_documents, 100);
  });
});
