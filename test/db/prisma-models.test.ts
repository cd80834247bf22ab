import { test, describe, before, after, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { PrismaClient } from "../../src/generated/prisma/client.ts";
import { postgresAvailable, requireOrSkip } from "../support/services.ts";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database.ts";

// Every model through Prisma and the driver adapter of each kind: the types that differ most
// between adapters (Bytes, Json, BigInt, timestamps), the unique constraints, and cascades.

const pgUp = await postgresAvailable();
const uid = () => randomBytes(4).toString("hex");

// The adapters describe the constraint differently (PGlite: fields, pg: index name), but both
// surface Prisma's code and Postgres' own message, which names the constraint.
function violation(code: "P2002" | "P2003", constraint: string, modelName: string) {
  return (err: unknown) => {
    const e = err as { code?: string; meta?: { modelName?: string; driverAdapterError?: { cause?: { originalCode?: string; originalMessage?: string } } } };
    assert.equal(e.code, code);
    assert.equal(e.meta?.modelName, modelName);
    assert.equal(e.meta?.driverAdapterError?.cause?.originalCode, code === "P2002" ? "23505" : "23503");
    assert.ok(e.meta?.driverAdapterError?.cause?.originalMessage?.includes(`"${constraint}"`), e.meta?.driverAdapterError?.cause?.originalMessage);
    return true;
  };
}

async function seed(prisma: PrismaClient) {
  const tenant = await prisma.tenant.create({ data: { slug: `t-${uid()}`, name: "Seed" } });
  const version = await prisma.pluginVersion.create({
    data: { tenantId: tenant.id, slug: "hello", version: "1.0.0", manifest: { slug: "hello" }, registered: { hooks: [] }, bundle: new Uint8Array([1]), sha256: "00" },
  });
  const install = await prisma.install.create({
    data: { tenantId: tenant.id, slug: "hello", status: "enabled", currentVersionId: version.id },
  });
  return { tenant, version, install };
}

for (const kind of databaseKinds()) {
  describe(`Prisma models on ${kind}`, () => {
    let tdb: TestDatabase | undefined;
    const prisma = () => tdb!.db.prisma;
    const ready = async (t: TestContext) => kind === "pglite" || (await requireOrSkip(t, "postgres", pgUp));

    before(async () => {
      if (kind === "pglite" || pgUp) tdb = await createTestDatabase(kind);
    });
    after(async () => tdb?.drop());

    test("Tenant: created with a uuid and timestamp; slug is unique", async (t) => {
      if (!(await ready(t))) return;
      const slug = `acme-${uid()}`;
      const before = Date.now();
      const tenant = await prisma().tenant.create({ data: { slug, name: "Acme" } });
      assert.match(tenant.id, /^[0-9a-f-]{36}$/);
      assert.ok(tenant.createdAt instanceof Date);
      assert.ok(Math.abs(tenant.createdAt.getTime() - before) < 60_000);
      await assert.rejects(prisma().tenant.create({ data: { slug, name: "Other" } }), violation("P2002", "tenants_slug_key", "Tenant"));
      const renamed = await prisma().tenant.update({ where: { slug }, data: { name: "Acme Inc" } });
      assert.deepEqual({ ...renamed }, { ...tenant, name: "Acme Inc" });
    });

    test("PluginVersion: Bytes and Json round-trip exactly; (tenant, slug, version) is unique", async (t) => {
      if (!(await ready(t))) return;
      const { tenant } = await seed(prisma());
      const bundle = new Uint8Array([0, 1, 2, 127, 128, 254, 255, ...randomBytes(1000)]);
      const manifest = { slug: "zip", version: "2.0.0", permissions: ["db.read"], nested: { n: 1.5, big: 2 ** 40, none: null, text: "ünïcødé ✓" } };
      const created = await prisma().pluginVersion.create({
        data: { tenantId: tenant.id, slug: "zip", version: "2.0.0", manifest, registered: ["a", 1, true], bundle, sha256: "ab".repeat(32) },
      });
      const read = await prisma().pluginVersion.findUniqueOrThrow({
        where: { tenantId_slug_version: { tenantId: tenant.id, slug: "zip", version: "2.0.0" } },
      });
      assert.equal(read.id, created.id);
      assert.ok(read.bundle instanceof Uint8Array);
      assert.deepEqual(Buffer.from(read.bundle), Buffer.from(bundle));
      assert.deepEqual(read.manifest, manifest);
      assert.deepEqual(read.registered, ["a", 1, true]);
      assert.equal(read.sha256, "ab".repeat(32));
      await assert.rejects(
        prisma().pluginVersion.create({ data: { tenantId: tenant.id, slug: "zip", version: "2.0.0", manifest: {}, registered: {}, bundle: new Uint8Array(), sha256: "" } }),
        violation("P2002", "plugin_versions_tenant_id_slug_version_key", "PluginVersion"),
      );
      const other = await prisma().tenant.create({ data: { slug: `o-${uid()}`, name: "Other" } });
      const elsewhere = await prisma().pluginVersion.create({
        data: { tenantId: other.id, slug: "zip", version: "2.0.0", manifest: {}, registered: {}, bundle: new Uint8Array(), sha256: "" },
      });
      assert.equal(elsewhere.bundle.length, 0, "the same slug and version in another tenant is fine");
    });

    test("Install: config defaults to {}, updatedAt moves, (tenant, slug) is unique, tenant must exist", async (t) => {
      if (!(await ready(t))) return;
      const { tenant, version, install } = await seed(prisma());
      assert.deepEqual(install.config, {});
      assert.equal(install.previousVersionId, null);
      assert.equal(install.error, null);
      assert.equal(install.createdAt.getTime(), install.updatedAt.getTime());
      await new Promise((r) => setTimeout(r, 5));
      const updated = await prisma().install.update({
        where: { id: install.id },
        data: { status: "disabled", config: { max_retries: 5 }, previousVersionId: version.id, error: "boom" },
      });
      assert.deepEqual(
        [updated.status, updated.config, updated.previousVersionId, updated.error],
        ["disabled", { max_retries: 5 }, version.id, "boom"],
      );
      assert.ok(updated.updatedAt.getTime() > install.updatedAt.getTime());
      assert.equal(updated.createdAt.getTime(), install.createdAt.getTime());
      await assert.rejects(
        prisma().install.create({ data: { tenantId: tenant.id, slug: "hello", status: "enabled", currentVersionId: version.id } }),
        violation("P2002", "installs_tenant_id_slug_key", "Install"),
      );
      await assert.rejects(
        prisma().install.create({ data: { tenantId: "00000000-0000-4000-8000-000000000000", slug: "x", status: "enabled", currentVersionId: version.id } }),
        violation("P2003", "installs_tenant_id_fkey", "Install"),
      );
    });

    test("Secret: ciphertext bytes round-trip; (install, name) is unique; upsert replaces", async (t) => {
      if (!(await ready(t))) return;
      const { install } = await seed(prisma());
      const first = randomBytes(44);
      const secret = await prisma().secret.create({ data: { installId: install.id, name: "API_KEY", ciphertext: first } });
      assert.deepEqual(Buffer.from(secret.ciphertext), first);
      await assert.rejects(
        prisma().secret.create({ data: { installId: install.id, name: "API_KEY", ciphertext: first } }),
        violation("P2002", "secrets_install_id_name_key", "Secret"),
      );
      const second = randomBytes(60);
      const key = { installId_name: { installId: install.id, name: "API_KEY" } };
      const upserted = await prisma().secret.upsert({ where: key, create: { installId: install.id, name: "API_KEY", ciphertext: second }, update: { ciphertext: second } });
      assert.equal(upserted.id, secret.id);
      assert.deepEqual(Buffer.from((await prisma().secret.findUniqueOrThrow({ where: key })).ciphertext), second);
      assert.equal(await prisma().secret.count({ where: { installId: install.id } }), 1);
    });

    test("Invocation and PluginLog: integer duration, BigInt ids in order, optional Json", async (t) => {
      if (!(await ready(t))) return;
      const { tenant, install } = await seed(prisma());
      const inv = await prisma().invocation.create({
        data: { tenantId: tenant.id, installId: install.id, kind: "route", name: "GET /ping", status: "ok", durationMs: 2_000_000_000 },
      });
      assert.equal(inv.durationMs, 2_000_000_000);
      assert.equal(inv.error, null);
      const a = await prisma().pluginLog.create({ data: { installId: install.id, invocationId: inv.id, level: "info", message: "one", fields: { n: 1 } } });
      const b = await prisma().pluginLog.create({ data: { installId: install.id, level: "warn", message: "two" } });
      assert.equal(typeof a.id, "bigint");
      assert.ok(b.id > a.id);
      assert.deepEqual(a.fields, { n: 1 });
      assert.equal(b.fields, null);
      assert.equal(b.invocationId, null);
      const newest = await prisma().pluginLog.findMany({ where: { installId: install.id }, orderBy: { id: "desc" }, include: { invocation: true } });
      assert.deepEqual(newest.map((l) => [l.message, l.invocation?.name ?? null]), [["two", null], ["one", "GET /ping"]]);
      assert.equal((await prisma().pluginLog.findUniqueOrThrow({ where: { id: a.id } })).message, "one");
      // Deleting an invocation takes its log lines with it; other lines stay.
      await prisma().invocation.delete({ where: { id: inv.id } });
      assert.deepEqual((await prisma().pluginLog.findMany({ where: { installId: install.id } })).map((l) => l.id), [b.id]);
    });

    test("deleting a Tenant cascades to everything it owns and nothing else", async (t) => {
      if (!(await ready(t))) return;
      const doomed = await seed(prisma());
      const kept = await seed(prisma());
      for (const s of [doomed, kept]) {
        const inv = await prisma().invocation.create({ data: { tenantId: s.tenant.id, installId: s.install.id, kind: "hook", name: "x", status: "ok", durationMs: 1 } });
        await prisma().secret.create({ data: { installId: s.install.id, name: "K", ciphertext: new Uint8Array([9]) } });
        await prisma().pluginLog.create({ data: { installId: s.install.id, invocationId: inv.id, level: "info", message: "m" } });
      }
      const counts = async (s: typeof doomed) => [
        await prisma().pluginVersion.count({ where: { tenantId: s.tenant.id } }),
        await prisma().install.count({ where: { tenantId: s.tenant.id } }),
        await prisma().secret.count({ where: { installId: s.install.id } }),
        await prisma().invocation.count({ where: { installId: s.install.id } }),
        await prisma().pluginLog.count({ where: { installId: s.install.id } }),
      ];
      assert.deepEqual(await counts(doomed), [1, 1, 1, 1, 1]);
      await prisma().tenant.delete({ where: { id: doomed.tenant.id } });
      assert.equal(await prisma().tenant.findUnique({ where: { id: doomed.tenant.id } }), null);
      assert.deepEqual(await counts(doomed), [0, 0, 0, 0, 0]);
      assert.deepEqual(await counts(kept), [1, 1, 1, 1, 1]);
    });
  });
}
