import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import jwt from "jsonwebtoken";
import { signToken } from "../../src/auth/tokens.ts";
import { fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";
import { expectError, json, ok } from "../support/http-assert.ts";

// Who may call what, over real HTTP: tokens, roles, X-Tenant-Slug, and tenant isolation.

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app.close());

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

const listPlugins = (t: TestTenant, token: string | null) => t.request("GET", "/api/plugins", { token });

describe("tokens", () => {
  test("no token is 401 missing_token", async () => {
    const t = await app.tenant();
    await expectError(await listPlugins(t, null), 401, "missing_token");
    await expectError(await fetch(`${app.url}/api/plugins`), 401, "missing_token");
    await expectError(await fetch(`${app.url}/api/tenants`, { method: "POST" }), 401, "missing_token");
    // A non-Bearer scheme is not a token either.
    await expectError(await t.request("GET", "/api/plugins", { token: null, headers: { authorization: "Basic dXNlcjpwYXNz" } }), 401, "missing_token");
  });

  test("a garbage token is 401 invalid_token", async () => {
    const t = await app.tenant();
    for (const garbage of ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", "x".repeat(9000)]) {
      await expectError(await listPlugins(t, garbage), 401, "invalid_token");
    }
  });

  test("an alg:none token is 401 invalid_token", async () => {
    const t = await app.tenant();
    const claims = { sub: "mallory", tenant: t.slug, role: "admin", iat: Math.floor(Date.now() / 1000) };
    for (const alg of ["none", "None", "NONE"]) {
      const unsigned = `${b64url({ alg, typ: "JWT" })}.${b64url(claims)}.`;
      await expectError(await listPlugins(t, unsigned), 401, "invalid_token");
    }
  });

  test("a token signed with another algorithm or another key is 401 invalid_token", async () => {
    const t = await app.tenant();
    const claims = { sub: "mallory", tenant: t.slug, role: "admin" };
    await expectError(await listPlugins(t, jwt.sign(claims, app.config.jwtSecret, { algorithm: "HS512" })), 401, "invalid_token");
    await expectError(await listPlugins(t, jwt.sign(claims, "not-the-server-secret-0123456789", { algorithm: "HS256" })), 401, "invalid_token");
    // Right key, wrong claims.
    await expectError(await listPlugins(t, jwt.sign({ sub: "x", tenant: t.slug, role: "owner" }, app.config.jwtSecret)), 401, "invalid_token");
    await expectError(await listPlugins(t, jwt.sign({ sub: "x", role: "admin" }, app.config.jwtSecret)), 401, "invalid_token");
  });

  test("an expired token is 401 invalid_token and says so", async () => {
    const t = await app.tenant();
    const expired = jwt.sign({ sub: "admin-user", tenant: t.slug, role: "admin", exp: Math.floor(Date.now() / 1000) - 60 }, app.config.jwtSecret, {
      algorithm: "HS256",
    });
    const body = await expectError(await listPlugins(t, expired), 401, "invalid_token");
    assert.equal(body.error.message, "The token has expired");
  });

  test("a token of a tenant that does not exist is 401 invalid_token", async () => {
    const slug = `gone-${randomBytes(4).toString("hex")}`;
    const token = signToken({ sub: "admin-user", tenant: slug, role: "admin" }, app.config.jwtSecret);
    await expectError(await fetch(`${app.url}/api/plugins`, { headers: { authorization: `Bearer ${token}` } }), 401, "invalid_token");
  });

  test("the token's own tenant is used when X-Tenant-Slug is absent", async () => {
    const t = await app.tenant();
    await ok(await t.upload(fixtureZip("api-admin")), 201);
    const body = await ok(await fetch(`${app.url}/api/plugins`, { headers: { authorization: `Bearer ${t.admin}` } }));
    assert.deepEqual(body.plugins.map((p: any) => p.slug), ["api-admin"]);
  });

  test("X-Tenant-Slug naming another tenant is 403 tenant_mismatch", async () => {
    const a = await app.tenant();
    const b = await app.tenant();
    await expectError(await a.request("GET", "/api/plugins", { headers: { "x-tenant-slug": b.slug } }), 403, "tenant_mismatch");
    await expectError(await a.request("GET", "/api/plugins", { headers: { "x-tenant-slug": "no-such-tenant" } }), 403, "tenant_mismatch");
    await expectError(await a.upload(fixtureZip("api-admin"), b.admin), 403, "tenant_mismatch");
    assert.deepEqual((await ok(await a.request("GET", "/api/plugins"))).plugins, []);
  });
});

describe("tenants (platform_admin)", () => {
  const createTenant = (token: string, body: unknown) =>
    fetch(`${app.url}/api/tenants`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  test("platform_admin creates a tenant: 201; the same slug again is 409 tenant_exists", async () => {
    const slug = `acme-${randomBytes(4).toString("hex")}`;
    const created = await ok(await createTenant(app.platformToken(), { slug, name: "Acme Inc." }), 201);
    assert.equal(created.tenant.slug, slug);
    assert.equal(created.tenant.name, "Acme Inc.");
    assert.match(created.tenant.id, /^[0-9a-f-]{36}$/);
    assert.ok(!Number.isNaN(Date.parse(created.tenant.created_at)));

    const dup = await expectError(await createTenant(app.platformToken(), { slug, name: "Another" }), 409, "tenant_exists");
    assert.match(dup.error.message, new RegExp(slug));

    // The new tenant works at once: its admin can list (no) plugins.
    const admin = signToken({ sub: "first-admin", tenant: slug, role: "admin" }, app.config.jwtSecret);
    const list = await ok(await fetch(`${app.url}/api/plugins`, { headers: { authorization: `Bearer ${admin}`, "x-tenant-slug": slug } }));
    assert.deepEqual(list, { plugins: [] });
  });

  test("a bad slug or body is 400 invalid_request", async () => {
    const bad = await expectError(await createTenant(app.platformToken(), { slug: "Bad Slug!", name: "x" }), 400, "invalid_request");
    assert.deepEqual(bad.error.details.map((d: any) => d.path), ["slug"]);
    const noName = await expectError(await createTenant(app.platformToken(), { slug: `ok-${randomBytes(3).toString("hex")}` }), 400, "invalid_request");
    assert.deepEqual(noName.error.details.map((d: any) => d.path), ["name"]);
    await expectError(await createTenant(app.platformToken(), ["acme", "Acme"]), 400, "invalid_request");
  });

  test("a tenant admin or member may not create tenants: 403 forbidden", async () => {
    const t = await app.tenant();
    const slug = `nope-${randomBytes(4).toString("hex")}`;
    await expectError(await createTenant(t.admin, { slug, name: "Nope" }), 403, "forbidden");
    await expectError(await createTenant(t.member, { slug, name: "Nope" }), 403, "forbidden");
    const exists = await app.services.db.prisma.tenant.findUnique({ where: { slug } });
    assert.equal(exists, null);
  });

  test("platform_admin acts on a tenant named by X-Tenant-Slug; without one it is 403, an unknown one 404", async () => {
    const t = await app.tenant();
    await ok(await t.upload(fixtureZip("api-admin")), 201);
    const pa = app.platformToken();
    const list = await ok(await t.request("GET", "/api/plugins", { token: pa }));
    assert.deepEqual(list.plugins.map((p: any) => p.slug), ["api-admin"]);
    await expectError(await fetch(`${app.url}/api/plugins`, { headers: { authorization: `Bearer ${pa}` } }), 403, "forbidden");
    await expectError(
      await fetch(`${app.url}/api/plugins`, { headers: { authorization: `Bearer ${pa}`, "x-tenant-slug": `missing-${randomBytes(4).toString("hex")}` } }),
      404,
      "tenant_not_found",
    );
  });
});

describe("tenant isolation", () => {
  async function twoTenants() {
    const a = await app.tenant("a");
    const b = await app.tenant("b");
    const up = await ok(await a.upload(fixtureZip("api-admin")), 201);
    assert.equal((await a.request("PUT", "/api/plugins/api-admin/secrets/API_KEY", { json: { value: "a-tenant-secret" } })).status, 204);
    return { a, b, aId: up.plugin.id as string };
  }

  test("B's admin cannot see or change A's install by id: 404 plugin_not_found", async () => {
    const { a, b, aId } = await twoTenants();
    await expectError(await b.request("GET", `/api/plugins/${aId}`), 404, "plugin_not_found");
    await expectError(await b.request("POST", `/api/plugins/${aId}/disable`), 404, "plugin_not_found");
    await expectError(await b.request("POST", `/api/plugins/${aId}/enable`), 404, "plugin_not_found");
    await expectError(await b.request("POST", `/api/plugins/${aId}/rollback`), 404, "plugin_not_found");
    await expectError(await b.request("PUT", `/api/plugins/${aId}/config`, { json: { limit: 1 } }), 404, "plugin_not_found");
    await expectError(await b.request("GET", `/api/plugins/${aId}/logs`), 404, "plugin_not_found");
    await expectError(await b.request("DELETE", `/api/plugins/${aId}`), 404, "plugin_not_found");
    assert.deepEqual((await ok(await b.request("GET", "/api/plugins"))).plugins, []);

    const still = await ok(await a.request("GET", `/api/plugins/${aId}`));
    assert.equal(still.plugin.status, "enabled");
    assert.deepEqual(still.plugin.config, {});
  });

  test("B cannot read, set or delete A's secrets", async () => {
    const { a, b, aId } = await twoTenants();
    const list = await b.request("GET", `/api/plugins/${aId}/secrets`);
    const text = await list.text();
    assert.equal(list.status, 404);
    assert.equal(JSON.parse(text).error.code, "plugin_not_found");
    assert.ok(!text.includes("a-tenant-secret"));
    await expectError(await b.request("PUT", `/api/plugins/${aId}/secrets/API_KEY`, { json: { value: "from-b" } }), 404, "plugin_not_found");
    await expectError(await b.request("DELETE", `/api/plugins/${aId}/secrets/API_KEY`), 404, "plugin_not_found");
    assert.deepEqual(await ok(await a.request("GET", "/ext/api-admin/secret")), { api_key: "a-tenant-secret" });
  });

  test("B cannot call A's plugin routes: /ext is 404, /t/<A>/ext is 403 tenant_mismatch", async () => {
    const { a, b } = await twoTenants();
    await expectError(await b.request("GET", "/ext/api-admin/secret"), 404, "plugin_not_found");
    await expectError(await fetch(`${app.url}/ext/api-admin/secret`, { headers: { authorization: `Bearer ${b.admin}` } }), 404, "plugin_not_found");
    await expectError(await fetch(`${app.url}/t/${a.slug}/ext/api-admin/secret`, { headers: { authorization: `Bearer ${b.admin}` } }), 403, "tenant_mismatch");
    await expectError(await fetch(`${app.url}/t/${a.slug}/ext/api-admin/secret`, { headers: { authorization: `Bearer ${b.member}` } }), 403, "tenant_mismatch");
    await expectError(await b.request("GET", `/t/${a.slug}/ext/api-admin/secret`), 403, "tenant_mismatch");
    // A's own caller is served through the same URL.
    assert.deepEqual(await ok(await fetch(`${app.url}/t/${a.slug}/ext/api-admin/secret`, { headers: { authorization: `Bearer ${a.member}` } })), {
      api_key: "a-tenant-secret",
    });
  });

  test("the same slug in two tenants is two installs with their own secrets", async () => {
    const { a, b, aId } = await twoTenants();
    const bUp = await ok(await b.upload(fixtureZip("api-admin")), 201);
    assert.notEqual(bUp.plugin.id, aId);
    assert.deepEqual(await ok(await b.request("GET", "/ext/api-admin/secret")), { api_key: null });
    assert.equal((await b.request("PUT", "/api/plugins/api-admin/secrets/API_KEY", { json: { value: "b-tenant-secret" } })).status, 204);
    assert.deepEqual(await ok(await b.request("GET", "/ext/api-admin/secret")), { api_key: "b-tenant-secret" });
    assert.deepEqual(await ok(await a.request("GET", "/ext/api-admin/secret")), { api_key: "a-tenant-secret" });
    assert.equal((await b.request("DELETE", "/api/plugins/api-admin")).status, 204);
    assert.deepEqual(await ok(await a.request("GET", "/ext/api-admin/secret")), { api_key: "a-tenant-secret" });
    await expectError(await b.request("GET", `/api/plugins/${bUp.plugin.id}`), 404, "plugin_not_found");
    assert.equal((await ok(await a.request("GET", `/api/plugins/${aId}`))).plugin.status, "enabled");
  });
});
