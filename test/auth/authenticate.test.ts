import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import express, { type ErrorRequestHandler } from "express";
import jwt from "jsonwebtoken";
import request from "supertest";
import { authenticate, requireRole, requireTenant } from "../../src/auth/authenticate.ts";
import type { AuthTenant } from "../../src/auth/request-auth.ts";
import { signToken, type Claims } from "../../src/auth/tokens.ts";
import { errorToHttp } from "../../src/errors.ts";

const SECRET = "authenticate-test-secret-0123456789";

// Unique slugs per test run, so nothing depends on another test's tenants.
function tenantsFor() {
  const tag = randomUUID().slice(0, 8);
  const acme: AuthTenant = { id: `id-acme-${tag}`, slug: `acme-${tag}`, name: "Acme" };
  const globex: AuthTenant = { id: `id-globex-${tag}`, slug: `globex-${tag}`, name: "Globex" };
  return { acme, globex };
}

function buildApp(tenants: AuthTenant[]) {
  const deps = {
    jwtSecret: SECRET,
    findTenant: async (slug: string) => tenants.find((t) => t.slug === slug) ?? null,
  };
  const app = express();
  const echo: express.RequestHandler = (req, res) => void res.json({ auth: { ...req.auth, tokenError: undefined } });
  app.get("/me", authenticate(deps), echo);
  app.get("/admin", authenticate(deps), requireRole("admin"), echo);
  app.get("/members", authenticate(deps), requireRole("admin", "member"), echo);
  app.get("/platform", authenticate(deps), requireRole("platform_admin"), echo);
  app.get("/tenant-scoped", authenticate(deps), requireTenant, echo);
  app.get("/public", authenticate(deps, { optional: true }), echo);
  app.get("/user-route", authenticate(deps, { optional: true }), requireRole("admin", "member"), echo);
  app.get("/t/:tenant/ext/:plugin/hello", authenticate(deps, { optional: true }), echo);
  app.use("/t/:tenant/secure", authenticate(deps), echo);
  const onError: ErrorRequestHandler = (err, _req, res, _next) => {
    const out = errorToHttp(err);
    res.status(out.status).set(out.headers).json(out.body);
  };
  app.use(onError);
  return app;
}

const bearer = (claims: Claims) => `Bearer ${signToken(claims, SECRET)}`;

function expectError(res: request.Response, status: number, code: string) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(res.headers["content-type"] ?? "", /application\/json/);
  assert.equal(res.body.error.code, code);
  assert.equal(typeof res.body.error.message, "string");
}

describe("authenticate", () => {
  it("answers 401 missing_token as JSON without an Authorization header", async () => {
    const { acme } = tenantsFor();
    const res = await request(buildApp([acme])).get("/me");
    expectError(res, 401, "missing_token");
    assert.equal(res.body.error.message, "An Authorization: Bearer <token> header is required");
  });

  it("answers 401 missing_token for a non-Bearer scheme", async () => {
    const { acme } = tenantsFor();
    const res = await request(buildApp([acme])).get("/me").set("Authorization", "Basic dXNlcjpwdw==");
    expectError(res, 401, "missing_token");
  });

  it("accepts a valid token, case-insensitive scheme, and resolves the token's tenant", async () => {
    const { acme } = tenantsFor();
    const token = signToken({ sub: "u1", tenant: acme.slug, role: "member" }, SECRET);
    const res = await request(buildApp([acme])).get("/me").set("Authorization", `bEaReR ${token}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.auth, { userId: "u1", role: "member", tenant: acme });
  });

  it("answers 401 invalid_token for a bad token and for an alg:none token", async () => {
    const { acme } = tenantsFor();
    const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const none = `${part({ alg: "none", typ: "JWT" })}.${part({ sub: "u", tenant: acme.slug, role: "admin" })}.`;
    for (const token of ["not.a.token", none]) {
      const res = await request(buildApp([acme])).get("/me").set("Authorization", `Bearer ${token}`);
      expectError(res, 401, "invalid_token");
    }
  });

  it("answers 401 invalid_token with the expiry message for an expired token", async () => {
    const { acme } = tenantsFor();
    const token = jwt.sign({ sub: "u", tenant: acme.slug, role: "admin", exp: Math.floor(Date.now() / 1000) - 5 }, SECRET);
    const res = await request(buildApp([acme])).get("/me").set("Authorization", `Bearer ${token}`);
    expectError(res, 401, "invalid_token");
    assert.equal(res.body.error.message, "The token has expired");
  });

  it("answers 401 invalid_token saying so for a token without exp (it would never expire)", async () => {
    const { acme } = tenantsFor();
    const token = jwt.sign({ sub: "u", tenant: acme.slug, role: "admin" }, SECRET);
    const res = await request(buildApp([acme])).get("/me").set("Authorization", `Bearer ${token}`);
    expectError(res, 401, "invalid_token");
    assert.match(res.body.error.message, /^The token has no expiry \(exp claim\)/);
  });

  it("answers 403 tenant_mismatch when X-Tenant-Slug names another tenant", async () => {
    const { acme, globex } = tenantsFor();
    const res = await request(buildApp([acme, globex]))
      .get("/me")
      .set("Authorization", bearer({ sub: "u", tenant: acme.slug, role: "admin" }))
      .set("X-Tenant-Slug", globex.slug);
    expectError(res, 403, "tenant_mismatch");
  });

  it("accepts X-Tenant-Slug equal to the token's tenant", async () => {
    const { acme } = tenantsFor();
    const res = await request(buildApp([acme]))
      .get("/me")
      .set("Authorization", bearer({ sub: "u", tenant: acme.slug, role: "admin" }))
      .set("X-Tenant-Slug", acme.slug);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.auth.tenant, acme);
  });

  it("lets a platform_admin act on any existing tenant", async () => {
    const { acme, globex } = tenantsFor();
    const app = buildApp([acme, globex]);
    for (const t of [acme, globex]) {
      const res = await request(app)
        .get("/admin")
        .set("Authorization", bearer({ sub: "platform", role: "platform_admin" }))
        .set("X-Tenant-Slug", t.slug);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.auth, { userId: "platform", role: "platform_admin", tenant: t });
    }
  });

  it("answers 404 tenant_not_found for a platform_admin naming an unknown tenant", async () => {
    const { acme } = tenantsFor();
    const res = await request(buildApp([acme]))
      .get("/me")
      .set("Authorization", bearer({ sub: "platform", role: "platform_admin" }))
      .set("X-Tenant-Slug", "no-such-tenant");
    expectError(res, 404, "tenant_not_found");
  });

  it("answers 401 invalid_token when the token's own tenant no longer exists", async () => {
    const res = await request(buildApp([]))
      .get("/me")
      .set("Authorization", bearer({ sub: "u", tenant: "deleted-tenant", role: "admin" }));
    expectError(res, 401, "invalid_token");
    assert.equal(res.body.error.message, "The token's tenant no longer exists");
  });

  it("takes the tenant from the :tenant route parameter, also when mounted with app.use", async () => {
    const { acme, globex } = tenantsFor();
    const app = buildApp([acme, globex]);
    const auth = bearer({ sub: "u", tenant: acme.slug, role: "member" });
    const ok = await request(app).get(`/t/${acme.slug}/secure/x`).set("Authorization", auth);
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.auth.tenant, acme);
    const other = await request(app).get(`/t/${globex.slug}/secure/x`).set("Authorization", auth);
    expectError(other, 403, "tenant_mismatch");
  });

  it("answers 403 tenant_mismatch when the header and the URL name different tenants", async () => {
    const { acme, globex } = tenantsFor();
    const res = await request(buildApp([acme, globex]))
      .get(`/t/${acme.slug}/secure/x`)
      .set("Authorization", bearer({ sub: "platform", role: "platform_admin" }))
      .set("X-Tenant-Slug", globex.slug);
    expectError(res, 403, "tenant_mismatch");
  });
});

describe("requireRole / requireTenant", () => {
  it("answers 403 forbidden to a member on an admin route", async () => {
    const { acme } = tenantsFor();
    const res = await request(buildApp([acme]))
      .get("/admin")
      .set("Authorization", bearer({ sub: "u", tenant: acme.slug, role: "member" }));
    expectError(res, 403, "forbidden");
  });

  it("lets admin and member through a route listing both, but not a platform-only route", async () => {
    const { acme } = tenantsFor();
    const app = buildApp([acme]);
    for (const role of ["admin", "member"] as const) {
      const auth = bearer({ sub: "u", tenant: acme.slug, role });
      assert.equal((await request(app).get("/members").set("Authorization", auth)).status, 200);
      expectError(await request(app).get("/platform").set("Authorization", auth), 403, "forbidden");
    }
  });

  it("answers 403 forbidden to a platform_admin without a tenant where one is needed", async () => {
    const { acme } = tenantsFor();
    const app = buildApp([acme]);
    const auth = bearer({ sub: "platform", role: "platform_admin" });
    const res = await request(app).get("/tenant-scoped").set("Authorization", auth);
    expectError(res, 403, "forbidden");
    assert.match(res.body.error.message, /X-Tenant-Slug/);
    const withTenant = await request(app).get("/tenant-scoped").set("Authorization", auth).set("X-Tenant-Slug", acme.slug);
    assert.equal(withTenant.status, 200);
    assert.deepEqual(withTenant.body.auth.tenant, acme);
  });
});

describe("authenticate, optional mode (public plugin routes)", () => {
  it("lets a request without a token through as anonymous, tenant from the header", async () => {
    const { acme } = tenantsFor();
    const res = await request(buildApp([acme])).get("/public").set("X-Tenant-Slug", acme.slug);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.auth, { role: "anonymous", tenant: acme });
  });

  it("takes the tenant from /t/:tenant/ext/... and 404s an unknown one", async () => {
    const { acme } = tenantsFor();
    const app = buildApp([acme]);
    const ok = await request(app).get(`/t/${acme.slug}/ext/hooks/hello`);
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.auth, { role: "anonymous", tenant: acme });
    expectError(await request(app).get("/t/nobody-here/ext/hooks/hello"), 404, "tenant_not_found");
  });

  it("has no tenant when none is named", async () => {
    const res = await request(buildApp([])).get("/public");
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.auth, { role: "anonymous" });
  });

  it("still authenticates a valid token", async () => {
    const { acme } = tenantsFor();
    const res = await request(buildApp([acme]))
      .get("/public")
      .set("Authorization", bearer({ sub: "u9", tenant: acme.slug, role: "member" }));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.auth, { userId: "u9", role: "member", tenant: acme });
  });

  it("treats a foreign Authorization header (a third party's own secret) as anonymous", async () => {
    const { acme } = tenantsFor();
    const app = buildApp([acme]);
    for (const header of ["Basic dXNlcjpwdw==", "Bearer third-party-shared-secret"]) {
      const res = await request(app).get("/public").set("Authorization", header).set("X-Tenant-Slug", acme.slug);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.auth, { role: "anonymous", tenant: acme });
    }
  });

  it("on a non-public route reports why the token failed, or that it is missing", async () => {
    const { acme } = tenantsFor();
    const app = buildApp([acme]);
    const expired = jwt.sign({ sub: "u", tenant: acme.slug, role: "admin", exp: Math.floor(Date.now() / 1000) - 5 }, SECRET);
    const res = await request(app).get("/user-route").set("Authorization", `Bearer ${expired}`);
    expectError(res, 401, "invalid_token");
    assert.equal(res.body.error.message, "The token has expired");
    expectError(await request(app).get("/user-route").set("X-Tenant-Slug", acme.slug), 401, "missing_token");
  });
});
