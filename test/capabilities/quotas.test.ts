import assert from "node:assert/strict";
import { after, before, describe, test, type TestContext } from "node:test";
import AdmZip from "adm-zip";
import { postgresAvailable, requireOrSkip } from "../support/services.ts";
import { databaseKinds, type DatabaseKind } from "../support/test-database.ts";
import { exampleZip, fixtureZip, servicesGate, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";
import { expectError, ok } from "../support/http-assert.ts";
import { sleep } from "../support/eventually.ts";

// Storage quotas where the host pays: ctx.db documents and bytes per (tenant, plugin), ctx.files
// files and bytes per install. The hostile fixtures write until the platform refuses; the tests
// hold the refusal to the exact limit, the stored rows to it, and the usage API to both.

const DB = "hostile-db-flood";
const FILES = "hostile-file-flood";
const ORPHANS = "hostile-db-orphans";
const MIB = 1024 * 1024;

type Refusal = { name: string; message: string; code: string | null };

/** A fixture with manifest keys merged over its plugin.json. */
function variant(name: string, manifest: Record<string, unknown>): Buffer {
  const zip = new AdmZip(fixtureZip(name));
  zip.updateFile("plugin.json", Buffer.from(JSON.stringify({ ...JSON.parse(zip.readAsText("plugin.json")), ...manifest })));
  return zip.toBuffer();
}

async function installed(app: TestApp, zip: Buffer): Promise<TestTenant> {
  const t = await app.tenant("quota");
  await ok(await t.upload(zip), 201);
  return t;
}

async function flood(t: TestTenant, slug: string, body: Record<string, unknown> = {}): Promise<{ inserted?: number; uploaded?: number; error: Refusal | null }> {
  return ok(await t.request("POST", `/ext/${slug}/flood`, { json: body }));
}

async function call(t: TestTenant, slug: string, body: Record<string, unknown>): Promise<{ value?: any; error?: Refusal }> {
  return ok(await t.request("POST", `/ext/${slug}/call`, { json: body }));
}

async function usage(t: TestTenant, slug: string): Promise<any> {
  return ok(await t.request("GET", `/api/plugins/${slug}/usage`));
}

async function storedDocuments(app: TestApp, t: TestTenant, plugin = DB): Promise<{ documents: number; bytes: number }> {
  const [row] = await app.services.db.sql.query<{ documents: string | number; bytes: string | number }>(
    "SELECT count(*) AS documents, coalesce(sum(octet_length(data::text)), 0) AS bytes FROM plugin_documents WHERE tenant_id = $1::uuid AND plugin = $2",
    [t.id, plugin],
  );
  return { documents: Number(row.documents), bytes: Number(row.bytes) };
}

function assertQuotaExceeded(error: Refusal | null | undefined, quota: string, ...fragments: string[]): void {
  assert.ok(error, "the write should have been refused");
  assert.equal(error.name, "QuotaExceeded", error.message);
  assert.equal(error.code, "quota_exceeded");
  assert.ok(error.message.includes(quota), error.message);
  for (const f of fragments) assert.ok(error.message.includes(f), `"${f}" not in: ${error.message}`);
}

for (const kind of databaseKinds()) {
  describe(`ctx.db quotas on ${kind}`, () => {
    let app: TestApp | undefined;
    let pgUp = false;
    before(async () => {
      pgUp = kind === "postgres" && (await postgresAvailable());
      if (kind === "pglite" || pgUp) app = await startTestApp({ db: kind as DatabaseKind });
    });
    after(() => app?.close());
    const ready = async (t: TestContext) => kind === "pglite" || (await requireOrSkip(t, "postgres", pgUp));

    test("a flood stops at exactly max_db_documents; usage shows it; a delete frees room; another tenant keeps answering", async (t) => {
      if (!(await ready(t))) return;
      const hostile = await installed(app!, fixtureZip(DB));
      const neighbour = await installed(app!, exampleZip("hello"));

      const flooding = flood(hostile, DB, { collection: "a" });
      for (let i = 0; i < 5; i++) {
        const pong = await ok(await neighbour.request("GET", "/ext/hello/ping"));
        assert.equal(pong.status, "ok");
      }
      const result = await flooding;
      assert.equal(result.inserted, 50);
      assertQuotaExceeded(result.error, "max_db_documents", "keeps 50 documents", "limit is 50");
      assert.equal((await storedDocuments(app!, hostile)).documents, 50);

      // Another collection of the same plugin counts against the same quota.
      const other = await call(hostile, DB, { op: "insert", args: ["b", { n: 1 }] });
      assertQuotaExceeded(other.error, "max_db_documents");

      const seen = await usage(hostile, DB);
      assert.deepEqual(seen.quotas.db_documents, { used: 50, limit: 50 });
      assert.equal(seen.quotas.db_bytes.limit, MIB);
      assert.ok(seen.quotas.db_bytes.used > 0 && seen.quotas.db_bytes.used < MIB, JSON.stringify(seen.quotas));
      assert.equal(seen.totals["ctx.db.insert:ok"], 50);
      assert.equal(seen.totals["ctx.db.insert:error"], 2, "each refusal is counted as an error");

      const logs = await ok(await hostile.request("GET", `/api/plugins/${DB}/logs`));
      assert.ok(logs.logs.some((l: any) => l.level === "warn" && l.message.includes("max_db_documents")), "the refusal is in the plugin's log");

      // A delete frees exactly one place.
      const [first] = (await call(hostile, DB, { op: "query", args: ["a", {}, { limit: 1 }] })).value;
      assert.equal((await call(hostile, DB, { op: "delete", args: ["a", first.id] })).value, true);
      assert.deepEqual((await usage(hostile, DB)).quotas.db_documents, { used: 49, limit: 50 });
      const again = await flood(hostile, DB, { collection: "b" });
      assert.equal(again.inserted, 1);
      assertQuotaExceeded(again.error, "max_db_documents");
      assert.equal((await storedDocuments(app!, hostile)).documents, 50);

      // The neighbour's own usage is its own.
      const theirs = await usage(neighbour, "hello");
      assert.deepEqual(theirs.quotas.db_documents, { used: 0, limit: 100_000 });
    });

    test("concurrent inserts of one call cannot pass the quota together", async (t) => {
      if (!(await ready(t))) return;
      const hostile = await installed(app!, fixtureZip(DB));
      const result = await flood(hostile, DB, { parallel: 16 });
      assertQuotaExceeded(result.error, "max_db_documents");
      assert.equal(result.inserted, 50);
      assert.equal((await storedDocuments(app!, hostile)).documents, 50);
    });

    // PGlite works on the host's own thread, so a flood of writes delays the host's hearing of
    // the timeout: by then all 200 are done, and none are left to drop.
    const onPglite = kind === "pglite" && "PGlite runs every write before the host sees the call end";
    test("inserts a call fired and never awaited do not run after the call timed out, nor hold up the plugin's next call", { skip: onPglite }, async (t) => {
      if (!(await ready(t))) return;
      const hostile = await installed(app!, fixtureZip(ORPHANS));
      await expectError(await hostile.request("POST", `/ext/${ORPHANS}/fire`, { json: { n: 200 } }), 504, "plugin_timeout");
      const atEnd = (await storedDocuments(app!, hostile, ORPHANS)).documents;
      // Left running, the queued writes reach 200 in well under this.
      await sleep(1500);
      const later = (await storedDocuments(app!, hostile, ORPHANS)).documents;
      // One write may have been inside its transaction when the call ended, and may finish.
      assert.ok(later <= atEnd + 1, `the stored count kept growing after the call ended: ${atEnd} → ${later}`);
      assert.ok(later < 100, `${later} of 200 writes ran, most of them after their call had ended`);
      const started = Date.now();
      const next = await ok(await hostile.request("POST", `/ext/${ORPHANS}/one`));
      assert.equal(typeof next.id, "string");
      assert.ok(Date.now() - started < 2000, `the next call's write waited ${Date.now() - started} ms`);
      assert.equal((await storedDocuments(app!, hostile, ORPHANS)).documents, later + 1);
      const counted = (await usage(hostile, ORPHANS)).totals;
      assert.equal(counted["ctx.db.insert:ok"] + counted["ctx.db.insert:error"], 201, JSON.stringify(counted));
    });

    test("max_db_mb counts the documents' JSON: inserts and growing updates are refused past it, shrinking passes", async (t) => {
      if (!(await ready(t))) return;
      const hostile = await installed(app!, variant(DB, { resources: { max_db_documents: 1000, max_db_mb: 1 } }));
      const pad = 60_000;
      const result = await flood(hostile, DB, { pad });
      assertQuotaExceeded(result.error, "max_db_mb", `its limit is ${MIB} bytes (1 MiB)`);
      // Each document is a little over 60 000 bytes of JSON: 17 fit in 1 MiB, the 18th does not.
      assert.equal(result.inserted, 17);
      const stored = await storedDocuments(app!, hostile);
      assert.equal(stored.documents, 17);
      assert.ok(stored.bytes <= MIB && stored.bytes + pad > MIB, JSON.stringify(stored));
      const seen = (await usage(hostile, DB)).quotas.db_bytes;
      assert.deepEqual(seen, { used: stored.bytes, limit: MIB });
      assert.ok(result.error!.message.includes(`take ${stored.bytes} bytes`), result.error!.message);

      // A small document fits in what is left; growing it past the quota does not.
      const small = (await call(hostile, DB, { op: "insert", args: ["junk", { n: -1 }] })).value;
      const grow = await ok(await hostile.request("POST", `/ext/${DB}/grow`, { json: { id: small.id, pad } }));
      assertQuotaExceeded(grow.error, "max_db_mb");
      // Shrinking a document always passes, and the room it makes takes one more.
      const [big] = (await call(hostile, DB, { op: "query", args: ["junk", { n: 0 }] })).value;
      const shrink = await ok(await hostile.request("POST", `/ext/${DB}/grow`, { json: { id: big.id, pad: 10 } }));
      assert.deepEqual(shrink.value, { id: big.id, length: 10 });
      const now = await storedDocuments(app!, hostile);
      assert.equal((await usage(hostile, DB)).quotas.db_bytes.used, now.bytes, "the stored size follows the update");
      assert.ok(now.bytes < stored.bytes - 50_000, JSON.stringify(now));
      assert.equal((await flood(hostile, DB, { pad })).inserted, 1);
    });
  });
}

describe("ctx.db quotas across processes", () => {
  const ready = servicesGate("bullmq");

  test("two API processes flooding one plugin of one tenant store exactly max_db_documents between them, round after round", async (t) => {
    if (!(await ready(t))) return;
    const app = await startTestApp({ engine: "bullmq" });
    t.after(() => app.close());
    // Each process queues the plugin's writes on its own; only the advisory lock stands between
    // the two queues. Whether both reach the quota at the same moment is down to timing, so
    // several tenants race at once, each on its own lock: any one of them passing its quota fails.
    const limit = 100;
    const zip = variant(DB, { resources: { max_db_documents: limit } });
    const [other, ...tenants] = await Promise.all([app.spawnApi(), ...Array.from({ length: 4 }, () => installed(app, zip))]);
    const origins = [app.url, other.url];
    const floodOn = async (origin: string, tenant: TestTenant, body: Record<string, unknown>) => {
      const res = await fetch(`${origin}/ext/${DB}/flood`, {
        method: "POST",
        headers: { authorization: `Bearer ${tenant.admin}`, "x-tenant-slug": tenant.slug, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return (await ok(res)) as { inserted: number; error: Refusal | null };
    };
    // Warm every isolate, so that no process has a quota to itself while the other one loads.
    const warm = await Promise.all(tenants.flatMap((tenant) => origins.map((origin) => floodOn(origin, tenant, { max: 1 }))));
    assert.ok(warm.every((w) => w.inserted === 1), JSON.stringify(warm));

    const race = (tenant: TestTenant) => Promise.all(origins.map((origin) => floodOn(origin, tenant, { parallel: 8, max: limit })));
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      const results = await Promise.all(tenants.map(race));
      for (const [i, [here, there]] of results.entries()) {
        const seen = `round ${round}, tenant ${i}: ${here.inserted} + ${there.inserted} inserted`;
        assertQuotaExceeded(here.error, "max_db_documents", `limit is ${limit}`);
        assertQuotaExceeded(there.error, "max_db_documents", `limit is ${limit}`);
        if (round === 0) assert.ok(here.inserted > 0 && there.inserted > 0, `both processes should have written; ${seen}`);
        assert.equal((await storedDocuments(app, tenants[i])).documents, limit, seen);
      }
      // The race is decided at the quota's edge: room for a few more makes each round another try.
      for (const tenant of tenants) {
        await app.services.db.sql.query(
          "DELETE FROM plugin_documents WHERE id IN (SELECT id FROM plugin_documents WHERE tenant_id = $1::uuid AND plugin = $2 LIMIT 10)",
          [tenant.id, DB],
        );
      }
    }
  });
});

describe("ctx.files quotas", () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp();
  });
  after(() => app.close());

  async function storedFiles(t: TestTenant): Promise<number> {
    const [row] = await app.services.db.sql.query<{ n: string | number }>(
      "SELECT count(*) AS n FROM files f JOIN installs i ON i.id = f.install_id WHERE f.tenant_id = $1::uuid AND i.slug = $2",
      [t.id, FILES],
    );
    return Number(row.n);
  }

  test("a flood of empty files stops at exactly max_files; usage shows it; a delete frees room; another tenant keeps answering", async () => {
    const hostile = await installed(app, fixtureZip(FILES));
    const neighbour = await installed(app, exampleZip("hello"));

    const flooding = flood(hostile, FILES);
    for (let i = 0; i < 5; i++) assert.equal((await ok(await neighbour.request("GET", "/ext/hello/ping"))).status, "ok");
    const result = await flooding;
    assert.equal(result.uploaded, 20);
    assertQuotaExceeded(result.error, "max_files", "written 20 files", "limit is 20");
    assert.equal(await storedFiles(hostile), 20);

    const seen = await usage(hostile, FILES);
    assert.deepEqual(seen.quotas.files, { used: 20, limit: 20 });
    assert.deepEqual(seen.quotas.file_bytes, { used: 0, limit: MIB });
    assert.equal(seen.totals["ctx.files.upload:error"], 1);

    // Replacing a file of its own adds none, so it passes at the limit.
    const replaced = await call(hostile, FILES, { method: "upload", args: ["flood/0.txt", "hello"] });
    assert.equal(replaced.error, undefined, JSON.stringify(replaced.error));
    assert.equal(replaced.value.created, false);
    assert.deepEqual((await usage(hostile, FILES)).quotas.file_bytes, { used: 5, limit: MIB });

    assert.equal((await call(hostile, FILES, { method: "delete", args: ["flood/1.txt"] })).value, true);
    assert.deepEqual((await usage(hostile, FILES)).quotas.files, { used: 19, limit: 20 });
    const again = await flood(hostile, FILES, { prefix: "again" });
    assert.equal(again.uploaded, 1);
    assertQuotaExceeded(again.error, "max_files");
    assert.equal(await storedFiles(hostile), 20);
  });

  test("a file the host wrote becomes the plugin's when it replaces it, so it counts", async () => {
    const hostile = await installed(app, variant(FILES, { resources: { max_files: 2 } }));
    const form = new FormData();
    form.append("file", new Blob(["host"]), "host.txt");
    await ok(await hostile.request("POST", "/api/files", { body: form }), 201);
    assert.equal((await flood(hostile, FILES, { max: 2 })).uploaded, 2);
    const taken = await call(hostile, FILES, { method: "upload", args: ["host.txt", "mine"] });
    assertQuotaExceeded(taken.error, "max_files", "limit is 2");
  });
});

describe("platform maxima", () => {
  test("a manifest asking for more than the platform allows is 422 at upload, each quota at its path", async () => {
    const app = await startTestApp();
    try {
      const t = await app.tenant("quota");
      const zip = variant(DB, { resources: { max_db_documents: 100_001, max_db_mb: 101, max_files: 10_001 } });
      const body = await expectError(await t.upload(zip), 422, "invalid_plugin");
      const problems = body.error.details as { path: string; message: string }[];
      const at = (path: string) => problems.find((p) => p.path === path)?.message ?? "";
      assert.match(at("resources.max_db_documents"), /at most 100000 documents \(the platform maximum\)/);
      assert.match(at("resources.max_db_mb"), /at most 100 MB/);
      assert.match(at("resources.max_files"), /at most 10000 files/);
      const zero = await expectError(await t.upload(variant(DB, { resources: { max_db_documents: 0 } })), 422, "invalid_plugin");
      assert.ok(zero.error.details.some((p: any) => p.path === "resources.max_db_documents" && /at least 1/.test(p.message)));
    } finally {
      await app.close();
    }
  });

  test("a manifest that names no quota gets the platform's (DB_MAX_DOCUMENTS, DB_MAX_MB, FILES_MAX_COUNT)", async () => {
    const app = await startTestApp({ env: { DB_MAX_DOCUMENTS: "7", DB_MAX_MB: "3", FILES_MAX_COUNT: "4" } });
    try {
      const db = await installed(app, variant(DB, { resources: {} }));
      const files = await installed(app, variant(FILES, { resources: {} }));
      const stored = await flood(db, DB);
      assert.equal(stored.inserted, 7);
      assertQuotaExceeded(stored.error, "max_db_documents", "limit is 7");
      const uploaded = await flood(files, FILES);
      assert.equal(uploaded.uploaded, 4);
      assertQuotaExceeded(uploaded.error, "max_files", "limit is 4");
      const q = (await usage(db, DB)).quotas;
      assert.deepEqual(q.db_documents, { used: 7, limit: 7 });
      assert.equal(q.db_bytes.limit, 3 * MIB);
      const plugin = (await ok(await db.request("GET", `/api/plugins/${DB}`))).plugin;
      assert.equal(plugin.resources.max_db_documents, 7);
      assert.equal(plugin.resources.max_db_mb, 3);
      assert.equal(plugin.resources.max_files, 4);
    } finally {
      await app.close();
    }
  });
});
