import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { signToken } from "../../src/auth/tokens.ts";
import { expectError, ok } from "../support/http-assert.ts";
import { startTestApp, type TestApp } from "../support/test-app.ts";

// GET /api/me: what the admin UI asks first with a pasted token — the role, the token's sub,
// and the tenant the request acts on.

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app.close());

const me = (headers: Record<string, string> = {}) => fetch(`${app.url}/api/me`, { headers });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("GET /api/me", () => {
  test("an admin gets its role, sub and tenant, with or without X-Tenant-Slug", async () => {
    const t = await app.tenant("me");
    const expected = { role: "admin", user_id: "admin-user", tenant: { id: t.id, slug: t.slug, name: t.slug } };
    assert.deepEqual(await ok(await t.request("GET", "/api/me")), expected);
    // The UI may hold only the token: the tenant then comes from the token itself.
    assert.deepEqual(await ok(await me(bearer(t.admin))), expected);
  });

  test("a member gets the same shape with role member", async () => {
    const t = await app.tenant("me");
    assert.deepEqual(await ok(await t.request("GET", "/api/me", { token: t.member })), {
      role: "member",
      user_id: "member-user",
      tenant: { id: t.id, slug: t.slug, name: t.slug },
    });
  });

  test("a platform_admin has no tenant unless it names one with X-Tenant-Slug", async () => {
    const t = await app.tenant("me");
    const platform = signToken({ sub: "ops-7", role: "platform_admin" }, app.config.jwtSecret);
    assert.deepEqual(await ok(await me(bearer(platform))), { role: "platform_admin", user_id: "ops-7", tenant: null });
    assert.deepEqual(await ok(await me({ ...bearer(platform), "x-tenant-slug": t.slug })), {
      role: "platform_admin",
      user_id: "ops-7",
      tenant: { id: t.id, slug: t.slug, name: t.slug },
    });
    await expectError(await me({ ...bearer(platform), "x-tenant-slug": "no-such-tenant" }), 404, "tenant_not_found");
  });

  test("no token is 401 missing_token; a bad one is 401 invalid_token", async () => {
    await expectError(await me(), 401, "missing_token");
    await expectError(await me({ authorization: "Basic dXNlcjpwYXNz" }), 401, "missing_token");
    await expectError(await me(bearer("not.a.jwt")), 401, "invalid_token");
    const t = await app.tenant("me");
    const otherKey = signToken({ sub: "mallory", tenant: t.slug, role: "admin" }, "not-the-server-secret-0123456789");
    await expectError(await me(bearer(otherKey)), 401, "invalid_token");
  });

  test("a tenant token naming another tenant is 403 tenant_mismatch", async () => {
    const t = await app.tenant("me");
    const other = await app.tenant("me");
    await expectError(await me({ ...bearer(t.admin), "x-tenant-slug": other.slug }), 403, "tenant_mismatch");
    await expectError(await me({ ...bearer(t.member), "x-tenant-slug": other.slug }), 403, "tenant_mismatch");
  });
});
