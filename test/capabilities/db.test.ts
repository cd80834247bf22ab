import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test, type TestContext } from "node:test";
import AdmZip from "adm-zip";
import { indexPrefix } from "../../src/capabilities/db-collections.ts";
import { postgresAvailable, requireOrSkip } from "../support/services.ts";
import { databaseKinds, type DatabaseKind } from "../support/test-database.ts";
import { fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";
import { expectError, ok } from "../support/http-assert.ts";

// ctx.db end to end: real uploads, real HTTP to /ext/<slug>/…, the plugin's handlers calling
// ctx.db, on PGlite and (when reachable) Postgres. The cap-db-contacts fixture runs the ctx.db
// calls a test sends to POST /calls and answers each value or the error it caught.

const SLUG = "cap-db-contacts";
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Outcome = { ok: true; value: any } | { ok: false; error: { name: string; message: string } };
type Call = [op: string, ...args: unknown[]];

/** The fixture with manifest keys replaced. */
function variant(manifest: Record<string, unknown>, name = SLUG): Buffer {
  const zip = new AdmZip(fixtureZip(name));
  zip.updateFile("plugin.json", Buffer.from(JSON.stringify({ ...JSON.parse(zip.readAsText("plugin.json")), ...manifest })));
  return zip.toBuffer();
}

/** Runs ctx.db calls in order inside the plugin; one outcome per call. */
async function calls(t: TestTenant, list: Call[], slug = SLUG): Promise<Outcome[]> {
  const body = { calls: list.map(([op, ...args]) => ({ op, args })) };
  return ok(await t.request("POST", `/ext/${slug}/calls`, { json: body }));
}

/** One ctx.db call that must succeed; its value. */
async function db(t: TestTenant, op: string, ...args: unknown[]): Promise<any> {
  const [outcome] = await calls(t, [[op, ...args]]);
  assert.ok(outcome.ok, `ctx.db.${op} failed: ${JSON.stringify(outcome)}`);
  return outcome.value;
}

/** One ctx.db call that must fail; the error the plugin caught. */
async function dbError(t: TestTenant, op: string, ...args: unknown[]): Promise<{ name: string; message: string }> {
  return dbErrorAs(t, SLUG, op, ...args);
}

async function dbErrorAs(t: TestTenant, slug: string, op: string, ...args: unknown[]): Promise<{ name: string; message: string }> {
  const [outcome] = await calls(t, [[op, ...args]], slug);
  assert.ok(!outcome.ok, `ctx.db.${op} should have failed, got ${JSON.stringify(outcome)}`);
  return outcome.error;
}

async function createUser(t: TestTenant, email: string, data: Record<string, unknown> = {}): Promise<any> {
  return (await ok(await t.request("POST", "/api/users", { json: { email, name: email.split("@")[0], data } }), 201)).user;
}

for (const kind of databaseKinds()) {
  describe(`ctx.db on ${kind}`, () => {
    let app: TestApp | undefined;
    let pgUp = false;
    before(async () => {
      pgUp = kind === "postgres" && (await postgresAvailable());
      if (kind === "pglite" || pgUp) app = await startTestApp({ db: kind as DatabaseKind });
    });
    after(() => app?.close());
    const ready = async (t: TestContext) => kind === "pglite" || (await requireOrSkip(t, "postgres", pgUp));

    /** A fresh tenant with the contacts fixture installed. */
    async function installed(manifest: Record<string, unknown> = {}): Promise<TestTenant> {
      const t = await app!.tenant();
      await ok(await t.upload(variant(manifest)), 201);
      return t;
    }

    /** The definitions of the plugin's collection indexes, by name. */
    async function indexes(t: TestTenant, slug = SLUG): Promise<Map<string, string>> {
      const prefix = indexPrefix(t.id, slug);
      const rows = await app!.services.db.sql.query<{ indexname: string; indexdef: string }>(
        `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'plugin_documents' AND left(indexname, $1) = $2`,
        [prefix.length, prefix],
      );
      return new Map(rows.map((r) => [r.indexname, r.indexdef]));
    }

    describe("documents in a collection", () => {
      test("insert → getById → update (shallow merge) → delete", async (t) => {
        if (!(await ready(t))) return;
        const tenant = await installed();
        // id, created_at and updated_at are the platform's: ignored when sent.
        const doc = await db(tenant, "insert", "contacts", { email: "ada@example.com", name: "Ada", address: { city: "London", zip: "N1" }, id: "mine", created_at: "1999" });
        assert.match(doc.id, UUID);
        assert.match(doc.created_at, ISO);
        assert.equal(doc.updated_at, doc.created_at);
        assert.deepEqual(doc, { id: doc.id, email: "ada@example.com", name: "Ada", address: { city: "London", zip: "N1" }, created_at: doc.created_at, updated_at: doc.updated_at });
        assert.deepEqual(await db(tenant, "getById", "contacts", doc.id), doc);

        const updated = await db(tenant, "update", "contacts", doc.id, { name: "Ada L.", address: { city: "Paris" }, id: "ignored" });
        assert.deepEqual({ ...updated, updated_at: null }, { ...doc, name: "Ada L.", address: { city: "Paris" }, updated_at: null }, "top-level keys are replaced, not merged deeply");
        assert.ok(updated.updated_at >= doc.updated_at);
        // A read-back document can be sent as the patch as it is.
        assert.equal((await db(tenant, "update", "contacts", doc.id, { ...updated, name: "Ada" })).name, "Ada");

        assert.equal(await db(tenant, "update", "contacts", randomUUID(), { name: "x" }), null);
        assert.equal(await db(tenant, "update", "contacts", "not-a-uuid", { name: "x" }), null);
        assert.equal(await db(tenant, "getById", "contacts", "not-a-uuid"), null);
        assert.equal(await db(tenant, "delete", "contacts", doc.id), true);
        assert.equal(await db(tenant, "delete", "contacts", doc.id), false);
        assert.equal(await db(tenant, "getById", "contacts", doc.id), null);
      });

      test("a route written the usual way: POST /contacts, GET /contacts?city=", async (t) => {
        if (!(await ready(t))) return;
        const tenant = await installed();
        const created = await ok(await tenant.request("POST", `/ext/${SLUG}/contacts`, { json: { email: "b@x.io", name: "B", address: { city: "Oslo" } } }));
        await ok(await tenant.request("POST", `/ext/${SLUG}/contacts`, { json: { email: "a@x.io", name: "A", address: { city: "Oslo" } } }));
        await ok(await tenant.request("POST", `/ext/${SLUG}/contacts`, { json: { email: "c@x.io", name: "C", address: { city: "Rome" } } }));
        assert.equal(created.status, "new");
        const oslo = await ok(await tenant.request("GET", `/ext/${SLUG}/contacts?city=Oslo`));
        assert.deepEqual(oslo.map((c: any) => c.email), ["a@x.io", "b@x.io"]);
      });

      test("query: equality, numeric ranges, $in, $ne, null, dotted paths, order_by, limit and offset", async (t) => {
        if (!(await ready(t))) return;
        const tenant = await installed();
        const docs = [
          { n: 2, tag: "a", meta: { level: 1 } },
          { n: 10, tag: "b", meta: { level: 2 } },
          { n: 33, tag: "a" },
          { n: "5", tag: "c" },
          { n: true, tag: "d" },
        ];
        await calls(tenant, docs.map((d) => ["insert", "items", d]));
        const q = async (filter: unknown, options?: unknown) => (await db(tenant, "query", "items", filter, options)) as any[];
        const ns = (rows: any[]) => rows.map((r) => r.n);

        // Numbers compare as numbers (10 > 3), and a range only matches values of its own type.
        assert.deepEqual(ns(await q({ n: { $gt: 3 } }, { order_by: "n" })), [10, 33]);
        assert.deepEqual(ns(await q({ n: { $gte: 2, $lt: 33 } }, { order_by: "n" })), [2, 10]);
        assert.deepEqual(ns(await q({ n: { $lte: "5" } })), ["5"]);
        assert.deepEqual(ns(await q({ n: "5" })), ["5"]);
        assert.deepEqual(ns(await q({ n: 5 })), []);
        assert.deepEqual(ns(await q({ n: true })), [true]);
        assert.deepEqual(ns(await q({ tag: { $in: ["a", "b"] } }, { order_by: "-n" })), [33, 10, 2]);
        assert.deepEqual(ns(await q({ tag: { $in: [] } })), []);
        assert.deepEqual((await q({ tag: { $ne: "a" } }, { order_by: "tag" })).map((r) => r.tag), ["b", "c", "d"]);
        assert.deepEqual(ns(await q({ "meta.level": 2 })), [10]);
        assert.deepEqual(ns(await q({ "meta.level": { $lte: 2 } }, { order_by: "-meta.level" })), [10, 2]);
        // A missing field and JSON null are both null.
        assert.deepEqual((await q({ meta: null }, { order_by: "tag" })).map((r) => r.tag), ["a", "c", "d"]);
        assert.deepEqual((await q({ meta: { $ne: null } }, { order_by: "tag" })).map((r) => r.tag), ["a", "b"]);
        // Default order is created_at; ties are broken by id, so pages do not overlap.
        assert.deepEqual(ns(await q({})), docs.map((d) => d.n));
        const page1 = await q({}, { order_by: "tag", limit: 2 });
        const page2 = await q({}, { order_by: "tag", limit: 2, offset: 2 });
        assert.deepEqual([...page1, ...page2].map((r) => r.tag), ["a", "a", "b", "c"]);
        // created_at compares as a time.
        const soon = new Date(Date.now() + 60_000).toISOString();
        assert.equal((await q({ created_at: { $lte: soon } })).length, 5);
        assert.equal((await q({ created_at: { $gt: soon } })).length, 0);
        const first = (await q({}))[0];
        assert.deepEqual(ns(await q({ id: first.id })), [2]);
        // An absent filter is no filter.
        assert.equal((await db(tenant, "query", "items")).length, 5);
      });

      test("limit defaults to 50 and is capped at DB_MAX_QUERY_LIMIT (100)", async (t) => {
        if (!(await ready(t))) return;
        const tenant = await installed();
        const outcomes = await calls(tenant, Array.from({ length: 105 }, (_, i): Call => ["insert", "bulk", { i }]));
        assert.ok(outcomes.every((o) => o.ok));
        assert.equal((await db(tenant, "query", "bulk", {})).length, 50);
        assert.equal((await db(tenant, "query", "bulk", {}, { limit: 1000 })).length, 100);
        assert.deepEqual((await db(tenant, "query", "bulk", {}, { limit: 3, order_by: "-i" })).map((d: any) => d.i), [104, 103, 102]);
      });

      test("bad input is a TypeError that says what is wrong", async (t) => {
        if (!(await ready(t))) return;
        const tenant = await installed();
        const cases: [Call, RegExp][] = [
          [["query", "items", { n: { $regex: "x" } }], /filter\.n: unknown operator "\$regex"; use \$eq, \$ne/],
          [["query", "items", { n: [1, 2] }], /filter\.n: a list is not a value; .*\$in/],
          [["query", "items", { n: { $in: "x" } }], /filter\.n\.\$in: must be a list/],
          [["query", "items", { n: { $in: [null] } }], /match null with \{n: null\}/],
          [["query", "items", { n: { $in: Array.from({ length: 101 }, (_, i) => i) } }], /at most 100 values/],
          [["query", "items", { n: { $gt: null } }], /null can only be compared with \$eq or \$ne/],
          [["query", "items", { n: { $gt: { a: 1 } } }], /filter\.n\.\$gt: the value must be a string, number, boolean or null/],
          [["query", "items", { n: {} }], /filter\.n: an empty object is not a condition/],
          [["query", "items", { address: { city: "Oslo" } }], /match a nested field with a dotted name like "address\.city"/],
          [["query", "items", "n = 1"], /the filter must be an object/],
          [["query", "items", {}, { limit: 0 }], /limit must be an integer from 1 up, not 0/],
          [["query", "items", {}, { limit: "10" }], /limit must be an integer/],
          [["query", "items", {}, { sort: "n" }], /unknown option "sort"; use limit, offset, order_by/],
          [["query", "items", {}, { order_by: 1 }], /order_by must be a field name/],
          [["query", "items", { created_at: { $gt: "yesterday" } }], /compare with a date string/],
          [["query", "items", { "id.x": 1 }], /id has no fields/],
          [["query", "users", { password: "x" }], /users has no field "password"; its fields are id, email, name, data, created_at, updated_at/],
          [["query", "users", { email: 1 }], /filter\.email is a string; 1 cannot match it/],
          [["query", 42], /the first argument must be "users", "files" or the name of a collection/],
          [["insert", "items", [1, 2]], /the document must be a JSON object .*, not a list/],
          [["insert", "items", null], /the document must be a JSON object .*, not null/],
          [["update", "items", 42, {}], /the id must be a string/],
          [["update", "items", randomUUID(), "x"], /the patch must be a JSON object/],
        ];
        const outcomes = await calls(tenant, cases.map(([call]) => call));
        outcomes.forEach((outcome, i) => {
          assert.ok(!outcome.ok, `${JSON.stringify(cases[i][0])} should fail`);
          assert.equal(outcome.error.name, "TypeError", JSON.stringify(outcome));
          assert.match(outcome.error.message, /^ctx\.db\.\w+: /);
          assert.match(outcome.error.message, cases[i][1]);
        });
      });

      test("injection attempts in field names, collection names and order_by are refused and change nothing", async (t) => {
        if (!(await ready(t))) return;
        const tenant = await installed();
        const user = await createUser(tenant, "victim@example.com");
        const doc = await db(tenant, "insert", "contacts", { email: "keep@example.com" });
        const cases: [Call, RegExp][] = [
          [["query", "contacts", { "email' OR '1'='1": 1 }], /is not a field/],
          [["query", "contacts", { "a}'); DROP TABLE users; --": 1 }], /is not a field/],
          [["query", "contacts", { "a.b,c": 1 }], /is not a field/],
          [["query", "contacts", { "email\"": 1 }], /is not a field/],
          [["query", "contacts; DROP TABLE plugin_documents", {}], /is not a collection name/],
          [["query", "users t, tenants x", {}], /is not a collection name/],
          [["insert", "pg_catalog.pg_class", {}], /is not a collection name/],
          [["getById", 'users" --', user.id], /is not a collection name/],
          [["query", "contacts", {}, { order_by: "email; DROP TABLE users" }], /order_by: .* is not a field/],
          [["query", "contacts", {}, { order_by: "-email DESC, (SELECT 1)" }], /order_by: .* is not a field/],
          [["query", "contacts", { email: { "$eq' OR 1=1 --": 1 } }], /unknown operator/],
        ];
        const outcomes = await calls(tenant, cases.map(([call]) => call));
        outcomes.forEach((outcome, i) => {
          assert.ok(!outcome.ok, `${JSON.stringify(cases[i][0])} should fail`);
          assert.equal(outcome.error.name, "TypeError");
          assert.match(outcome.error.message, cases[i][1]);
        });
        // Values are bound parameters: SQL in them is just text that matches nothing.
        assert.deepEqual(await db(tenant, "query", "contacts", { email: "' OR '1'='1" }), []);
        assert.deepEqual(await db(tenant, "query", "users", { email: "x' OR 1=1 --" }), []);
        assert.deepEqual(await db(tenant, "getById", "contacts", doc.id), doc);
        assert.equal((await db(tenant, "getById", "users", user.id)).email, "victim@example.com");
      });

      test("a document is at most DB_MAX_DOCUMENT_BYTES (64 KiB) of JSON as the database stores it", async (t) => {
        if (!(await ready(t))) return;
        const tenant = await installed();
        const big = await dbError(tenant, "insert", "notes", { s: "x".repeat(70_000) });
        assert.equal(big.name, "DocumentTooLarge");
        assert.match(big.message, /ctx\.db\.insert: the document would be 70008 bytes of JSON; the limit is 65536 bytes/);
        // 6000 keys: 60 KB as compact JSON, 72 KB as stored (jsonb's text puts a space after : and ,).
        const wide = Object.fromEntries(Array.from({ length: 6000 }, (_, i) => [`k${String(i).padStart(4, "0")}`, 1]));
        assert.ok(JSON.stringify(wide).length <= 65_536);
        assert.equal((await dbError(tenant, "insert", "notes", wide)).name, "DocumentTooLarge");

        const doc = await db(tenant, "insert", "notes", { s: "x".repeat(60_000) });
        const grown = await dbError(tenant, "update", "notes", doc.id, { t: "y".repeat(6_000) });
        assert.equal(grown.name, "DocumentTooLarge");
        assert.match(grown.message, /ctx\.db\.update: the document would be \d+ bytes/);
        assert.equal((await db(tenant, "getById", "notes", doc.id)).t, undefined, "a refused update changes nothing");
      });

      test("NUL characters are refused with a clear TypeError", async (t) => {
        if (!(await ready(t))) return;
        const tenant = await installed();
        const fromPlugin = await ok(await tenant.request("POST", `/ext/${SLUG}/nul`));
        assert.equal(fromPlugin.error, "TypeError");
        assert.match(fromPlugin.message, /text cannot contain the NUL character \(\\u0000\); found at "text"/);
        const outcomes = await calls(tenant, [
          ["insert", "notes", { deep: { list: ["ok", "a\u0000b"] } }],
          ["insert", "notes", { "k\u0000": 1 }],
          ["query", "notes", { text: "a\u0000" }],
          ["query", "users", { email: "a\u0000" }],
        ]);
        assert.match((outcomes[0] as any).error.message, /found at "deep\.list\.1"/);
        for (const o of outcomes) {
          assert.ok(!o.ok);
          assert.equal(o.error.name, "TypeError");
          assert.match(o.error.message, /NUL character/);
        }
        assert.deepEqual(await db(tenant, "query", "notes"), []);
      });
    });

    describe("unique indexes from plugin.json", () => {
      test("the declared indexes exist; a second document with the same email is DuplicateKey", async (t) => {
        if (!(await ready(t))) return;
        const tenant = await installed();
        const defs = [...(await indexes(tenant)).values()];
        assert.equal(defs.length, 2, JSON.stringify(defs));
        const unique = defs.find((d) => d.includes("UNIQUE"));
        assert.ok(unique?.includes(`(data #>> '{email}'::text[])`), unique);
        assert.ok(unique?.includes(tenant.id) && unique.includes(`'${SLUG}'::text`) && unique.includes("'contacts'::text"), unique);
        assert.ok(defs.some((d) => !d.includes("UNIQUE") && d.includes(`(data #>> '{address,city}'::text[])`)), JSON.stringify(defs));

        const a = await db(tenant, "insert", "contacts", { email: "a@x.io" });
        const b = await db(tenant, "insert", "contacts", { email: "b@x.io" });
        const dup = await dbError(tenant, "insert", "contacts", { email: "a@x.io" });
        assert.equal(dup.name, "DuplicateKey");
        assert.equal(dup.message, 'ctx.db.insert: another document in "contacts" already has the same "email" (unique index in plugin.json)');
        assert.equal((await dbError(tenant, "update", "contacts", b.id, { email: "a@x.io" })).name, "DuplicateKey");
        assert.equal((await db(tenant, "getById", "contacts", b.id)).email, "b@x.io");
        // Documents without the field do not collide; other collections are not indexed.
        await db(tenant, "insert", "contacts", { name: "no email" });
        await db(tenant, "insert", "contacts", { name: "no email either" });
        await db(tenant, "insert", "other", { email: "a@x.io" });
        assert.equal((await db(tenant, "query", "contacts", { email: "a@x.io" }))[0].id, a.id);

        // Per tenant and plugin: another tenant may store the same email.
        const other = await installed();
        await db(other, "insert", "contacts", { email: "a@x.io" });
      });
    });

    describe("core tables", () => {
      test("users and files are readable (tenant's own rows, no tenant_id) but never writable", async (t) => {
        if (!(await ready(t))) return;
        const tenant = await installed();
        const ada = await createUser(tenant, "ada@example.com", { plan: "pro" });
        await createUser(tenant, "bob@example.com", { plan: "free" });
        const stranger = await createUser(await app!.tenant(), "eve@example.com", { plan: "pro" });

        const users = await ok(await tenant.request("GET", `/ext/${SLUG}/users`));
        assert.deepEqual(users.map((u: any) => u.email), ["ada@example.com", "bob@example.com"]);
        assert.deepEqual(Object.keys(users[0]).sort(), ["created_at", "data", "email", "id", "name", "updated_at"]);
        assert.deepEqual(users[0], ada);
        assert.deepEqual((await db(tenant, "query", "users", { "data.plan": "pro" })).map((u: any) => u.email), ["ada@example.com"]);
        assert.deepEqual((await db(tenant, "query", "users", { email: { $in: ["ada@example.com", "eve@example.com"] } })).length, 1);
        assert.deepEqual(await db(tenant, "getById", "users", ada.id), ada);
        assert.equal(await db(tenant, "getById", "users", stranger.id), null);
        assert.deepEqual(await db(tenant, "query", "users", { id: stranger.id }), []);

        const form = new FormData();
        form.append("path", "docs/readme.txt");
        form.append("file", new Blob(["hello"], { type: "text/plain" }), "readme.txt");
        const file = (await ok(await tenant.request("POST", "/api/files", { body: form }), 201)).file;
        const files = await db(tenant, "query", "files", { size: { $gte: 5 } });
        assert.equal(files.length, 1);
        assert.deepEqual(Object.keys(files[0]).sort(), ["content_type", "created_at", "id", "path", "sha256", "size", "updated_at"]);
        assert.equal(files[0].path, "docs/readme.txt");
        assert.equal((await db(tenant, "getById", "files", file.id)).size, 5);

        const refused = await calls(tenant, [
          ["insert", "users", { email: "mallory@example.com" }],
          ["update", "users", ada.id, { email: "mallory@example.com" }],
          ["delete", "users", ada.id],
          ["delete", "files", file.id],
        ]);
        for (const o of refused) {
          assert.ok(!o.ok);
          assert.equal(o.error.name, "ReadOnly");
          assert.match(o.error.message, /is a core table and is read-only for plugins/);
        }
        assert.deepEqual(await db(tenant, "getById", "users", ada.id), ada);
        assert.equal((await db(tenant, "query", "files")).length, 1);
      });
    });

    describe("permissions", () => {
      test("without db.write writes are PermissionDenied, in the plugin's logs and counted as denied", async (t) => {
        if (!(await ready(t))) return;
        const tenant = await installed({ permissions: ["db.read"] });
        const denied = await dbError(tenant, "insert", "contacts", { email: "a@x.io" });
        assert.equal(denied.name, "PermissionDenied");
        assert.match(denied.message, /ctx\.db\.insert needs the "db\.write" permission/);
        assert.equal((await dbError(tenant, "update", "contacts", randomUUID(), {})).name, "PermissionDenied");
        assert.equal((await dbError(tenant, "delete", "contacts", randomUUID())).name, "PermissionDenied");
        assert.deepEqual(await db(tenant, "query", "contacts", {}), []);

        const logs = (await ok(await tenant.request("GET", `/api/plugins/${SLUG}/logs?level=warn`))).logs;
        assert.ok(logs.some((l: any) => /ctx\.db\.insert needs the "db\.write" permission/.test(l.message)), JSON.stringify(logs));
        assert.deepEqual(logs.find((l: any) => l.fields?.method === "db.insert").fields, { method: "db.insert", permission: "db.write" });
        const usage = await ok(await tenant.request("GET", `/api/plugins/${SLUG}/usage`));
        assert.equal(usage.totals["ctx.db.insert:denied"], 1, JSON.stringify(usage.totals));
        assert.equal(usage.totals["ctx.db.update:denied"], 1);
        assert.equal(usage.totals["ctx.db.query:ok"], 1);
        assert.equal(usage.totals["ctx.db.insert:ok"], undefined);
      });

      test("without db.read query and getById are PermissionDenied", async (t) => {
        if (!(await ready(t))) return;
        const tenant = await installed({ permissions: [] });
        await createUser(tenant, "a@x.io");
        const denied = await dbError(tenant, "query", "users", {});
        assert.equal(denied.name, "PermissionDenied");
        assert.match(denied.message, /ctx\.db\.query needs the "db\.read" permission/);
        assert.equal((await dbError(tenant, "getById", "contacts", randomUUID())).name, "PermissionDenied");
        const usage = await ok(await tenant.request("GET", `/api/plugins/${SLUG}/usage`));
        assert.equal(usage.totals["ctx.db.query:denied"], 1);
        assert.equal(usage.totals["ctx.db.getById:denied"], 1);
      });
    });

    describe("isolation", () => {
      test("tenant A's plugin never reads or changes tenant B's documents or users, even with B's ids", async (t) => {
        if (!(await ready(t))) return;
        const a = await installed();
        const b = await installed();
        const bDoc = await db(b, "insert", "contacts", { email: "b@x.io", secret: "b's" });
        const bUser = await createUser(b, "b-user@example.com");
        await createUser(a, "a-user@example.com");

        const outcomes = await calls(a, [
          ["getById", "contacts", bDoc.id],
          ["update", "contacts", bDoc.id, { secret: "stolen" }],
          ["delete", "contacts", bDoc.id],
          ["query", "contacts", {}],
          ["query", "contacts", { id: bDoc.id }],
          ["getById", "users", bUser.id],
          ["query", "users", {}],
        ]);
        const values = outcomes.map((o) => (o.ok ? o.value : o.error));
        assert.deepEqual(values.slice(0, 6), [null, null, false, [], [], null]);
        assert.deepEqual(values[6].map((u: any) => u.email), ["a-user@example.com"]);
        assert.deepEqual(await db(b, "getById", "contacts", bDoc.id), bDoc);
      });

      test("two plugins of one tenant do not see each other's collections", async (t) => {
        if (!(await ready(t))) return;
        const tenant = await installed();
        await ok(await tenant.upload(variant({ slug: "cap-db-other" })), 201);
        const mine = await db(tenant, "insert", "contacts", { email: "same@x.io", owner: SLUG });
        const [theirs] = await calls(tenant, [["insert", "contacts", { email: "same@x.io", owner: "other" }]], "cap-db-other");
        assert.ok(theirs.ok, JSON.stringify(theirs));
        assert.deepEqual((await db(tenant, "query", "contacts", {})).map((d: any) => d.owner), [SLUG]);
        const [seen] = await calls(tenant, [["getById", "contacts", mine.id]], "cap-db-other");
        assert.deepEqual(seen, { ok: true, value: null });
        assert.equal(await db(tenant, "getById", "contacts", theirs.value.id), null);
      });
    });

    describe("lifecycle", () => {
      test("data survives an upgrade and an uninstall + reinstall; ?purge=true removes it and its indexes", async (t) => {
        if (!(await ready(t))) return;
        const tenant = await installed();
        const doc = await db(tenant, "insert", "contacts", { email: "keep@x.io" });

        assert.equal((await ok(await tenant.upload(variant({ version: "1.1.0" })))).previous_version, "1.0.0");
        assert.deepEqual(await db(tenant, "getById", "contacts", doc.id), doc);

        assert.equal((await tenant.request("DELETE", `/api/plugins/${SLUG}`)).status, 204);
        assert.equal((await indexes(tenant)).size, 2, "a plain uninstall keeps the indexes with the data");
        await ok(await tenant.upload(variant({})), 201);
        assert.deepEqual(await db(tenant, "getById", "contacts", doc.id), doc);
        assert.equal((await dbError(tenant, "insert", "contacts", { email: "keep@x.io" })).name, "DuplicateKey");

        assert.equal((await tenant.request("DELETE", `/api/plugins/${SLUG}?purge=true`)).status, 204);
        assert.equal((await indexes(tenant)).size, 0);
        const left = await app!.services.db.sql.query(`SELECT 1 FROM plugin_documents WHERE tenant_id = $1::uuid AND plugin = $2`, [tenant.id, SLUG]);
        assert.equal(left.length, 0);
        await ok(await tenant.upload(variant({})), 201);
        assert.deepEqual(await db(tenant, "query", "contacts", {}), []);
        assert.equal((await indexes(tenant)).size, 2);
      });

      test("an upgrade builds newly declared indexes and drops those no longer declared", async (t) => {
        if (!(await ready(t))) return;
        const tenant = await installed();
        const before = await indexes(tenant);
        await ok(await tenant.upload(variant({ version: "1.1.0", collections: { contacts: { indexes: [{ field: "email", unique: true }, { field: "status" }] } } })));
        const after = await indexes(tenant);
        assert.equal(after.size, 2);
        assert.ok([...after.values()].some((d) => d.includes(`'{status}'`)), JSON.stringify([...after.values()]));
        assert.ok(![...after.values()].some((d) => d.includes("city")));
        const kept = [...before.keys()].filter((k) => after.has(k));
        assert.equal(kept.length, 1, "the unchanged email index is kept, not rebuilt");

        await ok(await tenant.upload(variant({ version: "1.2.0", collections: {} })));
        assert.equal((await indexes(tenant)).size, 0);

        // A rollback brings back the indexes of the version it returns to.
        await ok(await tenant.request("POST", `/api/plugins/${SLUG}/rollback`));
        assert.deepEqual(new Set((await indexes(tenant)).keys()), new Set(after.keys()));
      });

      test("a unique index that stored documents break makes the upload 422 and changes nothing", async (t) => {
        if (!(await ready(t))) return;
        const tenant = await installed({ collections: { contacts: { indexes: [{ field: "address.city" }] } } });
        await db(tenant, "insert", "contacts", { email: "twice@x.io" });
        await db(tenant, "insert", "contacts", { email: "twice@x.io" });
        const before = await indexes(tenant);

        const res = await tenant.upload(
          variant({ version: "1.1.0", collections: { contacts: { indexes: [{ field: "status" }, { field: "email", unique: true }] } } }),
        );
        const body = await expectError(res, 422, "invalid_plugin");
        assert.deepEqual(body.error.details.map((p: any) => p.path), ["collections.contacts.indexes[1].field"]);
        assert.match(body.error.details[0].message, /cannot make "email" unique in collection "contacts": stored documents already share a value/);
        assert.equal((await ok(await tenant.request("GET", `/api/plugins/${SLUG}`))).plugin.version, "1.0.0");
        assert.deepEqual(await indexes(tenant), before, "the index built before the failing one was dropped again");
      });

      test("bad collections in plugin.json are 422 at upload, each at its path", async (t) => {
        if (!(await ready(t))) return;
        const tenant = await app!.tenant();
        const body = await expectError(await tenant.upload(fixtureZip("cap-db-bad-collections")), 422, "invalid_plugin");
        const problems: { path: string; message: string }[] = body.error.details;
        const at = (path: string, fragment: RegExp) =>
          assert.ok(problems.some((p) => p.path === path && fragment.test(p.message)), `no ${fragment} at ${path} in ${JSON.stringify(problems, null, 2)}`);
        at("collections.files", /core tables, not collections/);
        at("collections.Orders", /1-63 characters of a-z, 0-9 and _/);
        at("collections.orders.indexes[0].field", /must be a field like email or address\.city/);
        at("collections.orders.indexes[1].unique", /must be true or false/);
        assert.deepEqual((await ok(await tenant.request("GET", "/api/plugins"))).plugins, []);
      });
    });
  });
}
